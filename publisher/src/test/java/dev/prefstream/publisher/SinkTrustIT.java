package dev.prefstream.publisher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
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
 * The sink against records written straight onto the adapters topic by someone who is not the
 * trainer, and its reload into a vLLM-contract server (with the latency of both).
 */
class SinkTrustIT {
  @TempDir static Path dataDir;
  static EmbeddedStack stack;
  static Map<String, Object> client;
  static Topics topics = Topics.withDefaultPrefix();
  static RestSchemaRegistry registry;

  @BeforeAll
  static void start() throws Exception {
    stack = EmbeddedStack.start(dataDir.resolve("kafka"));
    client = Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
    try (Admin admin = Admin.create(client)) {
      TopicAdmin.ensure(admin, topics.all(1), (short) -1);
    }
    registry = new RestSchemaRegistry(stack.registryUrl());
    SigningKeys.write(SigningKeys.generate(), dataDir.resolve("keys"));
    SigningKeys.write(SigningKeys.generate(), dataDir.resolve("intruder"));
  }

  @AfterAll
  static void stop() {
    if (stack != null) {
      stack.close();
    }
  }

  private static SinkConfig sinkConfig(Path dir, Map<String, Object> more) {
    Map<String, Object> props = new HashMap<>(client);
    props.put(SinkConfig.DIR_CONFIG, dir.toString());
    props.put(SinkConfig.TRUSTED_KEYS_CONFIG, dataDir.resolve("keys/signing.pub").toString());
    props.putAll(more);
    return new SinkConfig(props);
  }

  /** Writes raw values onto the adapters topic, as any client with access could. */
  private static void writeRaw(List<ProducerRecord<String, byte[]>> records) {
    Map<String, Object> props = new HashMap<>(client);
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
    try (KafkaProducer<String, byte[]> p =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      records.forEach(p::send);
      p.flush();
    }
  }

  private static ProducerRecord<String, byte[]> raw(String key, Object payload) {
    ConfluentAvro<AdapterRecord> codec = new ConfluentAvro<>(AdapterRecord.class, registry, true);
    return new ProducerRecord<>(
        topics.adapters(),
        key,
        codec.encode(ConfluentAvro.subject(topics.adapters(), false), new AdapterRecord(payload)));
  }

  /** A whole version, chunks then manifest, as raw records. */
  private static List<ProducerRecord<String, byte[]>> version(
      String key, AdapterManifest manifest, AdapterFiles files) {
    List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
    for (AdapterFile f : manifest.getFiles()) {
      byte[] data = files.files().getOrDefault(f.getName(), new byte[0]);
      out.add(
          raw(
              key,
              new AdapterChunk(
                  manifest.getModelId(),
                  manifest.getVersion(),
                  f.getName(),
                  0,
                  1,
                  ByteBuffer.wrap(data))));
    }
    out.add(raw(key, manifest));
    return out;
  }

  private static AdapterManifest withModel(AdapterManifest m, String model) {
    return AdapterManifest.newBuilder(m).setModelId(model).build();
  }

