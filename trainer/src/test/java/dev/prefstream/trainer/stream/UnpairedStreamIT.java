package dev.prefstream.trainer.stream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PartitionPosition;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainingBatch;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.recipe.Recipe;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Thumbs up/down in the stream: a model with an unpaired loss (kto) trains its records of {@code
 * unpaired} and its pairs (each split into a desirable and an undesirable example) in one version
 * sequence whose lineage covers both topics, exactly once, across restarts. Real broker, registry
 * and DJL learner.
 */
class UnpairedStreamIT {
  @TempDir static Path dir;
  static EmbeddedStack stack;
  static StreamingHarness harness;
  static final List<String> THINGS = List.of("tea", "rain", "jazz", "maps", "cats", "snow");

  @BeforeAll
  static void start() throws Exception {
    stack = EmbeddedStack.start(dir.resolve("stack"));
    Path model = dir.resolve("model");
    ModelInit.write(model, ModelInit.Spec.builder("llama").optSeed(5).optMaxPositions(128).build());
    harness = new StreamingHarness(stack, model);
  }

  @AfterAll
  static void stop() {
    stack.close();
  }

  private static Map<String, Object> kto(Topics topics, String trainerId) {
    Map<String, Object> settings = harness.trainerSettings(topics, trainerId);
    settings.put(Recipe.LOSS_CONFIG, "kto");
    return settings;
  }

