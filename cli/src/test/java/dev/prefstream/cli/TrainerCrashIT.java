package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault injection on the trainer command in child JVMs: SIGKILLed at random moments while it works
 * through a stream of pairs and restarted each time (every pair offset ends up in exactly one
 * version's lineage, and the final adapter is bit for bit the one an uninterrupted run makes); two
 * models with rollbacks of one of them and a SIGKILL; a halt between sending a version and
 * committing it.
 */
class TrainerCrashIT {
  private static final int PAIRS = 520;
  private static final String MODEL = "m1";

  @TempDir(cleanup = CleanupMode.ON_SUCCESS)
  static Path dir;

  static EmbeddedStack stack;
  static RestSchemaRegistry registry;
  static Path modelDir;
  static int runs;
  static final Map<Process, Path> outputs = new java.util.HashMap<>();

  @BeforeAll
  static void start() throws Exception {
    stack = EmbeddedStack.start(dir.resolve("stack"));
    registry = new RestSchemaRegistry(stack.registryUrl());
    modelDir = dir.resolve("model");
    ModelInit.write(
        modelDir, ModelInit.Spec.builder("llama").optSeed(11).optMaxPositions(128).build());
    for (String prefix : List.of("calm.", "crash.")) {
      Topics topics = new Topics(prefix);
      try (Admin admin = Admin.create(client())) {
        TopicAdmin.ensure(admin, topics.all(1), (short) -1);
      }
      produce(topics);
    }
  }

  @AfterAll
  static void stop() {
    stack.close();
  }

  @Test
  void sigkilledFiveTimesTheTrainerStillTrainsEveryPairExactlyOnceAndBitIdentically()
      throws Exception {
    Topics calm = new Topics("calm.");
    Process uninterrupted = fullBatchTrainer(calm);
    AdapterManifest calmLast = awaitAllCovered(calm);
    uninterrupted.destroyForcibly().waitFor();

    Topics crash = new Topics("crash.");
    Random random = new Random(42);
    List<Integer> versionsAtKill = new ArrayList<>();
    for (int kill = 0; kill < 5; kill++) {
      // each run publishes two more versions (the trainer prints "m1 vN: ..."), then dies at a
      // random moment of the next steps or transaction. Waiting for a version, not for a time:
      // on a busy machine a kill 1-5 s after start landed before any version in all five runs.
      // A kill inside a transaction costs the next start transaction.timeout.ms (see README).
      int target = log(crash).versions().size() + 2;
      Process doomed = fullBatchTrainer(crash);
      awaitLine(doomed, MODEL + " v" + target + ":");
      Thread.sleep(random.nextInt(400)); // fault injection: when to kill, not synchronization
      doomed.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no clean close
      versionsAtKill.add(log(crash).versions().size());
    }
    Process survivor = fullBatchTrainer(crash);
    AdapterManifest crashLast = awaitAllCovered(crash);
    survivor.destroyForcibly().waitFor();

    assertThat(versionsAtKill).as("versions published before each kill").isSorted();
    assertThat(versionsAtKill.get(4)).as("the killed runs made progress").isPositive();
    assertTilesEveryPairOnce(log(crash).versions(), crash);
    assertTilesEveryPairOnce(log(calm).versions(), calm);
    assertThat(crashLast.getSha256()).isEqualTo(calmLast.getSha256());
  }

  /**
   * What the issue tried as a new user: two models on a one-partition pairs topic, one trainer
   * process training both, two {@code adapters rollback} runs of m1 (reading trainer.id from the
   * same -D settings as the trainer) while both train, then a SIGKILL and a restart. Per model
   * every pair offset lies in exactly one version's lineage (held-out pairs lie inside those ranges
   * too), no version number is written twice, and the trainer keeps running. Once m1 got two
   * versions numbered 10 and pair 161 was trained into two versions.
   */
  @Test
  void twoModelsTwoRollbacksOfOneWhileBothTrainThenASigkillEveryPairInOneVersion()
      throws Exception {
    Topics topics = ensureTopics("rollbacks.");
    String trainerId = "t-rollbacks";
    Map<String, List<Long>> offsets = new TreeMap<>();
    produceTwo(topics, 0, 120, offsets);
    Process first = trainer(topics, trainerId, List.of());
    awaitCondition(
        first, () -> log(topics, "m1").versions().size() >= 2, "m1 publishes two versions");
    rollback(topics, trainerId, "m1", 1);
    produceTwo(topics, 120, 40, offsets);
    rollback(topics, trainerId, "m1", 2);
    produceTwo(topics, 160, 40, offsets);
    long secondRollback =
        log(topics, "m1").versions().stream()
            .filter(v -> v.getOrigin() == AdapterOrigin.ROLLBACK)
            .mapToLong(AdapterManifest::getVersion)
            .max()
            .orElseThrow();
    awaitCondition(
        first,
        () -> log(topics, "m1").latest().orElseThrow().getVersion() > secondRollback,
        "m1 trains on after the second rollback (v" + secondRollback + ")");
    first.destroyForcibly().waitFor(); // SIGKILL while both models train
    Process restarted = trainer(topics, trainerId, List.of());
    // a tail after the pairs checked: a held-out last pair is covered once a batch follows it
    produceTwo(topics, 200, 16, new TreeMap<>());
    for (String model : List.of("m1", "m2")) {
      long last = offsets.get(model).get(offsets.get(model).size() - 1);
      awaitCondition(
          restarted,
          () -> coveredUntil(log(topics, model)) > last,
          model + " covers its pairs after the restart");
    }
    assertThat(restarted.isAlive()).as("the restarted trainer is still running").isTrue();
    for (String model : List.of("m1", "m2")) {
      assertEveryPairInOneVersion(log(topics, model), model, offsets.get(model));
    }
    assertThat(
            log(topics, "m1").versions().stream()
                .filter(v -> v.getOrigin() == AdapterOrigin.ROLLBACK)
                .map(AdapterManifest::getRollbackOf))
        .as("m1's two rollbacks")
        .containsExactly(1L, 2L);
    restarted.destroyForcibly().waitFor();
  }

  /**
   * The trainer dies (halt, as a SIGKILL) after sending a version's chunks, manifest, state and
   * offsets and before committing them ({@link AdapterPublisher#FAULT_HALT_BEFORE_COMMIT}). The
   * restart aborts that transaction (at once: it initializes the model's transactional id before
   * reading anything the transaction holds back): no record of it is ever read_committed (what the
   * sink and every reader use), version 2 is numbered again, once, and every pair is in exactly one
   * version. Prints the time from the restart to the model's committed v2 (a measurement, not
   * asserted).
   */
  @Test
  void aTrainerHaltedBetweenSendingAVersionAndCommittingItLeavesNoTraceOfIt() throws Exception {
    Topics topics = ensureTopics("halt.");
    String trainerId = "t-halt";
    Map<String, List<Long>> offsets = new TreeMap<>();
    produceTwo(topics, 0, 100, offsets);
    Process halted =
        trainer(
            topics, trainerId, List.of("-D" + AdapterPublisher.FAULT_HALT_BEFORE_COMMIT + "=2"));
    assertThat(halted.waitFor(3, TimeUnit.MINUTES))
        .as("the trainer halts publishing v2:\n%s", ChildCli.tail(outputs.get(halted)))
        .isTrue();
    assertThat(halted.exitValue()).isEqualTo(137);
    assertThat(Files.readString(outputs.get(halted))).contains("FAULT INJECTION");

    // what the open transaction holds: one v2 manifest and its chunks, sent but not committed
    List<ConsumerRecord<String, byte[]>> uncommitted = readUncommitted(topics.adapters());
    ConfluentAvro<AdapterRecord> codec = new ConfluentAvro<>(AdapterRecord.class, registry, false);
    List<Long> abortedOffsets = new ArrayList<>();
    List<String> haltedModels = new ArrayList<>();
    for (ConsumerRecord<String, byte[]> r : uncommitted) {
      Object payload = codec.decode(r.value()).getPayload();
      if (payload instanceof AdapterManifest m && m.getVersion() == 2) {
        abortedOffsets.add(r.offset());
        haltedModels.add(m.getModelId());
      } else if (payload instanceof AdapterChunk c && c.getVersion() == 2) {
        abortedOffsets.add(r.offset());
      }
    }
    assertThat(haltedModels).as("v2 manifests sent before the halt").hasSize(1);
    assertThat(abortedOffsets).as("v2 chunks and manifest sent").hasSizeGreaterThan(1);
    String model = haltedModels.get(0);

    long restartedAt = System.nanoTime();
    Process restarted = trainer(topics, trainerId, List.of());
    awaitCondition(
        restarted,
        () -> log(topics, model).versions().size() >= 2,
        model + " commits a v2 after the restart");
    System.out.printf(
        "MEASURE restart after a halt between send and commit to %s's committed v2: %.1f s%n",
        model, (System.nanoTime() - restartedAt) / 1e9);
    // the restart aborted the open transaction itself rather than waiting transaction.timeout.ms
    // for the coordinator to
    assertThat(Files.readString(outputs.get(restarted)))
        .containsPattern("initialized the transactions of \\[[^]]*\\b" + model + "\\b");
    produceTwo(topics, 100, 16, new TreeMap<>());
    for (String m : List.of("m1", "m2")) {
      long last = offsets.get(m).get(offsets.get(m).size() - 1);
      awaitCondition(restarted, () -> coveredUntil(log(topics, m)) > last, m + " covers its pairs");
    }
    List<Long> committedOffsets = new ArrayList<>();
    TopicScan.readAll(client(), topics.adapters(), r -> committedOffsets.add(r.offset()));
    assertThat(committedOffsets)
        .as("no record of the halted transaction is ever read_committed")
        .doesNotContainAnyElementsOf(abortedOffsets);
    assertThat(restarted.isAlive()).isTrue();
    for (String m : List.of("m1", "m2")) {
      assertEveryPairInOneVersion(log(topics, m), m, offsets.get(m));
    }
    restarted.destroyForcibly().waitFor();
  }

  /**
   * Every offset of {@code mine} is in exactly one version's (or refusal's) lineage range of {@code
   * model}; versions are numbered 1..n, each the child of the one before, none twice.
   */
  private static void assertEveryPairInOneVersion(AdapterLog log, String model, List<Long> mine) {
    assertThat(log.skipped())
        .as(model + ": no version number written twice")
        .doesNotContainKey(AdapterLog.REFUSED + AdapterLog.DUPLICATE_VERSION);
    long expected = 1;
    for (AdapterManifest v : log.versions()) {
      assertThat(v.getVersion()).as(model + " version numbers").isEqualTo(expected);
      assertThat(v.getParentVersion())
          .as(model + " v" + expected + "'s parent")
          .isEqualTo(expected == 1 ? null : expected - 1);
      expected++;
    }
    List<OffsetRange> ranges = new ArrayList<>();
    log.versions().forEach(v -> ranges.addAll(v.getLineage()));
    log.refusals().forEach(r -> ranges.addAll(r.getLineage()));
    TreeSet<Long> covered = new TreeSet<>();
    for (OffsetRange r : ranges) {
      for (long o = r.getFromOffset(); o < r.getToOffset(); o++) {
        assertThat(covered.add(o))
            .as(model + ": offset " + o + " in two versions or refusals: " + ranges)
            .isTrue();
      }
    }
    assertThat(covered).as(model + "'s pairs each in a version").containsAll(mine);
  }

  private static long coveredUntil(AdapterLog log) {
    long end = 0;
    for (AdapterManifest v : log.versions()) {
      for (OffsetRange r : v.getLineage()) {
        end = Math.max(end, r.getToOffset());
      }
    }
    for (VersionRefusal r : log.refusals()) {
      for (OffsetRange o : r.getLineage()) {
        end = Math.max(end, o.getToOffset());
      }
    }
    return end;
  }

  /** {@code prefstream adapters rollback} in a child JVM, with the trainer's -D settings. */
  private static void rollback(Topics topics, String trainerId, String model, long toVersion)
      throws Exception {
    Path output = dir.resolve("rollback-" + model + "-" + toVersion + ".log");
    int status =
        ChildCli.run(
            output,
            Duration.ofMinutes(3),
            List.of(
                "adapters",
                "rollback",
                "--bootstrap-servers",
                stack.bootstrapServers(),
                "--registry-url",
                stack.registryUrl(),
                "--model",
                model,
                "--to-version",
                Long.toString(toVersion),
                "-D",
                "topic.prefix=" + topics.prefix(),
                "-D",
                "trainer.id=" + trainerId));
    assertThat(status).as("adapters rollback:\n%s", ChildCli.tail(output)).isZero();
    assertThat(Files.readString(output)).contains("the content of v" + toVersion);
  }

  private static void awaitCondition(Process trainer, BooleanSupplier condition, String what)
      throws Exception {
    ChildCli.awaitCondition(
        trainer,
        outputs.get(trainer),
        condition,
        what,
        Duration.ofMinutes(3),
        Duration.ofMillis(500));
  }

  private static Topics ensureTopics(String prefix) {
    Topics topics = new Topics(prefix);
    try (Admin admin = Admin.create(client())) {
      TopicAdmin.ensure(admin, topics.all(1), (short) -1);
    }
    return topics;
  }

  /**
   * Pairs {@code from..from+count-1}, alternately of m1 and m2 (pair i of model i % 2), recording
   * each model's offsets.
   */
  private static void produceTwo(
      Topics topics, int from, int count, Map<String, List<Long>> offsets) throws Exception {
    ConfluentAvro<PreferencePair> codec = new ConfluentAvro<>(PreferencePair.class, registry, true);
    String subject = ConfluentAvro.subject(topics.pairs(), false);
    Map<String, Object> props = new java.util.HashMap<>(client());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    List<String> things = List.of("tea", "rain", "jazz", "maps", "cats", "snow");
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = from; i < from + count; i++) {
        String model = i % 2 == 0 ? "m1" : "m2";
        String thing = things.get(i % things.size());
        PreferencePair pair =
            PreferencePair.newBuilder()
                .setPairId(Sha256.hex(model + "/" + i))
                .setModelId(model)
                .setPrompt("What about " + thing + "?")
                .setChosen("I love " + thing + ".")
                .setRejected("I hate " + thing + ".")
                .setKind(FeedbackKind.PAIRWISE)
                .setEventIds(List.of(model + "-e" + i))
                .setSource("test")
                .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
                .build();
        long offset =
            producer
                .send(new ProducerRecord<>(topics.pairs(), model, codec.encode(subject, pair)))
                .get()
                .offset();
        offsets.computeIfAbsent(model, k -> new ArrayList<>()).add(offset);
      }
    }
  }

  /** Every record of {@code topic}'s partition 0, open and aborted transactions included. */
  private static List<ConsumerRecord<String, byte[]>> readUncommitted(String topic) {
    Map<String, Object> props = new java.util.HashMap<>(client());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    List<ConsumerRecord<String, byte[]>> records = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
      TopicPartition tp = new TopicPartition(topic, 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long end = consumer.endOffsets(List.of(tp)).get(tp);
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
      while (consumer.position(tp) < end && System.nanoTime() < deadline) {
        consumer.poll(Duration.ofMillis(500)).forEach(records::add);
      }
      assertThat(consumer.position(tp)).as("read " + topic + " to its end").isEqualTo(end);
    }
    return records;
  }

  private static AdapterLog log(Topics topics, String model) {
    return AdapterLog.read(client(), topics, registry, model, null);
  }

  private static void assertTilesEveryPairOnce(List<AdapterManifest> versions, Topics topics) {
    long next = 0;
    long previous = 0;
    TreeSet<Long> covered = new TreeSet<>();
    for (AdapterManifest v : versions) {
      assertThat(v.getVersion()).isEqualTo(previous + 1);
      assertThat(v.getParentVersion()).isEqualTo(previous == 0 ? null : previous);
      previous = v.getVersion();
      assertThat(v.getLineage()).hasSize(1);
      OffsetRange range = v.getLineage().get(0);
      assertThat(range.getTopic()).isEqualTo(topics.pairs());
      assertThat(range.getFromOffset())
          .as("v" + v.getVersion() + " starts where its parent ended")
          .isEqualTo(next);
      assertThat(range.getToOffset()).isGreaterThan(range.getFromOffset());
      for (long o = range.getFromOffset(); o < range.getToOffset(); o++) {
        assertThat(covered.add(o)).as("offset " + o + " in two versions").isTrue();
      }
      next = range.getToOffset();
    }
    // the pairs were produced without transactions: offsets 0..PAIRS-1, no markers
    assertThat(covered).hasSize(PAIRS);
    assertThat(covered.first()).isZero();
    assertThat(covered.last()).isEqualTo(PAIRS - 1L);
  }

  private static AdapterManifest awaitAllCovered(Topics topics) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
    while (System.nanoTime() < deadline) {
      List<AdapterManifest> versions = log(topics).versions();
      if (!versions.isEmpty()) {
        AdapterManifest last = versions.get(versions.size() - 1);
        if (last.getLineage().get(0).getToOffset() == PAIRS) {
          return last;
        }
      }
      Thread.sleep(1_000);
    }
    throw new AssertionError(
        "the trainer never published a version covering all "
            + PAIRS
            + " pairs; its output:\n"
            + Files.readString(dir.resolve("trainer-" + runs + ".log"))
            + "\nits threads:\n"
            + threadDump());
  }

  private static String threadDump() {
    StringBuilder dump = new StringBuilder();
    for (Process p : outputs.keySet()) {
      dump.append(ChildCli.threadDump(p));
    }
    return dump.toString();
  }

  private static AdapterLog log(Topics topics) {
    return AdapterLog.read(client(), topics, registry, MODEL, null);
  }

  /**
   * A trainer that trains only full batches and holds nothing out, so its batches are fixed by
   * offsets alone: a partial batch (trainer.batch.max.wait.ms) depends on timing (a step slower
   * than the wait, on a loaded machine, leaves a short batch behind), and bit-identical adapters
   * hold only for the same batches. PAIRS is a multiple of the batch size.
   */
  private static Process fullBatchTrainer(Topics topics) throws Exception {
    List<String> args =
        new ArrayList<>(trainerArgs(topics, "t-" + topics.prefix().replace(".", "")));
    int wait = args.indexOf("trainer.batch.max.wait.ms=3000");
    args.set(wait, "trainer.batch.max.wait.ms=0");
    args.addAll(List.of("-D", "trainer.holdout.percent=0"));
    Path output = dir.resolve("trainer-" + (++runs) + ".log");
    Process process = ChildCli.start(output, List.of(), args);
    outputs.put(process, output);
    return process;
  }

  /** The trainer command in a child JVM ({@code jvmOptions}: e.g. a fault to inject). */
  private static Process trainer(Topics topics, String trainerId, List<String> jvmOptions)
      throws Exception {
    Path output = dir.resolve("trainer-" + (++runs) + ".log");
    Process process = ChildCli.start(output, jvmOptions, trainerArgs(topics, trainerId));
    outputs.put(process, output);
    return process;
  }

  private static List<String> trainerArgs(Topics topics, String trainerId) {
    return List.of(
        "trainer",
        "--bootstrap-servers",
        stack.bootstrapServers(),
        "--registry-url",
        stack.registryUrl(),
        "--model-dir",
        modelDir.toString(),
        "--batch-size",
        "4",
        "--publish-every-steps",
        "5",
        "-D",
        "topic.prefix=" + topics.prefix(),
        "-D",
        "trainer.id=" + trainerId,
        "-D",
        "trainer.batch.max.wait.ms=3000",
        "-D",
        "trainer.publish.every.ms=3000",
        "-D",
        "trainer.max.length=64");
  }

  private static void awaitLine(Process process, String prefix) throws Exception {
    ChildCli.awaitLine(process, outputs.get(process), prefix, Duration.ofMinutes(3));
  }

  private static void produce(Topics topics) {
    ConfluentAvro<PreferencePair> codec = new ConfluentAvro<>(PreferencePair.class, registry, true);
    String subject = ConfluentAvro.subject(topics.pairs(), false);
    Map<String, Object> props = new java.util.HashMap<>(client());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    Random random = new Random(7);
    List<String> things = List.of("tea", "rain", "jazz", "maps", "cats", "snow");
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < PAIRS; i++) {
        String thing = things.get(random.nextInt(things.size()));
        PreferencePair pair =
            PreferencePair.newBuilder()
                .setPairId(Sha256.hex("pair-" + i))
                .setModelId(MODEL)
                .setPrompt("What about " + thing + "?")
                .setChosen("I love " + thing + ".")
                .setRejected("I hate " + thing + ".")
                .setKind(FeedbackKind.PAIRWISE)
                .setEventIds(List.of("e" + i))
                .setSource("test")
                .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
                .build();
        producer.send(new ProducerRecord<>(topics.pairs(), MODEL, codec.encode(subject, pair)));
      }
    }
  }

  private static Map<String, Object> client() {
    return Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
  }
}