  @Test
  void forgedTamperedUnsignedAndHostileRecordsAreRefusedAndTheSinkGoesOn() throws Exception {
    Path outer = dataDir.resolve("outer");
    Path sinkDir = outer.resolve("sink");
    Files.createDirectories(sinkDir);
    ManifestSigner signer = ManifestSigner.fromFile(dataDir.resolve("keys/signing.key"));
    ManifestSigner intruder = ManifestSigner.fromFile(dataDir.resolve("intruder/signing.key"));
    BlockingQueue<AdapterSink.Materialized> seen = new LinkedBlockingQueue<>();
    Counters counters = new Counters();
    AdapterSink sink =
        new AdapterSink(
            sinkConfig(sinkDir, Map.of()), registry, seen::add, counters, (e, m, v, n, ok) -> {});
    Thread thread = new Thread(sink, "sink");
    thread.start();
    try (AdapterPublisher publisher =
        new AdapterPublisher(client, "trust-m", topics, registry, 1024)) {
      AdapterFiles v1Files = TestManifests.files(5000, 1);
      AdapterManifest v1 =
          publisher
              .publish(
                  TestManifests.builder("m", 1),
                  v1Files,
                  AdapterPublisher.Alongside.NOTHING,
                  signer)
              .manifest();
      assertThat(seen.poll(60, TimeUnit.SECONDS)).isNotNull();

      AdapterFiles evil = TestManifests.files(5000, 666);
      AdapterManifest evilManifest = TestManifests.complete("m", 2, evil);
      List<ProducerRecord<String, byte[]>> hostile = new ArrayList<>();
      // a copy of the real v1 manifest renumbered, with the forged weights' sha256
      hostile.addAll(
          version(
              "m",
              AdapterManifest.newBuilder(evilManifest)
                  .setSignature(v1.getSignature())
                  .setSigningKeyId(v1.getSigningKeyId())
                  .build(),
              evil));
      hostile.addAll(version("m", evilManifest, evil)); // unsigned
      hostile.addAll(version("m", intruder.sign(evilManifest), evil)); // unknown key
      for (String climbing : List.of("../../pwned-1", "/tmp/pwned-2", "..", "a\u0000b")) {
        hostile.addAll(version(climbing, signer.sign(withModel(evilManifest, climbing)), evil));
      }
      hostile.add(
          raw("m", new AdapterChunk("m", 2L, "../../evil", 0, 1, ByteBuffer.wrap(new byte[4]))));
      List<AdapterFile> escaping = new ArrayList<>(evilManifest.getFiles());
      escaping.add(new AdapterFile("../escape.txt", 4L, "00".repeat(32), 1));
      hostile.add(
          raw(
              "m",
              signer.sign(AdapterManifest.newBuilder(evilManifest).setFiles(escaping).build())));
      List<AdapterFile> huge = new ArrayList<>(evilManifest.getFiles());
      AdapterFile w = huge.get(1);
      huge.set(1, new AdapterFile(w.getName(), 1L << 31, w.getSha256(), 3));
      hostile.add(
          raw("m", signer.sign(AdapterManifest.newBuilder(evilManifest).setFiles(huge).build())));
      hostile.add(
          raw(
              "m",
              signer.sign(
                  AdapterManifest.newBuilder(evilManifest)
                      .setFiles(List.of(evilManifest.getFiles().get(0)))
                      .build())));
      hostile.add(new ProducerRecord<>(topics.adapters(), "m", "garbage".getBytes()));
      hostile.add(new ProducerRecord<>(topics.adapters(), "m", new byte[0]));
      hostile.add(new ProducerRecord<>(topics.adapters(), null, new byte[] {0, 0, 0, 0, 1, 2}));
      byte[] truncated = raw("m", evilManifest).value();
      hostile.add(
          new ProducerRecord<>(
              topics.adapters(), "m", Arrays.copyOf(truncated, truncated.length / 2)));
      hostile.add(new ProducerRecord<>(topics.adapters(), "m", new byte[] {0, 0x7f, 0, 0, 0, 1}));
      writeRaw(hostile);

      AdapterFiles v2Files = TestManifests.files(5000, 2);
      publisher.publish(
          TestManifests.builder("m", 2), v2Files, AdapterPublisher.Alongside.NOTHING, signer);
      AdapterSink.Materialized v2 = seen.poll(60, TimeUnit.SECONDS);
      assertThat(v2).as("the next legitimate version arrives").isNotNull();
      assertThat(v2.version()).isEqualTo(2);
      assertThat(Files.readAllBytes(sinkDir.resolve("m/latest/adapter_model.safetensors")))
          .isEqualTo(v2Files.weights());
      assertThat(thread.isAlive()).isTrue();

      Map<String, Long> c = counters.snapshot();
      assertThat(c)
          .containsEntry("materialized", 2L)
          .containsEntry("refused.bad_signature", 1L)
          .containsEntry("refused.unsigned", 1L)
          .containsEntry("refused.unknown_key", 1L)
          .containsEntry("skipped.invalid_model_id", 12L) // 4 ids x (2 chunks + manifest)
          .containsEntry("skipped.invalid_file_name", 2L)
          .containsEntry("skipped.too_large", 1L)
          .containsEntry("skipped.invalid_manifest", 1L)
          .containsEntry("skipped.unreadable", 5L);
      try (Stream<Path> all = Files.walk(outer)) {
        assertThat(all.filter(Files::isRegularFile).map(p -> p.toString()))
            .as("nothing outside the sink directory, nothing but v1 and v2 in it")
            .allMatch(
                p ->
                    p.startsWith(sinkDir.resolve("m/v1") + "/")
                        || p.startsWith(sinkDir.resolve("m/v2") + "/"));
      }
      assertThat(Path.of("/tmp/pwned-2")).doesNotExist();

      // adapters list reads past the garbage
      AdapterLog all = AdapterLog.read(client, topics, registry, "m", null);
      assertThat(all.versions()).extracting(AdapterManifest::getVersion).containsExactly(1L, 2L);
      assertThat(all.skipped()).containsKey("skipped.unreadable");
      AdapterLog trusted = AdapterLog.read(client, topics, registry, "m", 2L, signer.ownVerifier());
      assertThat(trusted.versions())
          .extracting(AdapterManifest::getSha256)
          .containsExactly(v1.getSha256(), v2Files.sha256());
      assertThat(trusted.files().orElseThrow().weights()).isEqualTo(v2Files.weights());
      assertThat(trusted.skipped()).containsKeys("refused.unsigned", "refused.unknown_key");
    } finally {
      sink.close();
      thread.join(30_000);
    }
  }

