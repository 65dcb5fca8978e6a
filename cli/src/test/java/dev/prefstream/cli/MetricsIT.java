package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import javax.imageio.ImageIO;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * The metrics a person scrapes: the trainer command and the demo run as separate JVMs with {@code
 * --metrics-port}; {@code /metrics} and {@code /health} are read over loopback while they work.
 */
class MetricsIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MODEL = "m1";
  private static final long WAIT_NANOS = TimeUnit.MINUTES.toNanos(4);

  @TempDir(cleanup = CleanupMode.ON_SUCCESS)
  Path dir;

  @Test
  void trainerMetricsMoveAsItTrainsAndHealthGoesReady() throws Exception {
    try (EmbeddedStack stack = EmbeddedStack.start(dir.resolve("stack"))) {
      Topics topics = new Topics("metrics.");
      Map<String, Object> client =
          Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      try (Admin admin = Admin.create(client)) {
        TopicAdmin.ensure(admin, topics.all(1), (short) -1);
      }
      RestSchemaRegistry registry = new RestSchemaRegistry(stack.registryUrl());
      Path model = dir.resolve("model");
      ModelInit.write(
          model, ModelInit.Spec.builder("llama").optSeed(11).optMaxPositions(128).build());
      produce(client, registry, topics, 0, 24, true);

      int port = freePort();
      Path log = dir.resolve("trainer.log");
      Process trainer =
          start(
              log,
              "trainer",
              "--bootstrap-servers",
              stack.bootstrapServers(),
              "--registry-url",
              stack.registryUrl(),
              "--model-dir",
              model.toString(),
              "--metrics-port",
              Integer.toString(port),
              "--batch-size",
              "4",
              "--publish-every-steps",
              "2",
              "-D",
              "topic.prefix=" + topics.prefix(),
              "-D",
              "trainer.publish.every.ms=0",
              "-D",
              "trainer.batch.max.wait.ms=0",
              "-D",
              "trainer.max.length=64",
              "-D",
              "trainer.holdout.percent=20",
              "-D",
              "gate.max.kl=100");
      try {
        JsonNode health = awaitReady(port, trainer, log);
        assertThat(health.path("components").path("trainer").asText()).isEqualTo("ready");

        String m1 = "model=\"" + MODEL + "\"";
        PrometheusText first =
            await(
                port,
                trainer,
                log,
                "a first version",
                p -> p.sum("prefstream_trainer_versions_published_total", m1) >= 1);
        produce(client, registry, topics, 24, 24, false);
        List<String> moving =
            List.of(
                "prefstream_trainer_steps_total",
                "prefstream_trainer_pairs_trained_total",
                "prefstream_trainer_step_duration_seconds_count",
                "prefstream_trainer_versions_published_total",
                "prefstream_freshness_committed_seconds_count",
                "prefstream_trainer_version");
        // every counter asserted below has moved: a version published after the first scrape may
        // hold only steps taken before it
        PrometheusText later =
            await(
                port,
                trainer,
                log,
                "a version from the second lot of pairs",
                p ->
                    moving.stream().allMatch(c -> p.sum(c, m1) > first.sum(c, m1))
                        && p.sum("prefstream_trainer_pairs_trained_total", m1) > 24 * 0.8 - 4
                        && !Double.isNaN(
                            p.sum(
                                "kafka_consumer_fetch_manager_records_lag",
                                "component=\"trainer\"")));

        for (String name :
            List.of(
                "prefstream_trainer_steps_total",
                "prefstream_trainer_pairs_trained_total",
                "prefstream_trainer_step_duration_seconds_count",
                "prefstream_trainer_step_duration_seconds_bucket",
                "prefstream_trainer_loss",
                "prefstream_trainer_reward_accuracy",
                "prefstream_trainer_reward_margin",
                "prefstream_trainer_kl",
                "prefstream_trainer_eval_reward_accuracy",
                "prefstream_trainer_version",
                "prefstream_trainer_versions_published_total",
                "prefstream_freshness_committed_seconds_bucket",
                "prefstream_dead_letters_total",
                "prefstream_ready",
                "kafka_consumer_fetch_manager_records_lag",
                "jvm_memory_used_bytes",
                "jvm_threads_live_threads",
                "process_cpu_usage")) {
          assertThat(later.names()).as(name).contains(name);
        }
        for (String counter : moving) {
          assertThat(later.sum(counter, m1)).as(counter).isGreaterThan(first.sum(counter, m1));
        }
        assertThat(later.sum("prefstream_trainer_loss", m1)).isFinite().isPositive();
        assertThat(later.sum("prefstream_trainer_kl", m1)).isFinite().isNotNegative();
        // the garbage record on pairs is a dead letter of the trainer stage
        assertThat(
                later.sum(
                    "prefstream_dead_letters_total",
                    "stage=\"trainer\"",
                    "reason=\"bad_magic_byte\""))
            .isEqualTo(1);
        assertThat(later.sum("prefstream_ready", "component=\"trainer\"")).isEqualTo(1);
      } finally {
        trainer.destroy();
        assertThat(trainer.waitFor(60, TimeUnit.SECONDS)).isTrue();
      }

      // the report of what was published, past a garbage record on the adapters topic
      try (KafkaProducer<String, byte[]> producer =
          new KafkaProducer<>(client, new StringSerializer(), new ByteArraySerializer())) {
        producer.send(
            new ProducerRecord<>(
                topics.adapters(), MODEL, "garbage".getBytes(StandardCharsets.UTF_8)));
      }
      Map<String, Object> settings = new HashMap<>(client);
      settings.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
      settings.put(CommonConfig.TOPIC_PREFIX_CONFIG, topics.prefix());
      AdapterHistory history = AdapterHistory.read(new CommonConfig(settings), MODEL);
      assertThat(history.versions()).hasSizeGreaterThanOrEqualTo(2);
      assertThat(history.skippedByReason()).containsEntry("bad_magic_byte", 1);
      assertThat(history.skipped())
          .singleElement()
          .asString()
          .startsWith(topics.adapters() + "-0@");
      Path png = dir.resolve("report.png");
      int exit =
          PrefstreamCli.commandLine()
              .execute(
                  "adapters",
                  "report",
                  "--bootstrap-servers",
                  stack.bootstrapServers(),
                  "--registry-url",
                  stack.registryUrl(),
                  "-D",
                  "topic.prefix=" + topics.prefix(),
                  "--model",
                  MODEL,
                  "--out",
                  png.toString());
      assertThat(exit).isZero();
      BufferedImage image = ImageIO.read(png.toFile());
      assertThat(image.getWidth()).isEqualTo(AdapterReport.width());
    }
  }

  @Test
  void theDemoServesEveryComponentsMetricsAndWritesAReportAtExit() throws Exception {
    int port = freePort();
    Path data = dir.resolve("demo");
    Path log = dir.resolve("demo.log");
    Process demo =
        start(
            log,
            "demo",
            "--data-dir",
            data.toString(),
            "--metrics-port",
            Integer.toString(port),
            "--publish-every-steps",
            "2");
    try {
      JsonNode health = awaitReady(port, demo, log);
      assertThat(health.path("components").fieldNames())
          .toIterable()
          .containsExactlyInAnyOrder("ingest", "trainer", "sink");
      Set<String> kafkaNames = DashboardTest.names(DashboardTest.KAFKA);
      PrometheusText p =
          await(
              port,
              demo,
              log,
              "two versions on disk and every Kafka series the dashboard shows",
              s ->
                  s.sum("prefstream_sink_versions_total", "outcome=\"materialized\"") >= 2
                      && s.names().containsAll(kafkaNames)
                      && s.sum("kafka_consumer_fetch_manager_records_lag", "component=\"ingest\"")
                          >= 0
                      && s.sum("kafka_consumer_fetch_manager_records_lag", "component=\"sink\"")
                          >= 0);
      assertThat(p.sum("prefstream_ingest_events_total", "kind=\"pairwise\"")).isPositive();
      assertThat(p.sum("prefstream_freshness_on_disk_seconds_count", "model=\"demo\""))
          .isPositive();
      assertThat(p.sum("prefstream_freshness_committed_seconds_count", "model=\"demo\""))
          .isPositive();
      assertThat(p.names())
          .contains("prefstream_dead_letters_total", "kafka_stream_thread_process_rate");
    } finally {
      new ProcessBuilder("kill", "-INT", Long.toString(demo.pid())).start().waitFor();
      assertThat(demo.waitFor(90, TimeUnit.SECONDS)).as(Files.readString(log)).isTrue();
    }
    Path png = data.resolve("report-demo.png");
    Path html = data.resolve("report-demo.html");
    assertThat(png).as(Files.readString(log)).exists();
    BufferedImage image = ImageIO.read(png.toFile());
    assertThat(image.getWidth()).isEqualTo(AdapterReport.width());
    assertThat(Files.readString(html)).contains("data:image/png;base64,", "<td>v2</td>");
  }

  // ------------------------------------------------------------------ helpers

  private static JsonNode awaitReady(int port, Process process, Path log) throws Exception {
    long deadline = System.nanoTime() + WAIT_NANOS;
    String last = "no answer";
    while (System.nanoTime() < deadline) {
      assertAlive(process, log);
      try {
        HttpResponse<String> r = PrometheusText.get(port, "/health");
        last = r.statusCode() + " " + r.body();
        JsonNode body = JSON.readTree(r.body());
        assertThat(r.statusCode()).isIn(200, 503);
        assertThat(body.path("status").asText())
            .isEqualTo(r.statusCode() == 200 ? "ready" : "starting");
        if (r.statusCode() == 200) {
          return body;
        }
      } catch (IOException e) {
        last = e.toString(); // not listening yet
      }
      Thread.sleep(200);
    }
    throw new AssertionError("/health never became ready; last: " + last + "\n" + tail(log));
  }

  private static PrometheusText await(
      int port, Process process, Path log, String what, Predicate<PrometheusText> condition)
      throws Exception {
    long deadline = System.nanoTime() + WAIT_NANOS;
    PrometheusText last = null;
    while (System.nanoTime() < deadline) {
      assertAlive(process, log);
      last = PrometheusText.scrape(port);
      if (condition.test(last)) {
        return last;
      }
      Thread.sleep(500);
    }
    StringBuilder shown = new StringBuilder();
    if (last != null) {
      last.series()
          .forEach(
              (s, v) -> {
                if (s.startsWith("prefstream_")
                    || s.startsWith("kafka_consumer_fetch_manager_records_lag{")) {
                  shown.append(s).append(' ').append(v).append('\n');
                }
              });
    }
    throw new AssertionError(
        "no "
            + what
            + " within the wait; last scrape:\n"
            + shown
            + tail(log)
            + "\n"
            + threadDump(process));
  }

  private static String threadDump(Process process) {
    return ChildCli.threadDump(process);
  }

  private static void assertAlive(Process process, Path log) throws IOException {
    if (!process.isAlive()) {
      throw new AssertionError("the process exited (" + process.exitValue() + "):\n" + tail(log));
    }
  }

  private static String tail(Path log) {
    return ChildCli.tail(log);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static void produce(
      Map<String, Object> client,
      RestSchemaRegistry registry,
      Topics topics,
      int from,
      int count,
      boolean withGarbage) {
    ConfluentAvro<PreferencePair> codec = new ConfluentAvro<>(PreferencePair.class, registry, true);
    String subject = ConfluentAvro.subject(topics.pairs(), false);
    Map<String, Object> props = new HashMap<>(client);
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    List<String> things = List.of("tea", "rain", "jazz", "maps", "cats", "snow");
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      if (withGarbage) {
        producer.send(
            new ProducerRecord<>(
                topics.pairs(), MODEL, "not avro at all".getBytes(StandardCharsets.UTF_8)));
      }
      for (int i = from; i < from + count; i++) {
        String thing = things.get(i % things.size());
        PreferencePair pair =
            PreferencePair.newBuilder()
                .setPairId(Sha256.hex("pair-" + i)) // hex sha-256: the held-out split reads it
                .setModelId(MODEL)
                .setPrompt("What about " + thing + "?")
                .setChosen("I love " + thing + ".")
                .setRejected("I hate " + thing + ".")
                .setKind(FeedbackKind.PAIRWISE)
                .setEventIds(List.of("e" + i))
                .setSource("test")
                .setOccurredAt(Instant.now())
                .build();
        producer.send(new ProducerRecord<>(topics.pairs(), MODEL, codec.encode(subject, pair)));
      }
    }
  }

  private static Process start(Path log, String... args) throws Exception {
    return ChildCli.start(log, List.of(args));
  }
}
