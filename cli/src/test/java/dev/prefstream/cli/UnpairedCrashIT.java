package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault injection for unpaired feedback: a {@code prefstream trainer --loss kto} process is
 * SIGKILLed at random moments and restarted while it trains two models sharing one partition of
 * each topic: "kt" from thumbs only, "mx" from pairs and thumbs. Every record of each model, on
 * both topics, must end up in exactly one of its versions and be trained exactly once; "kt" (one
 * input topic, full batches) must end bit for bit where an uninterrupted run ends.
 */
class UnpairedCrashIT {
  private static final int KT_THUMBS = 200;
  private static final int MX_PAIRS = 100;
  private static final int MX_THUMBS = 100;

  @TempDir(cleanup = CleanupMode.ON_SUCCESS)
  static Path dir;

  static EmbeddedStack stack;
  static RestSchemaRegistry registry;
  static Path modelDir;
  static int runs;
  static final Map<Process, Path> outputs = new HashMap<>();

  /** Per prefix, model and topic: the offsets of the model's records. */
  static final Map<String, Map<String, Map<String, TreeSet<Long>>>> offsets = new HashMap<>();

  @BeforeAll
  static void start() throws Exception {
    stack = EmbeddedStack.start(dir.resolve("stack"));
    registry = new RestSchemaRegistry(stack.registryUrl());
    modelDir = dir.resolve("model");
    ModelInit.write(
        modelDir, ModelInit.Spec.builder("llama").optSeed(11).optMaxPositions(128).build());
    for (String prefix : List.of("kcalm.", "kcrash.")) {
      Topics topics = new Topics(prefix);
      try (Admin admin = Admin.create(client())) {
        TopicAdmin.ensure(admin, topics.all(1), (short) -1);
      }
      offsets.put(prefix, produce(topics));
    }
  }

  @AfterAll
  static void stop() {
    stack.close();
  }

  @Test
  void sigkilledThreeTimesAKtoTrainerTrainsEveryThumbAndPairExactlyOnce() throws Exception {
    Topics calm = new Topics("kcalm.");
    Process uninterrupted = trainer(calm);
    Map<String, AdapterManifest> calmLast = awaitAllCovered(calm);
    uninterrupted.destroyForcibly().waitFor();

    Topics crash = new Topics("kcrash.");
    Random random = new Random(42);
    List<Integer> versionsAtKill = new ArrayList<>();
    int versions = 0;
    for (int kill = 0; kill < 3; kill++) {
      Process doomed = trainer(crash);
      ChildCli.awaitLine(doomed, outputs.get(doomed), "trainer running", Duration.ofMinutes(5));
      awaitMoreVersionsThan(crash, versions, doomed);
      // then at a random moment: between versions, inside a step, or inside a publish
      Thread.sleep(random.nextInt(2_000));
      doomed.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no clean close
      versions = versionCount(crash);
      versionsAtKill.add(versions);
    }
    Process survivor = trainer(crash);
    Map<String, AdapterManifest> crashLast = awaitAllCovered(crash);
    survivor.destroyForcibly().waitFor();

    assertThat(versionsAtKill).as("versions published before each kill").isSorted();
    for (Topics topics : List.of(calm, crash)) {
      assertEveryRecordOnce(topics, "kt", KT_THUMBS);
      assertEveryRecordOnce(topics, "mx", MX_PAIRS + MX_THUMBS);
    }
    assertThat(crashLast.get("kt").getSha256())
        .as("thumbs only, full batches: the same adapter as the uninterrupted run")
        .isEqualTo(calmLast.get("kt").getSha256());
  }

  private static int versionCount(Topics topics) {
    return log(topics, "kt").versions().size() + log(topics, "mx").versions().size();
  }

