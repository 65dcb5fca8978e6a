package dev.prefstream.audit;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.stream.DpoLearner;
import dev.prefstream.trainer.stream.Learner;
import dev.prefstream.trainer.stream.PairSelection;
import dev.prefstream.trainer.stream.StreamingTrainer;
import dev.prefstream.trainer.stream.TrainerConfig;
import dev.prefstream.trainer.stream.TrainerListener;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Audits of versions trained with an unpaired loss (kto): every version, whose batches hold thumbs
 * of the unpaired topic and pairs split into two examples, replays bit for bit from both topics;
 * verify holds; trace gives a thumb the version that trained it.
 */
class UnpairedAuditIT {
  private static final String MODEL = "kaudited";
  private static final double HOLDOUT = 20.0;

  @TempDir static Path dir;
  static EmbeddedStack stack;
  static RestSchemaRegistry registry;
  static Topics topics;
  static Path modelDir;
  static int expectedTrained;

  @BeforeAll
  static void buildHistory() throws Exception {
    stack = EmbeddedStack.start(dir.resolve("stack"));
    registry = new RestSchemaRegistry(stack.registryUrl());
    modelDir = dir.resolve("model");
    ModelInit.write(
        modelDir, ModelInit.Spec.builder("llama").optSeed(5).optMaxPositions(128).build());
    topics = new Topics("kaudit.");
    try (Admin admin = Admin.create(client())) {
      TopicAdmin.ensure(admin, topics.all(1), (short) -1);
    }
    Map<String, Object> settings = new HashMap<>();
    settings.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
    settings.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
    settings.put(CommonConfig.TOPIC_PREFIX_CONFIG, topics.prefix());
    settings.put(TrainerConfig.ID_CONFIG, "t-kaudit");
    settings.put(TrainerConfig.MODEL_DIR_CONFIG, modelDir.toString());
    settings.put(Recipe.LOSS_CONFIG, "kto");
    settings.put(Recipe.BATCH_SIZE_CONFIG, 4);
    settings.put(Recipe.MAX_LENGTH_CONFIG, 64);
    settings.put(Recipe.LORA_DROPOUT_CONFIG, 0.1);
    settings.put(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG, 2);
    settings.put(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG, 1_000);
    settings.put(TrainerConfig.PUBLISH_EVERY_MS_CONFIG, 1_000);
    settings.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, HOLDOUT);
    // every other version keeps a snapshot: replay of the others goes through their parent
    settings.put(TrainerConfig.SNAPSHOT_EVERY_VERSIONS_CONFIG, 2);
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings))) {
      StreamingTrainer trainer =
          new StreamingTrainer(
              new TrainerConfig(settings), registry, learners, TrainerListener.NONE);
      Thread thread = new Thread(trainer, "trainer-under-test");
      thread.start();
      try {
        produce();
        awaitTrained(expectedTrained);
      } finally {
        trainer.close();
        thread.join(Duration.ofSeconds(30).toMillis());
      }
    }
  }

  @AfterAll
  static void stop() {
    if (stack != null) {
      stack.close();
    }
  }

  @Test
  void everyKtoVersionReplaysBitForBitFromBothTopics() {
    Audit audit = new Audit(client(), topics, registry, HOLDOUT);
    ModelHistory history = audit.history(MODEL);
    assertThat(history.manifests()).hasSizeGreaterThan(2);
    assertThat(
            history.manifests().stream()
                .flatMap(m -> m.getLineage().stream())
                .map(OffsetRange::getTopic)
                .distinct())
        .containsExactlyInAnyOrder(topics.pairs(), topics.unpaired());
    try (Replayer replayer =
        new Replayer(
            history, audit.pairs(), audit.snapshots(MODEL), modelDir, Map.of(), Set.of())) {
      for (AdapterManifest m : history.manifests()) {
        Replayer.Result r = replayer.replay(m.getVersion());
        assertThat(r.problems()).as("v" + m.getVersion()).isEmpty();
        assertThat(r.identical()).as("v" + m.getVersion() + " replays bit for bit").isTrue();
      }
    }
    Verifier.Report report = Verifier.verify(history, Verifier.SignatureCheck.NONE);
    assertThat(report.ok()).as(report.toString()).isTrue();
  }

  @Test
  void traceGivesATrainedThumbItsVersion() {
    Audit audit = new Audit(client(), topics, registry, HOLDOUT);
    PairSelection split = new PairSelection(HOLDOUT);
    for (int i = 0; i < 30; i++) {
      JsonNode trace = audit.traceEvent(MODEL + "-u" + i);
      JsonNode thumb = trace.get("unpaired").get(0);
      if (split.heldOut(thumb(i))) {
        assertThat(thumb.get("fate").asText()).isIn("held_out", "not_yet_trained");
        continue;
      }
      assertThat(thumb.get("fate").asText()).as("thumb " + i).isEqualTo("trained");
      long version = thumb.get("version").asLong();
      AdapterManifest m = audit.history(MODEL).manifest(version).orElseThrow();
      long offset = thumb.get("offset").asLong();
      assertThat(m.getBatches())
          .anyMatch(
              b ->
                  b.getRanges().stream()
                      .anyMatch(
                          r ->
                              r.getTopic().equals(topics.unpaired())
                                  && r.getFromOffset() <= offset
                                  && offset < r.getToOffset()));
    }
  }

  static Map<String, Object> client() {
    return Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
  }

  private static UnpairedFeedback thumb(int i) {
    String thing = List.of("tea", "rain", "jazz", "maps").get(i % 4);
    boolean up = i % 3 != 0;
    return UnpairedFeedback.newBuilder()
        .setFeedbackId(Sha256.hex(MODEL + "/thumb/" + i))
        .setModelId(MODEL)
        .setPrompt("What about " + thing + "?")
        .setResponse((up ? "I love " : "I hate ") + thing + ".")
        .setDesirable(up)
        .setEventIds(List.of(MODEL + "-u" + i))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
        .setUserKeys(List.of("user-" + (i % 5)))
        .build();
  }

  private static PreferencePair pair(int i) {
    String thing = List.of("tea", "rain", "jazz", "maps").get(i % 4);
    return PreferencePair.newBuilder()
        .setPairId(Sha256.hex(MODEL + "/pair/" + i))
        .setModelId(MODEL)
        .setPrompt("Which about " + thing + "?")
        .setChosen("I love " + thing + ".")
        .setRejected("I hate " + thing + ".")
        .setKind(FeedbackKind.PAIRWISE)
        .setEventIds(List.of(MODEL + "-p" + i))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
        .build();
  }

  /** 30 thumbs and 16 pairs, interleaved, and one unreadable thumb. */
  static void produce() {
    ConfluentAvro<PreferencePair> pairs = new ConfluentAvro<>(PreferencePair.class, registry, true);
    ConfluentAvro<UnpairedFeedback> thumbs =
        new ConfluentAvro<>(UnpairedFeedback.class, registry, true);
    PairSelection split = new PairSelection(HOLDOUT);
    Map<String, Object> props = new HashMap<>(client());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      int p = 0;
      for (int i = 0; i < 30; i++) {
        UnpairedFeedback u = thumb(i);
        producer.send(
            new ProducerRecord<>(
                topics.unpaired(),
                MODEL,
                thumbs.encode(ConfluentAvro.subject(topics.unpaired(), false), u)));
        expectedTrained += split.heldOut(u) ? 0 : 1;
        if (i == 12) {
          producer.send(new ProducerRecord<>(topics.unpaired(), MODEL, new byte[] {9, 9, 9}));
        }
        if (i % 2 == 0 && p < 16) {
          PreferencePair pair = pair(p++);
          producer.send(
              new ProducerRecord<>(
                  topics.pairs(),
                  MODEL,
                  pairs.encode(ConfluentAvro.subject(topics.pairs(), false), pair)));
          expectedTrained += split.heldOut(pair) ? 0 : 1;
        }
      }
    }
  }

  static void awaitTrained(int records) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    int trained = 0;
    while (System.nanoTime() < deadline) {
      trained =
          AdapterLog.read(client(), topics, registry, MODEL, null).versions().stream()
              .mapToInt(AdapterManifest::getPairs)
              .sum();
      if (trained >= records) {
        return;
      }
      Thread.sleep(500);
    }
    throw new AssertionError("trained " + trained + " of " + records + " records");
  }
}
