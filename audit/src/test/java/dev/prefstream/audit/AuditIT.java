package dev.prefstream.audit;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PreferencePair;
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
import dev.prefstream.trainer.stream.TrainerStateWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The audits on a real broker and registry over a history the real streaming trainer wrote: several
 * versions, a trainer stopped mid-stream and restarted, refused candidates, a rollback. Replay must
 * rebuild every version bit for bit, verify must pass and catch a forged manifest, and forget must
 * publish versions without a user's pairs that replay identically too.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AuditIT {
  private static final String MODEL = "audited";
  private static final String TRAINER = "t-audit";
  private static final double HOLDOUT = 25.0;
  private static final String FORGOTTEN_USER = "user-3";

  @TempDir static Path dir;
  static EmbeddedStack stack;
  static RestSchemaRegistry registry;
  static Topics topics;
  static Path modelDir;
  static int produced;

  @BeforeAll
  static void buildHistory() throws Exception {
    stack = EmbeddedStack.start(dir.resolve("stack"));
    registry = new RestSchemaRegistry(stack.registryUrl());
    modelDir = dir.resolve("model");
    ModelInit.write(
        modelDir, ModelInit.Spec.builder("llama").optSeed(5).optMaxPositions(128).build());
    topics = new Topics("audit.");
    try (Admin admin = Admin.create(client())) {
      TopicAdmin.ensure(admin, topics.all(1), (short) -1);
    }
    PairSelection split = new PairSelection(HOLDOUT);

    // 1. versions, then a stop with work not yet published (it is re-read after the restart)
    Map<String, Object> plain = trainerSettings(0.0);
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(plain))) {
      try (Running trainer = new Running(plain, learners)) {
        produce(40, p -> false);
        awaitCoverage(24);
      }
      // 2. restarted with a gate the candidates cannot pass: held-out people disagree
      Map<String, Object> gated = trainerSettings(0.99);
      try (Running trainer = new Running(gated, learners)) {
        produce(24, split::heldOut);
        awaitRefusal();
        // pairs after the last trained batch wait for the next one: all but a few are covered
        awaitCoverage(produced - 6);
      }
    }
    // 3. a rollback, and training on top of it
    AdapterManifest rollback =
        TrainerStateWriter.rollback(client(), topics, registry, TRAINER, MODEL, 1);
    assertThat(rollback.getOrigin()).isEqualTo(AdapterOrigin.ROLLBACK);
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(plain));
        Running trainer = new Running(plain, learners)) {
      produce(30, p -> false);
      awaitCoverage(produced - 6);
    }
  }

  @AfterAll
  static void stop() {
    if (stack != null) {
      stack.close();
    }
  }

  @Test
  @Order(1)
  void everyVersionReplaysBitForBit() {
    Audit audit = audit();
    ModelHistory history = audit.history(MODEL);
    assertThat(history.entries()).anyMatch(e -> !e.isManifest());
    assertThat(history.manifests()).anyMatch(m -> m.getOrigin() == AdapterOrigin.ROLLBACK);
    List<String> lines = new ArrayList<>();
    try (Replayer replayer =
        new Replayer(
            history, audit.pairs(), audit.snapshots(MODEL), modelDir, Map.of(), Set.of())) {
      for (AdapterManifest m : history.manifests()) {
        Replayer.Result r = replayer.replay(m.getVersion());
        lines.add(
            String.format(
                Locale.ROOT,
                "v%d %s steps=%d replay=%.3fs trained=%.3fs from %s",
                r.version(),
                m.getOrigin(),
                r.steps(),
                r.seconds(),
                r.trainedSeconds(),
                r.startedFrom()));
        assertThat(r.identical()).as("v%d: %s", m.getVersion(), r.problems()).isTrue();
        assertThat(r.replayedSha256()).isEqualTo(m.getSha256());
      }
    }
    // replay time per version vs the original training time (a measurement, not a check)
    lines.forEach(l -> System.out.println("replay " + l));
  }

  @Test
  @Order(2)
  void replayWithoutSnapshotsRebuildsFromTheInitialAdapterAndCatchesAWrongPair() {
    Audit audit = audit();
    ModelHistory history = audit.history(MODEL);
    AdapterManifest second = history.manifest(2).orElseThrow();
    // no snapshots at all: v2 is rebuilt through v1 from the seed's initial adapter
    SnapshotLog none = SnapshotLog.none(MODEL);
    try (Replayer replayer =
        new Replayer(
            history,
            audit.pairs(),
            none,
            modelDir,
            new TrainerConfig(trainerSettings(0.0)).trainingSettings(),
            Set.of())) {
      Replayer.Result r = replayer.replay(2);
      assertThat(r.identical()).as("%s", r.problems()).isTrue();
      assertThat(r.startedFrom()).contains("replay of v1");
    }
    // leaving one trained pair out must change the result: replay compares real weights
    String onePair = audit.trainedInto(second, audit.fates(MODEL)).get(0).pair().getPairId();
    try (Replayer replayer =
        new Replayer(
            history, audit.pairs(), audit.snapshots(MODEL), modelDir, Map.of(), Set.of(onePair))) {
      Replayer.Result r = replayer.replay(2);
      assertThat(r.identical()).isFalse();
      assertThat(r.replayedSha256()).isNotEqualTo(second.getSha256());
    }
  }

  @Test
  @Order(3)
  void traceFindsTheVersionWhoseLineageHoldsAnEventsPair() {
    Audit audit = audit();
    ModelHistory history = audit.history(MODEL);
    AdapterManifest v2 = history.manifest(2).orElseThrow();
    PairLog.Entry trained = audit.trainedInto(v2, audit.fates(MODEL)).get(0);
    String eventId = trained.pair().getEventIds().get(0);

    ObjectNode trace = audit.traceEvent(eventId);
    JsonNode pair = trace.get("pairs").get(0);
    assertThat(pair.get("fate").asText()).isEqualTo("trained");
    assertThat(pair.get("version").asLong()).isEqualTo(2);
    assertThat(pair.get("offset").asLong()).isEqualTo(trained.offset());
    OffsetRange range = v2.getLineage().get(0);
    assertThat(trained.offset()).isBetween(range.getFromOffset(), range.getToOffset() - 1);
    // every trained version between v2 and the rollback (to v1) descends from v2; the rollback
    // and what was trained on it do not
    long rollback =
        history.manifests().stream()
            .filter(m -> m.getOrigin() == AdapterOrigin.ROLLBACK)
            .findFirst()
            .orElseThrow()
            .getVersion();
    List<Long> descendants = new ArrayList<>();
    pair.get("descendants").forEach(d -> descendants.add(d.asLong()));
    List<Long> between = new ArrayList<>();
    for (long v = 3; v < rollback; v++) {
      between.add(v);
    }
    assertThat(descendants).containsAll(between).doesNotContain(rollback, rollback + 1);

    ObjectNode behind = audit.traceVersion(MODEL, 2);
    List<String> events = new ArrayList<>();
    behind.get("events").forEach(e -> events.add(e.asText()));
    assertThat(events).contains(eventId).hasSize(v2.getPairs());

    // a held-out pair and an unknown event
    PairLog.Entry heldOut =
        audit.pairs().find(e -> new PairSelection(HOLDOUT).heldOut(e.pair())).get(0);
    JsonNode held = audit.traceEvent(heldOut.pair().getEventIds().get(0)).get("pairs").get(0);
    assertThat(held.get("fate").asText()).isIn("held_out", "refused");
    assertThat(audit.traceEvent("no-such-event").get("found").asBoolean()).isFalse();
  }

  @Test
  @Order(5)
  void verifyPassesAndCatchesAForgedManifestAndGoesPastGarbage() throws Exception {
    Verifier.Report clean = Verifier.verify(audit().history(MODEL), Verifier.SignatureCheck.NONE);
    assertThat(clean.problems()).isEmpty();
    assertThat(clean.ok()).isTrue();

    // a forger republishes v2 under a new version number with other weights' digest, and garbage
    AdapterManifest v2 = audit().history(MODEL).manifest(2).orElseThrow();
    long latest =
        audit().history(MODEL).manifests().stream()
            .mapToLong(AdapterManifest::getVersion)
            .max()
            .orElseThrow();
    AdapterManifest forged =
        AdapterManifest.newBuilder(v2)
            .setVersion(latest + 1)
            .setParentVersion(latest)
            .setSha256("00" + v2.getSha256().substring(2))
            .build();
    ConfluentAvro<AdapterRecord> codec = new ConfluentAvro<>(AdapterRecord.class, registry, true);
    Map<String, Object> props = new HashMap<>(client());
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      producer.send(
          new ProducerRecord<>(
              topics.adapters(),
              MODEL,
              codec.encode(
                  ConfluentAvro.subject(topics.adapters(), false), new AdapterRecord(forged))));
      producer.send(
          new ProducerRecord<>(
              topics.adapters(), MODEL, "not avro at all".getBytes(StandardCharsets.UTF_8)));
      producer.flush();
    }
    Verifier.Report tampered =
        Verifier.verify(audit().history(MODEL), Verifier.SignatureCheck.NONE);
    assertThat(tampered.ok()).isFalse();
    assertThat(tampered.problems()).extracting(Verifier.Problem::version).containsOnly(latest + 1);
    assertThat(tampered.problems())
        .extracting(Verifier.Problem::what)
        .anyMatch(w -> w.contains("sha256"))
        .anyMatch(w -> w.contains("overlap"));
    assertThat(tampered.skipped()).hasSize(1);
    assertThat(tampered.skipped().get(0).reason()).isEqualTo("bad_magic_byte");
  }

  @Test
  @Order(4)
  void forgetRebuildsWithoutTheUsersPairsAndTheRebuildsReplay() {
    Audit audit = audit();
    Forget.Plan plan = audit.forgetPlan(FORGOTTEN_USER, MODEL);
    assertThat(plan.pairs()).isNotEmpty();
    assertThat(plan.models()).hasSize(1);
    Forget.ModelPlan modelPlan = plan.models().get(0);
    long firstTrained =
        plan.pairs().stream()
            .filter(p -> p.fate().equals("trained"))
            .mapToLong(Forget.PlannedPair::version)
            .min()
            .orElseThrow();
    assertThat(modelPlan.firstVersion()).isEqualTo(firstTrained);
    assertThat(modelPlan.rebuildFrom())
        .isEqualTo(audit.history(MODEL).manifest(firstTrained).orElseThrow().getParentVersion());
    assertThat(modelPlan.shaped()).contains(firstTrained);

    long latestBefore =
        audit.history(MODEL).manifests().stream()
            .mapToLong(AdapterManifest::getVersion)
            .max()
            .orElseThrow();
    List<Forget.Rebuild> rebuilt = Forget.execute(audit, plan, modelDir, Map.of(), TRAINER, null);
    assertThat(rebuilt).extracting(Forget.Rebuild::oldVersion).startsWith(firstTrained);
    assertThat(rebuilt).extracting(Forget.Rebuild::newVersion).startsWith(latestBefore + 1);

    Audit after = audit();
    ModelHistory history = after.history(MODEL);
    List<String> results = new ArrayList<>();
    Set<String> userPairs = new java.util.HashSet<>();
    plan.pairs().forEach(p -> userPairs.add(p.pairId()));
    try (Replayer replayer =
        new Replayer(
            history, after.pairs(), after.snapshots(MODEL), modelDir, Map.of(), Set.of())) {
      for (Forget.Rebuild r : rebuilt) {
        AdapterManifest m = history.manifest(r.newVersion()).orElseThrow();
        assertThat(m.getOrigin()).isEqualTo(AdapterOrigin.FORGET);
        assertThat(m.getForgetOf()).isEqualTo(r.oldVersion());
        // from its lineage: no pair trained into it is the user's
        ObjectNode behind = after.traceVersion(MODEL, r.newVersion());
        behind
            .get("pairs")
            .forEach(
                p -> {
                  assertThat(userPairs).doesNotContain(p.get("pair_id").asText());
                  assertThat(p.get("user_keys").toString()).doesNotContain(FORGOTTEN_USER);
                });
        // exactly the old version's pairs, less the user's
        Set<String> now = new java.util.TreeSet<>();
        behind.get("pairs").forEach(p -> now.add(p.get("pair_id").asText()));
        Set<String> before = new java.util.TreeSet<>();
        audit()
            .traceVersion(MODEL, r.oldVersion())
            .get("pairs")
            .forEach(p -> before.add(p.get("pair_id").asText()));
        before.removeAll(userPairs);
        assertThat(now).isEqualTo(before);
        // and by replaying it
        Replayer.Result replayed = replayer.replay(r.newVersion());
        results.add(
            "v"
                + r.oldVersion()
                + " -> v"
                + r.newVersion()
                + " ("
                + m.getBatches().size()
                + " batches, "
                + m.getPairs()
                + " pairs, excluded "
                + m.getExcludedPairIds().size()
                + "): replay "
                + (replayed.identical() ? "identical" : "DIFFERS")
                + " in "
                + replayed.steps()
                + " steps from "
                + replayed.startedFrom()
                + " "
                + replayed.problems());
      }
    }
    results.forEach(l -> System.out.println("forget " + l));
    assertThat(results).allMatch(l -> l.contains("replay identical"), "every rebuild replays");
    assertThat(Verifier.verify(history, Verifier.SignatureCheck.NONE).problems()).isEmpty();
    // the old versions' pairs now say they were forgotten
    Forget.PlannedPair trainedPair =
        plan.pairs().stream().filter(p -> p.fate().equals("trained")).findFirst().orElseThrow();
    assertThat(after.forgetPlan(FORGOTTEN_USER, MODEL).pairs())
        .filteredOn(p -> p.pairId().equals(trainedPair.pairId()))
        .extracting(Forget.PlannedPair::fate)
        .containsExactly("forgotten");
  }

  static Audit audit() {
    return new Audit(client(), topics, registry, HOLDOUT);
  }

  static Map<String, Object> client() {
    return Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
  }

  static Map<String, Object> trainerSettings(double gateMinAccuracy) {
    Map<String, Object> m = new HashMap<>();
    m.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
    m.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
    m.put(CommonConfig.TOPIC_PREFIX_CONFIG, topics.prefix());
    m.put(TrainerConfig.ID_CONFIG, TRAINER);
    m.put(TrainerConfig.INSTANCE_ID_CONFIG, TRAINER + "-1");
    m.put(TrainerConfig.MODEL_DIR_CONFIG, modelDir.toString());
    m.put(Recipe.BATCH_SIZE_CONFIG, 4);
    m.put(Recipe.MAX_LENGTH_CONFIG, 64);
    m.put(Recipe.LORA_DROPOUT_CONFIG, 0.1);
    m.put(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG, 2);
    m.put(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG, 1_000);
    m.put(TrainerConfig.PUBLISH_EVERY_MS_CONFIG, 1_000);
    m.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, HOLDOUT);
    m.put(TrainerConfig.GATE_MIN_ACCURACY_CONFIG, gateMinAccuracy);
    // every other version keeps a snapshot: replay of the others goes through their parent
    m.put(TrainerConfig.SNAPSHOT_EVERY_VERSIONS_CONFIG, 2);
    return m;
  }

  /** A trainer on its own thread. */
  static final class Running implements AutoCloseable {
    final StreamingTrainer trainer;
    final Thread thread;
    volatile Throwable failure;

    Running(Map<String, Object> settings, Learner.Factory learners) {
      trainer =
          new StreamingTrainer(
              new TrainerConfig(settings), registry, learners, TrainerListener.NONE);
      thread = new Thread(trainer, "trainer-under-test");
      thread.setUncaughtExceptionHandler((t, e) -> failure = e);
      thread.start();
    }

    @Override
    public void close() throws InterruptedException {
      trainer.close();
      thread.join(Duration.ofSeconds(30).toMillis());
      assertThat(failure).isNull();
    }
  }

  /** Pairs "I love X" over "I hate X" (reversed where asked), from five users. */
  static void produce(int count, Predicate<PreferencePair> reversed) {
    ConfluentAvro<PreferencePair> codec = new ConfluentAvro<>(PreferencePair.class, registry, true);
    String subject = ConfluentAvro.subject(topics.pairs(), false);
    Map<String, Object> props = new HashMap<>(client());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    List<String> things = List.of("tea", "rain", "jazz", "maps", "cats", "snow");
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = produced; i < produced + count; i++) {
        String thing = things.get(i % things.size());
        PreferencePair.Builder b =
            PreferencePair.newBuilder()
                .setPairId(dev.prefstream.schemas.Sha256.hex(MODEL + "/" + i))
                .setModelId(MODEL)
                .setPrompt("What about " + thing + "?")
                .setChosen("I love " + thing + ".")
                .setRejected("I hate " + thing + ".")
                .setKind(FeedbackKind.PAIRWISE)
                .setEventIds(List.of("e" + i))
                .setSource("test")
                .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
                .setUserKeys(List.of("user-" + (i % 5)));
        if (reversed.test(b.build())) {
          b.setChosen("I hate " + thing + ".").setRejected("I love " + thing + ".");
        }
        producer.send(
            new ProducerRecord<>(topics.pairs(), MODEL, codec.encode(subject, b.build())));
      }
      producer.flush();
    }
    produced += count;
  }

  static void awaitCoverage(long offset) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (System.nanoTime() < deadline) {
      if (coveredUntil() >= offset) {
        return;
      }
      Thread.sleep(200);
    }
    throw new AssertionError(MODEL + " never covered offset " + offset);
  }

  static long coveredUntil() {
    long end = 0;
    for (ModelHistory.Entry e : ModelHistory.read(client(), topics, registry, MODEL).entries()) {
      List<OffsetRange> lineage =
          e.isManifest() ? e.manifest().getLineage() : e.refusal().getLineage();
      for (OffsetRange r : lineage) {
        end = Math.max(end, r.getToOffset());
      }
    }
    return end;
  }

  static void awaitRefusal() throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
    while (System.nanoTime() < deadline) {
      if (ModelHistory.read(client(), topics, registry, MODEL).entries().stream()
          .anyMatch(e -> !e.isManifest())) {
        return;
      }
      Thread.sleep(200);
    }
    throw new AssertionError("no candidate was refused");
  }
}