  @Test
  void aKtoModelTrainsThumbsAndPairsIntoOneVersionSequenceCoveringBothTopicsOnce()
      throws Exception {
    Topics topics = harness.topics("kto.");
    Map<String, Object> settings = kto(topics, "t-kto");
    settings.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 10.0);
    HoldoutSplit split = new HoldoutSplit(10.0);
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer = harness.start(settings, learners);
        Records records = new Records(topics, "k")) {
      records.thumbs(0, 15);
      records.pairs(0, 10);
      records.thumbs(15, 15);
      records.raw(topics.unpaired(), new byte[] {9, 9, 9, 9, 9, 9}); // unreadable
      records.pairs(10, 10);
      records.raw(topics.unpaired(), new byte[0]); // unreadable
      records.thumbs(30, 6);
      records.endWithTrainedRecords(split);
      long pairEnd = records.end(topics.pairs());
      long unpairedEnd = records.end(topics.unpaired());

      AdapterLog log =
          awaitCoverage(
              topics, "k", Map.of(topics.pairs(), pairEnd, topics.unpaired(), unpairedEnd));
      assertThat(trainer.failure()).isNull();

      // one version sequence
      long expected = 1;
      for (AdapterManifest v : log.versions()) {
        assertThat(v.getVersion()).isEqualTo(expected);
        assertThat(v.getParentVersion()).isEqualTo(expected == 1 ? null : expected - 1);
        expected++;
      }
      // every offset of both topics lies in exactly one version's (or refusal's) lineage
      Map<String, TreeSet<Long>> covered = coveredOncePerTopic(log);
      assertThat(covered.get(topics.pairs())).hasSize((int) pairEnd).contains(0L, pairEnd - 1);
      assertThat(covered.get(topics.unpaired()))
          .hasSize((int) unpairedEnd)
          .contains(0L, unpairedEnd - 1);
      // batches: inside the lineage, the trained records = all minus held out and dead letters
      int trained = 0;
      for (AdapterManifest v : log.versions()) {
        int inVersion = 0;
        for (TrainingBatch b : v.getBatches()) {
          assertThat(b.getStatus()).isEqualTo(BatchStatus.APPLIED);
          inVersion += b.getPairs();
          for (OffsetRange r : b.getRanges()) {
            assertThat(
                    v.getLineage().stream()
                        .anyMatch(
                            l ->
                                l.getTopic().equals(r.getTopic())
                                    && l.getFromOffset() <= r.getFromOffset()
                                    && r.getToOffset() <= l.getToOffset()))
                .as("v" + v.getVersion() + "'s batch " + r + " inside its lineage")
                .isTrue();
          }
        }
        assertThat(v.getPairs()).isEqualTo(inVersion);
        assertThat(v.getMetrics()).containsKeys("loss", "kl");
        trained += inVersion;
      }
      int heldOut = records.heldOut(split);
      assertThat(heldOut).as("the split holds some records of each kind out").isPositive();
      assertThat(trained)
          .as("every readable, not held-out record of both topics trained once")
          .isEqualTo(records.readable() - heldOut);

      List<Rejection> dead = deadLetters(topics);
      assertThat(dead)
          .extracting(Rejection::getSourceTopic, Rejection::getReason, Rejection::getStage)
          .containsExactly(
              org.assertj.core.groups.Tuple.tuple(topics.unpaired(), "bad_magic_byte", "trainer"),
              org.assertj.core.groups.Tuple.tuple(topics.unpaired(), "empty_value", "trainer"));

      // the state and the group's offsets: both topics, through their ends
      TrainerStateReader.Restored state =
          TrainerStateReader.read(harness.client(), topics, harness.registry, Set.of("k")).get("k");
      assertThat(state.state().getPositions())
          .extracting(PartitionPosition::getTopic, PartitionPosition::getNextOffset)
          .containsExactly(
              org.assertj.core.groups.Tuple.tuple(topics.pairs(), pairEnd),
              org.assertj.core.groups.Tuple.tuple(topics.unpaired(), unpairedEnd));
      assertThat(
              awaitCommitted(
                  "t-kto", Map.of(topics.pairs(), pairEnd, topics.unpaired(), unpairedEnd)))
          .containsEntry(new TopicPartition(topics.pairs(), 0), pairEnd)
          .containsEntry(new TopicPartition(topics.unpaired(), 0), unpairedEnd);
    }
  }

  @Test
  void aRestartInTheMiddleTrainsEveryThumbOnceAndEndsWithTheUninterruptedWeights()
      throws Exception {
    Map<String, String> sha = new HashMap<>();
    for (String run : List.of("calm", "restart")) {
      Topics topics = harness.topics("again-" + run + ".");
      Map<String, Object> settings = kto(topics, "t-again-" + run);
      settings.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 0.0);
      settings.put(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG, 0); // full batches only: by offsets
      settings.put(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG, 2);
      try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings));
          Records records = new Records(topics, "r")) {
        records.thumbs(0, 24);
        if (run.equals("restart")) {
          try (StreamingHarness.Running first = harness.start(settings, learners)) {
            awaitCoverage(topics, "r", Map.of(topics.unpaired(), 8L));
            records.thumbs(24, 24); // arrive while the first trainer works, or after it stopped
            assertThat(first.failure()).isNull();
          } // stops with unpublished batches: they are trained again, not lost
          assertThat(harness.log(topics, "r").versions()).isNotEmpty();
        } else {
          records.thumbs(24, 24);
        }
        try (StreamingHarness.Running trainer = harness.start(settings, learners)) {
          AdapterLog log = awaitCoverage(topics, "r", Map.of(topics.unpaired(), 48L));
          assertThat(trainer.failure()).isNull();
          assertThat(coveredOncePerTopic(log).get(topics.unpaired())).hasSize(48);
          assertThat(log.versions().stream().mapToInt(AdapterManifest::getPairs).sum())
              .as(run + ": every thumb trained exactly once")
              .isEqualTo(48);
          assertThat(log.refusals()).isEmpty();
          sha.put(run, log.versions().get(log.versions().size() - 1).getSha256());
        }
      }
    }
    assertThat(sha.get("restart")).isEqualTo(sha.get("calm"));
  }

  @Test
  void pairsAndUnpairedWithDifferentPartitionCountsStopTheTrainerNamingBoth() throws Exception {
    Topics topics = new Topics("skew.");
    try (Admin admin = Admin.create(harness.client())) {
      admin
          .createTopics(
              List.of(
                  new NewTopic(topics.pairs(), 1, (short) 1),
                  new NewTopic(topics.unpaired(), 3, (short) 1)))
          .all()
          .get();
    }
    Map<String, Object> settings = kto(topics, "t-skew");
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer = harness.start(settings, learners)) {
      trainer.thread.join(Duration.ofSeconds(60).toMillis());
      assertThat(trainer.thread.isAlive()).as("the trainer stopped").isFalse();
      assertThat(trainer.failure())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining(topics.pairs() + " has 1")
          .hasMessageContaining(topics.unpaired() + " has 3");
    }
  }

  @Test
  void aPairLossTrainerLeavesUnpairedAloneAndAKtoTrainerDeadLettersThumbsOfOtherModels()
      throws Exception {
    Topics topics = harness.topics("mixed-losses.");
    Map<String, Object> pairLoss = harness.trainerSettings(topics, "t-sigmoid");
    pairLoss.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 0.0);
    try (Records records = new Records(topics, "p");
        Records others = new Records(topics, "o")) {
      records.pairs(0, 8);
      records.thumbs(0, 5);
      try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(pairLoss));
          StreamingHarness.Running trainer = harness.start(pairLoss, learners)) {
        AdapterLog log = awaitCoverage(topics, "p", Map.of(topics.pairs(), 8L));
        assertThat(trainer.failure()).isNull();
        assertThat(coveredOncePerTopic(log)).containsOnlyKeys(topics.pairs());
        assertThat(awaitCommitted("t-sigmoid", Map.of(topics.pairs(), 8L)))
            .as("a pair loss commits no unpaired offset: it does not consume that topic")
            .containsOnlyKeys(new TopicPartition(topics.pairs(), 0));
      }
      assertThat(deadLetters(topics)).as("and dead-letters nothing of it").isEmpty();

      // a kto trainer for "p" only: thumbs of "o" are dead letters (model_not_trained), once
      Map<String, Object> kto = kto(topics, "t-only-p");
      kto.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 0.0);
      kto.put(TrainerConfig.MODEL_IDS_CONFIG, "p");
      others.thumbs(0, 3);
      records.thumbs(5, 3);
      long unpairedEnd = records.end(topics.unpaired());
      try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(kto));
          StreamingHarness.Running trainer = harness.start(kto, learners)) {
        AdapterLog log = awaitCoverage(topics, "p", Map.of(topics.unpaired(), unpairedEnd));
        assertThat(trainer.failure()).isNull();
        assertThat(log.versions().stream().mapToInt(AdapterManifest::getPairs).sum())
            .as("p's 8 pairs and 8 thumbs")
            .isEqualTo(16);
        assertThat(awaitCommitted("t-only-p", Map.of(topics.unpaired(), unpairedEnd)))
            .containsEntry(new TopicPartition(topics.unpaired(), 0), unpairedEnd);
      }
      assertThat(deadLetters(topics))
          .extracting(Rejection::getSourceTopic, Rejection::getReason, Rejection::getModelId)
          .containsExactly(
              org.assertj.core.groups.Tuple.tuple(topics.unpaired(), "model_not_trained", "o"),
              org.assertj.core.groups.Tuple.tuple(topics.unpaired(), "model_not_trained", "o"),
              org.assertj.core.groups.Tuple.tuple(topics.unpaired(), "model_not_trained", "o"));
    }
  }

  /** Waits until versions and refusals of {@code model} reach {@code ends} on each topic. */
  static AdapterLog awaitCoverage(Topics topics, String model, Map<String, Long> ends)
      throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (System.nanoTime() < deadline) {
      AdapterLog log = harness.log(topics, model);
      Map<String, Long> reached = reached(log);
      if (ends.entrySet().stream()
          .allMatch(e -> reached.getOrDefault(e.getKey(), 0L) >= e.getValue())) {
        return log;
      }
      Thread.sleep(500);
    }
    throw new AssertionError(
        model + " never covered " + ends + ": " + reached(harness.log(topics, model)));
  }

  private static Map<String, Long> reached(AdapterLog log) {
    Map<String, Long> reached = new TreeMap<>();
    List<OffsetRange> all = new ArrayList<>();
    log.versions().forEach(v -> all.addAll(v.getLineage()));
    log.refusals().forEach(r -> all.addAll(r.getLineage()));
    for (OffsetRange r : all) {
      reached.merge(r.getTopic(), r.getToOffset(), Math::max);
    }
    return reached;
  }

  /** Per topic, the offsets the versions and refusals cover; fails on any offset covered twice. */
  static Map<String, TreeSet<Long>> coveredOncePerTopic(AdapterLog log) {
    List<OffsetRange> ranges = new ArrayList<>();
    log.versions().forEach(v -> ranges.addAll(v.getLineage()));
    for (VersionRefusal r : log.refusals()) {
      ranges.addAll(r.getLineage());
    }
    Map<String, TreeSet<Long>> covered = new TreeMap<>();
    for (OffsetRange r : ranges) {
      TreeSet<Long> topic = covered.computeIfAbsent(r.getTopic(), t -> new TreeSet<>());
      for (long o = r.getFromOffset(); o < r.getToOffset(); o++) {
        if (!topic.add(o)) {
          throw new AssertionError(
              r.getTopic() + " offset " + o + " is in two versions or refusals: " + ranges);
        }
      }
    }
    return covered;
  }

  private static List<Rejection> deadLetters(Topics topics) {
    List<Rejection> dead = new ArrayList<>();
    ConfluentAvro<Rejection> codec = new ConfluentAvro<>(Rejection.class, harness.registry, false);
    TopicScan.readAll(
        harness.client(), topics.deadLetters(), r -> dead.add(codec.decode(r.value())));
    return dead;
  }

  private static Map<TopicPartition, Long> awaitCommitted(String group, Map<String, Long> ends)
      throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
    Map<TopicPartition, Long> committed = new HashMap<>();
    try (Admin admin = Admin.create(harness.client())) {
      while (System.nanoTime() < deadline) {
        committed.clear();
        Map<TopicPartition, OffsetAndMetadata> offsets =
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
        offsets.forEach((tp, o) -> committed.put(tp, o.offset()));
        if (ends.entrySet().stream()
            .allMatch(
                e ->
                    committed.getOrDefault(new TopicPartition(e.getKey(), 0), -1L)
                        >= e.getValue())) {
          return committed;
        }
        Thread.sleep(200);
      }
    }
    return committed;
  }

  /** Writes a model's records to pairs and unpaired (partition 0) and remembers what went where. */
  static final class Records implements AutoCloseable {
    private final Topics topics;
    private final String model;
    private final KafkaProducer<String, byte[]> producer;
    private final ConfluentAvro<PreferencePair> pairCodec;
    private final ConfluentAvro<UnpairedFeedback> unpairedCodec;
    private final List<Future<RecordMetadata>> sent = new ArrayList<>();
    private final List<String> readableIds = new ArrayList<>();
    private int unreadable;
    private int extra = 1000;

    Records(Topics topics, String model) {
      this.topics = topics;
      this.model = model;
      Map<String, Object> props = new HashMap<>(harness.client());
      props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
      this.producer = new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer());
      this.pairCodec = new ConfluentAvro<>(PreferencePair.class, harness.registry, true);
      this.unpairedCodec = new ConfluentAvro<>(UnpairedFeedback.class, harness.registry, true);
    }

    /** Thumbs {@code from..from+count-1}: up for "I love X", down for "I hate X", alternating. */
    void thumbs(int from, int count) {
      for (int i = from; i < from + count; i++) {
        thumb(i);
      }
      producer.flush();
    }

    private String thumb(int i) {
      String thing = THINGS.get(i % THINGS.size());
      boolean up = i % 2 == 0;
      String id = Sha256.hex(model + "/thumb/" + i);
      UnpairedFeedback u =
          UnpairedFeedback.newBuilder()
              .setFeedbackId(id)
              .setModelId(model)
              .setPrompt("What about " + thing + "?")
              .setResponse((up ? "I love " : "I hate ") + thing + ".")
              .setDesirable(up)
              .setEventIds(List.of(model + "-u" + i))
              .setSource("test")
              .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
              .build();
      send(
          topics.unpaired(),
          unpairedCodec.encode(ConfluentAvro.subject(topics.unpaired(), false), u));
      readableIds.add(id);
      return id;
    }

    void pairs(int from, int count) {
      for (int i = from; i < from + count; i++) {
        pair(i);
      }
      producer.flush();
    }

    private String pair(int i) {
      String thing = THINGS.get(i % THINGS.size());
      String id = Sha256.hex(model + "/pair/" + i);
      PreferencePair pair =
          PreferencePair.newBuilder()
              .setPairId(id)
              .setModelId(model)
              .setPrompt("What about " + thing + "?")
              .setChosen("I love " + thing + ".")
              .setRejected("I hate " + thing + ".")
              .setKind(FeedbackKind.PAIRWISE)
              .setEventIds(List.of(model + "-p" + i))
              .setSource("test")
              .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
              .build();
      send(topics.pairs(), pairCodec.encode(ConfluentAvro.subject(topics.pairs(), false), pair));
      readableIds.add(id);
      return id;
    }

    void raw(String topic, byte[] value) {
      send(topic, value);
      unreadable++;
      producer.flush();
    }

    /**
     * Appends records until the last one of each topic is not held out, so that the final version's
     * ranges reach the end of both topics.
     */
    void endWithTrainedRecords(HoldoutSplit split) {
      while (split.isHeldOut(pair(extra++))) {
        // a held-out record at the end stays after the last version's range
      }
      while (split.isHeldOut(thumb(extra++))) {
        // likewise
      }
      producer.flush();
    }

    private void send(String topic, byte[] value) {
      sent.add(producer.send(new ProducerRecord<>(topic, model, value)));
    }

    /** The offset after the last record sent to {@code topic}. */
    long end(String topic) throws Exception {
      producer.flush();
      long end = 0;
      for (Future<RecordMetadata> f : sent) {
        RecordMetadata m = f.get();
        if (m.topic().equals(topic)) {
          end = Math.max(end, m.offset() + 1);
        }
      }
      return end;
    }

    int readable() {
      return readableIds.size();
    }

    int heldOut(HoldoutSplit split) {
      return (int) readableIds.stream().filter(split::isHeldOut).count();
    }

    @Override
    public void close() {
      producer.close();
    }
  }
}
