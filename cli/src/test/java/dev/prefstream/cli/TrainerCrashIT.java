package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault injection: the trainer process is SIGKILLed at random moments while it works through a
 * stream of pairs, and restarted each time. Every pair offset must end up in exactly one version's
 * lineage, and the final adapter must be bit for bit the one an uninterrupted run makes.
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
    Process uninterrupted = trainer(calm);
    AdapterManifest calmLast = awaitAllCovered(calm);
    uninterrupted.destroyForcibly().waitFor();

    Topics crash = new Topics("crash.");
    Random random = new Random(42);
    List<Integer> versionsAtKill = new ArrayList<>();
    for (int kill = 0; kill < 5; kill++) {
      Process doomed = trainer(crash);
      awaitLine(doomed, "trainer running");
      Thread.sleep(1_000 + random.nextInt(4_000));
      doomed.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no clean close
      versionsAtKill.add(log(crash).versions().size());
    }
    Process survivor = trainer(crash);
    AdapterManifest crashLast = awaitAllCovered(crash);
    survivor.destroyForcibly().waitFor();

    assertThat(versionsAtKill).as("versions published before each kill").isSorted();
    assertThat(versionsAtKill.get(4)).as("the killed runs made progress").isPositive();
    assertTilesEveryPairOnce(log(crash).versions(), crash);
    assertTilesEveryPairOnce(log(calm).versions(), calm);
    assertThat(crashLast.getSha256()).isEqualTo(calmLast.getSha256());
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

  private static String threadDump() throws Exception {
    StringBuilder dump = new StringBuilder();
    for (Process p : outputs.keySet()) {
      if (p.isAlive()) {
        Process jstack =
            new ProcessBuilder(
                    Path.of(System.getProperty("java.home"), "bin", "jstack").toString(),
                    Long.toString(p.pid()))
                .redirectErrorStream(true)
                .start();
        dump.append(new String(jstack.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
      }
    }
    return dump.toString();
  }

  private static AdapterLog log(Topics topics) {
    return AdapterLog.read(client(), topics, registry, MODEL, null);
  }

  private static Process trainer(Topics topics) throws Exception {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Dai.djl.offline=true");
    command.add("-Dai.djl.default_engine=PyTorch");
    command.add("-Dai.djl.pytorch.num_threads=1");
    command.add("-Dai.djl.pytorch.num_interop_threads=1");
    command.add("-cp");
    command.add(
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
    command.add(PrefstreamCli.class.getName());
    command.addAll(
        List.of(
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
            "trainer.id=t-" + topics.prefix().replace(".", ""),
            "-D",
            "trainer.batch.max.wait.ms=3000",
            "-D",
            "trainer.publish.every.ms=3000",
            "-D",
            "trainer.max.length=64"));
    Path output = dir.resolve("trainer-" + (++runs) + ".log");
    ProcessBuilder builder =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
    builder.environment().put("OPT_OUT_TRACKING", "true");
    Process process = builder.start();
    outputs.put(process, output);
    return process;
  }

  private static void awaitLine(Process process, String prefix) throws Exception {
    Path output = outputs.get(process);
    while (process.isAlive()) {
      if (Files.readAllLines(output).stream().anyMatch(l -> l.startsWith(prefix))) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError(
        "the trainer exited before printing '" + prefix + "':\n" + Files.readString(output));
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
                .setPairId(sha256("pair-" + i))
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

  private static String sha256(String text) {
    try {
      return java.util.HexFormat.of()
          .formatHex(
              java.security.MessageDigest.getInstance("SHA-256")
                  .digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Map<String, Object> client() {
    return Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
  }
}