  /**
   * Each version loaded into a vLLM-contract server as {@code m@v<N>}, the previous name unloaded;
   * prints the time from a version's commit (publish returned) to its directory on disk and to the
   * load call reaching the server, p50/p99. A measurement, not a timed assertion.
   */
  @Test
  void versionsReachAVllmContractServerAndTheLatencyIsMeasured() throws Exception {
    int n = Integer.getInteger("prefstream.latency.versions", 30);
    Path sinkDir = dataDir.resolve("reload-sink");
    ManifestSigner signer = ManifestSigner.fromFile(dataDir.resolve("keys/signing.key"));
    BlockingQueue<Long> onDisk = new LinkedBlockingQueue<>();
    BlockingQueue<Long> loadedOk = new LinkedBlockingQueue<>();
    Topics own = new Topics("latency."); // a topic of its own: the other test's records stay out
    try (Admin admin = Admin.create(client)) {
      TopicAdmin.ensure(admin, own.all(1), (short) -1);
    }
    try (VllmContractServer vllm = new VllmContractServer(TestManifests.BASE, 16, false)) {
      Counters counters = new Counters();
      AdapterSink sink =
          new AdapterSink(
              sinkConfig(
                  sinkDir,
                  Map.of(
                      SinkConfig.VLLM_URLS_CONFIG,
                      vllm.url(),
                      SinkConfig.PRUNE_GRACE_MS_CONFIG,
                      0,
                      SinkConfig.GROUP_ID_CONFIG,
                      "reload-sink",
                      CommonConfig.TOPIC_PREFIX_CONFIG,
                      "latency.")),
              registry,
              m -> onDisk.add(System.nanoTime()),
              counters,
              (e, m, v, name, ok) -> loadedOk.add(ok ? 1L : 0L));
      Thread thread = new Thread(sink, "sink");
      thread.start();
      long[] toDisk = new long[n];
      long[] toLoad = new long[n];
      try (AdapterPublisher publisher =
          new AdapterPublisher(client, "reload-m", own, registry, 1 << 16)) {
        for (int i = 0; i < n; i++) {
          publisher.publish(
              TestManifests.builder("r", i + 1),
              TestManifests.files(64_000, i),
              AdapterPublisher.Alongside.NOTHING,
              signer);
          long committed = System.nanoTime();
          Long disk = onDisk.poll(60, TimeUnit.SECONDS);
          assertThat(disk).as("v%d on disk", i + 1).isNotNull();
          VllmContractServer.Call load;
          do {
            load = vllm.calls.poll(60, TimeUnit.SECONDS);
            assertThat(load).as("a load call for v%d", i + 1).isNotNull();
          } while (!load.path().equals("/v1/load_lora_adapter"));
          assertThat(load.status()).isEqualTo(200);
          assertThat(load.body().get("lora_name").asText()).isEqualTo("r@v" + (i + 1));
          assertThat(loadedOk.poll(60, TimeUnit.SECONDS)).isEqualTo(1L);
          toDisk[i] = disk - committed;
          toLoad[i] = load.receivedNanos() - committed;
        }
      } finally {
        sink.close();
        thread.join(30_000);
      }
      assertThat(vllm.loaded()).containsKey("r@v" + n);
      assertThat(counters.get("engine.vllm " + vllm.url() + ".load.ok")).isEqualTo(n);
      System.out.printf(
          "LATENCY commit->directory on disk p50 %.1f ms p99 %.1f ms; commit->vLLM load call p50"
              + " %.1f ms p99 %.1f ms (%d versions of 64 KB)%n",
          percentile(toDisk, 50),
          percentile(toDisk, 99),
          percentile(toLoad, 50),
          percentile(toLoad, 99),
          n);
    }
  }

  private static double percentile(long[] nanos, int p) {
    long[] sorted = nanos.clone();
    Arrays.sort(sorted);
    int index = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
    return sorted[Math.max(0, index)] / 1e6;
  }
}