  /** Waits until this run published a version of its own (each killed run makes progress). */
  private static void awaitMoreVersionsThan(Topics topics, int versions, Process trainer)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
    while (System.nanoTime() < deadline && trainer.isAlive()) {
      if (versionCount(topics) > versions) {
        return;
      }
      Thread.sleep(200);
    }
    throw new AssertionError(
        "the trainer published nothing after v"
            + versions
            + "; its output:\n"
            + ChildCli.tail(outputs.get(trainer)));
  }

  private static void assertEveryRecordOnce(Topics topics, String model, int records) {
    List<AdapterManifest> versions = log(topics, model).versions();
    long previous = 0;
    Map<String, TreeSet<Long>> covered = new TreeMap<>();
    int trained = 0;
    for (AdapterManifest v : versions) {
      assertThat(v.getVersion()).isEqualTo(previous + 1);
      assertThat(v.getParentVersion()).isEqualTo(previous == 0 ? null : previous);
      previous = v.getVersion();
      trained += v.getPairs();
      for (OffsetRange r : v.getLineage()) {
        TreeSet<Long> topic = covered.computeIfAbsent(r.getTopic(), t -> new TreeSet<>());
        for (long o = r.getFromOffset(); o < r.getToOffset(); o++) {
          assertThat(topic.add(o))
              .as(model + ": " + r.getTopic() + " offset " + o + " in two versions")
              .isTrue();
        }
      }
    }
    Map<String, TreeSet<Long>> mine = offsets.get(topics.prefix()).get(model);
    for (var e : mine.entrySet()) {
      assertThat(covered.getOrDefault(e.getKey(), new TreeSet<>()))
          .as(model + ": every record of " + e.getKey() + " in one version")
          .containsAll(e.getValue());
    }
    assertThat(trained).as(model + ": every record trained exactly once").isEqualTo(records);
  }

  private static Map<String, AdapterManifest> awaitAllCovered(Topics topics) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(6);
    Map<String, AdapterManifest> last = new TreeMap<>();
    while (System.nanoTime() < deadline) {
      last.clear();
      for (String model : List.of("kt", "mx")) {
        List<AdapterManifest> versions = log(topics, model).versions();
        if (covered(versions, offsets.get(topics.prefix()).get(model))) {
          last.put(model, versions.get(versions.size() - 1));
        }
      }
      if (last.size() == 2) {
        return last;
      }
      Thread.sleep(1_000);
    }
    throw new AssertionError(
        "the trainer never published versions covering every record; its output:\n"
            + Files.readString(dir.resolve("trainer-" + runs + ".log")));
  }

  private static boolean covered(List<AdapterManifest> versions, Map<String, TreeSet<Long>> mine) {
    Map<String, Long> reached = new HashMap<>();
    for (AdapterManifest v : versions) {
      for (OffsetRange r : v.getLineage()) {
        reached.merge(r.getTopic(), r.getToOffset(), Math::max);
      }
    }
    return mine.entrySet().stream()
        .allMatch(e -> reached.getOrDefault(e.getKey(), 0L) > e.getValue().last());
  }

  private static AdapterLog log(Topics topics, String model) {
    return AdapterLog.read(client(), topics, registry, model, null);
  }

  private static Process trainer(Topics topics) throws Exception {
    Path output = dir.resolve("trainer-" + (++runs) + ".log");
    Process process =
        ChildCli.start(
            output,
            List.of(
                "trainer",
                "--bootstrap-servers",
                stack.bootstrapServers(),
                "--registry-url",
                stack.registryUrl(),
                "--model-dir",
                modelDir.toString(),
                "--loss",
                "kto",
                "--batch-size",
                "4",
                "--publish-every-steps",
                "5",
                "-D",
                "topic.prefix=" + topics.prefix(),
                "-D",
                "trainer.id=t-" + topics.prefix().replace(".", ""),
                "-D",
                "trainer.holdout.percent=0",
                // full batches only: a model's batches are fixed by offsets, whatever the timing
                "-D",
                "trainer.batch.max.wait.ms=0",
                "-D",
                "trainer.publish.every.ms=3000",
                "-D",
                "trainer.max.length=64",
                // a killed run's open transaction is aborted sooner, so readers get past it sooner
                "-D",
                "transaction.timeout.ms=10000"));
    outputs.put(process, output);
    return process;
  }

  /**
   * kt: thumbs only; mx: pairs and thumbs, its thumbs interleaved with kt's on the unpaired
   * partition. Returns, per model and topic, the offsets written.
   */
  private static Map<String, Map<String, TreeSet<Long>>> produce(Topics topics) throws Exception {
    ConfluentAvro<PreferencePair> pairs = new ConfluentAvro<>(PreferencePair.class, registry, true);
    ConfluentAvro<UnpairedFeedback> unpaired =
        new ConfluentAvro<>(UnpairedFeedback.class, registry, true);
    Map<String, Object> props = new HashMap<>(client());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    Random random = new Random(7);
    List<String> things = List.of("tea", "rain", "jazz", "maps", "cats", "snow");
    Map<String, Map<String, TreeSet<Long>>> written = new TreeMap<>();
    List<Map.Entry<String, java.util.concurrent.Future<RecordMetadata>>> sent = new ArrayList<>();
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      int mxPairs = 0;
      int mxThumbs = 0;
      for (int i = 0; i < KT_THUMBS; i++) {
        String thing = things.get(random.nextInt(things.size()));
        sent.add(
            Map.entry(
                "kt",
                producer.send(
                    new ProducerRecord<>(
                        topics.unpaired(),
                        "kt",
                        unpaired.encode(
                            ConfluentAvro.subject(topics.unpaired(), false),
                            thumb("kt", i, thing, random.nextBoolean()))))));
        if (i % 2 == 0 && mxPairs < MX_PAIRS) {
          sent.add(
              Map.entry(
                  "mx",
                  producer.send(
                      new ProducerRecord<>(
                          topics.pairs(),
                          "mx",
                          pairs.encode(
                              ConfluentAvro.subject(topics.pairs(), false),
                              pair("mx", mxPairs++, thing))))));
        } else if (mxThumbs < MX_THUMBS) {
          sent.add(
              Map.entry(
                  "mx",
                  producer.send(
                      new ProducerRecord<>(
                          topics.unpaired(),
                          "mx",
                          unpaired.encode(
                              ConfluentAvro.subject(topics.unpaired(), false),
                              thumb("mx", mxThumbs++, thing, random.nextBoolean()))))));
        }
      }
      producer.flush();
      for (var e : sent) {
        RecordMetadata m = e.getValue().get();
        written
            .computeIfAbsent(e.getKey(), k -> new TreeMap<>())
            .computeIfAbsent(m.topic(), t -> new TreeSet<>())
            .add(m.offset());
      }
    }
    assertThat(written.get("mx").get(topics.pairs())).hasSize(MX_PAIRS);
    assertThat(written.get("mx").get(topics.unpaired())).hasSize(MX_THUMBS);
    return written;
  }

  private static UnpairedFeedback thumb(String model, int i, String thing, boolean up) {
    return UnpairedFeedback.newBuilder()
        .setFeedbackId(Sha256.hex(model + "-thumb-" + i))
        .setModelId(model)
        .setPrompt("What about " + thing + "?")
        .setResponse((up ? "I love " : "I hate ") + thing + ".")
        .setDesirable(up)
        .setEventIds(List.of(model + "-u" + i))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
        .build();
  }

  private static PreferencePair pair(String model, int i, String thing) {
    return PreferencePair.newBuilder()
        .setPairId(Sha256.hex(model + "-pair-" + i))
        .setModelId(model)
        .setPrompt("What about " + thing + "?")
        .setChosen("I love " + thing + ".")
        .setRejected("I hate " + thing + ".")
        .setKind(FeedbackKind.PAIRWISE)
        .setEventIds(List.of(model + "-p" + i))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
        .build();
  }

  private static Map<String, Object> client() {
    return Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
  }
}
