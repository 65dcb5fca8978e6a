package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.publisher.AdapterSink;
import dev.prefstream.publisher.SinkListener;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.stream.TrainerListener;
import java.net.ServerSocket;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/**
 * The meters the services' hooks feed, as Prometheus scrapes them, and the server's endpoints. The
 * hooks are called as the trainer and sink call them (the ITs run the real services).
 */
class TelemetryTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** A registry in which every prefstream meter has been created by its hook at least once. */
  static Telemetry everyMeterOnce() {
    Telemetry t = Telemetry.withRegistry();
    t.ready("trainer", () -> true);
    t.ingestMeters(
        () -> Map.of("pairwise", 5L, "served", 2L, "rejected", 1L),
        () -> Map.of("corrupt_avro", 1L));
    TrainerListener listener = t.trainerListener(TrainerListener.NONE);
    listener.onStep("m1", 1, true, 4, stepMetrics(0.69, 0.5, 0.01, 30));
    listener.onStep("m1", 1, false, 4, Map.of(MetricNames.STEP_MS, 12.0));
    listener.onStep("m1", 2, true, 4, stepMetrics(0.60, 0.75, 0.2, 40));
    Instant now = Instant.now();
    listener.onPublished(
        AdapterReportTest.manifest("m1", 1, now, 8, 0.6, 0.75, 0.2, 0.01),
        List.of(now.minusSeconds(3), now.minusSeconds(1)));
    listener.onRefused(
        VersionRefusal.newBuilder()
            .setModelId("m1")
            .setParentVersion(1L)
            .setCreatedAt(now)
            .setReason("gate_reward_accuracy")
            .setMessage("held-out reward accuracy 0.40 below 0.5")
            .setLineage(List.of())
            .setBatches(List.of())
            .setPairs(8)
            .setConfigHash("c")
            .setTrainerId("t")
            .setMetrics(Map.of(MetricNames.eval(MetricNames.KL), 0.02))
            .build());
    listener.onDeadLetter("m1", "unusable_pair");
    SinkListener sink = t.sinkListener();
    sink.onVersion("m1", 1, SinkListener.MATERIALIZED);
    sink.onReload("m1", 1, "ok", Duration.ofMillis(120));
    t.onMaterialized(m -> {})
        .accept(
            new AdapterSink.Materialized(
                "m1",
                1,
                Path.of("/nowhere/m1/v1"),
                AdapterReportTest.manifest("m1", 1, now, 8, 0.6, 0.75, 0.2, 0.01)));
    // the GC timer appears with the first collection the JVM reports
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (t.registry().find("jvm.gc.pause").timer() == null) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("no GC notification within 20 s of System.gc()");
      }
      System.gc();
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
    return t;
  }

  private static Map<String, Double> stepMetrics(
      double loss, double accuracy, double margin, double ms) {
    return Map.of(
        MetricNames.LOSS,
        loss,
        MetricNames.REWARD_ACCURACY,
        accuracy,
        MetricNames.REWARD_MARGINS,
        margin,
        MetricNames.STEP_MS,
        ms);
  }

  @Test
  void hooksBecomePrometheusSeriesWithConventionalNamesAndTheValuesGiven() {
    long started = System.nanoTime();
    try (Telemetry t = everyMeterOnce()) {
      double elapsed = (System.nanoTime() - started) / 1e9;
      PrometheusText p = PrometheusText.parse(t.registry().scrape());
      String m1 = "model=\"m1\"";
      assertThat(p.sum("prefstream_trainer_steps_total", m1, "outcome=\"applied\"")).isEqualTo(2);
      assertThat(p.sum("prefstream_trainer_steps_total", m1, "outcome=\"skipped\"")).isEqualTo(1);
      assertThat(p.sum("prefstream_trainer_pairs_trained_total", m1)).isEqualTo(8);
      assertThat(p.sum("prefstream_trainer_step_duration_seconds_count", m1)).isEqualTo(3);
      assertThat(p.sum("prefstream_trainer_step_duration_seconds_sum", m1))
          .isCloseTo(0.082, org.assertj.core.data.Offset.offset(1e-6));
      // gauges hold the last applied batch, not the skipped one
      assertThat(p.sum("prefstream_trainer_loss", m1)).isEqualTo(0.60);
      assertThat(p.sum("prefstream_trainer_reward_accuracy", m1)).isEqualTo(0.75);
      assertThat(p.sum("prefstream_trainer_reward_margin", m1)).isEqualTo(0.2);
      // the refusal's evaluation came last
      assertThat(p.sum("prefstream_trainer_kl", m1)).isEqualTo(0.02);
      assertThat(p.sum("prefstream_trainer_eval_reward_accuracy", m1)).isEqualTo(0.7);
      assertThat(p.sum("prefstream_trainer_version", m1)).isEqualTo(1);
      assertThat(p.sum("prefstream_trainer_versions_published_total", m1)).isEqualTo(1);
      assertThat(
              p.sum(
                  "prefstream_trainer_versions_refused_total",
                  m1,
                  "reason=\"gate_reward_accuracy\""))
          .isEqualTo(1);
      assertThat(p.sum("prefstream_freshness_committed_seconds_count", m1)).isEqualTo(2);
      // a histogram: cumulative buckets, 1 s and 3 s fall under le=5 or so, none below 0.5 s
      assertThat(p.names()).contains("prefstream_freshness_committed_seconds_bucket");
      assertThat(p.sum("prefstream_freshness_committed_seconds_sum", m1))
          .as("3 s + 1 s, plus at most twice the time the hooks took")
          .isBetween(4.0, 4.0 + 2 * elapsed + 0.002);
      assertThat(p.sum("prefstream_freshness_on_disk_seconds_count", m1)).isEqualTo(8);
      assertThat(p.sum("prefstream_ingest_events_total", "kind=\"pairwise\"")).isEqualTo(5);
      assertThat(p.sum("prefstream_ingest_events_total", "kind=\"ranked\"")).isEqualTo(0);
      assertThat(
              p.sum("prefstream_dead_letters_total", "reason=\"corrupt_avro\"", "stage=\"ingest\""))
          .isEqualTo(1);
      assertThat(
              p.sum(
                  "prefstream_dead_letters_total", "reason=\"unusable_pair\"", "stage=\"trainer\""))
          .isEqualTo(1);
      assertThat(p.sum("prefstream_sink_versions_total", m1, "outcome=\"materialized\""))
          .isEqualTo(1);
      assertThat(p.sum("prefstream_sink_reloads_total", m1, "outcome=\"ok\"")).isEqualTo(1);
      assertThat(p.sum("prefstream_sink_reload_duration_seconds_sum", "outcome=\"ok\""))
          .isEqualTo(0.12);
      assertThat(p.names()).contains("jvm_memory_used_bytes", "process_cpu_usage");
      assertThat(p.sum("prefstream_ready", "component=\"trainer\"")).isEqualTo(1);
    }
  }

  @Test
  void ingestCountersKeepReadingAfterAGarbageCollection() {
    try (Telemetry t = Telemetry.withRegistry()) {
      java.util.concurrent.atomic.AtomicLong events = new java.util.concurrent.atomic.AtomicLong();
      // capturing lambdas, as method references to a running ingest are: only Telemetry holds them
      t.ingestMeters(
          () -> Map.of("pairwise", events.get()), () -> Map.of("corrupt_avro", events.get()));
      events.set(7);
      for (int i = 0; i < 3; i++) {
        System.gc();
      }
      PrometheusText p = PrometheusText.parse(t.registry().scrape());
      assertThat(p.sum("prefstream_ingest_events_total", "kind=\"pairwise\"")).isEqualTo(7);
      assertThat(p.sum("prefstream_dead_letters_total", "reason=\"corrupt_avro\"")).isEqualTo(7);
    }
  }

  @Test
  void untrustedModelIdsDoNotBecomeLabelValues() {
    try (Telemetry t = Telemetry.withRegistry()) {
      t.trainerListener(TrainerListener.NONE)
          .onStep("../../etc\"}", 1, true, 1, Map.of(MetricNames.LOSS, 1.0));
      PrometheusText p = PrometheusText.parse(t.registry().scrape());
      assertThat(p.sum("prefstream_trainer_steps_total", "model=\"invalid\"")).isEqualTo(1);
      assertThat(p.series().keySet()).noneMatch(s -> s.contains("etc"));
    }
  }

  @Test
  void healthIs503UntilEveryComponentIsReadyThen200() throws Exception {
    AtomicBoolean ready = new AtomicBoolean();
    try (Telemetry t = Telemetry.withRegistry();
        MetricsServer server =
            MetricsServer.start(
                "127.0.0.1", 0, t.registry(), () -> Map.of("trainer", ready.get(), "sink", true))) {
      HttpResponse<String> starting = PrometheusText.get(server.port(), "/health");
      assertThat(starting.statusCode()).isEqualTo(503);
      JsonNode body = JSON.readTree(starting.body());
      assertThat(body.path("status").asText()).isEqualTo("starting");
      assertThat(body.path("components").path("trainer").asText()).isEqualTo("starting");
      assertThat(body.path("components").path("sink").asText()).isEqualTo("ready");
      assertThat(PrometheusText.get(server.port(), "/health/live").statusCode()).isEqualTo(200);

      ready.set(true);
      HttpResponse<String> up = PrometheusText.get(server.port(), "/health");
      assertThat(up.statusCode()).isEqualTo(200);
      assertThat(JSON.readTree(up.body()).path("status").asText()).isEqualTo("ready");

      HttpResponse<String> metrics = PrometheusText.get(server.port(), "/metrics");
      assertThat(metrics.statusCode()).isEqualTo(200);
      assertThat(metrics.headers().firstValue("Content-Type"))
          .hasValueSatisfying(c -> assertThat(c).startsWith("text/plain; version=0.0.4"));
      assertThat(PrometheusText.parse(metrics.body()).names()).contains("jvm_threads_live_threads");
    }
  }

  @Test
  void noComponentMeansNotReady() throws Exception {
    try (Telemetry t = Telemetry.withRegistry();
        MetricsServer server = MetricsServer.start("127.0.0.1", 0, t.registry(), Map::of)) {
      assertThat(PrometheusText.get(server.port(), "/health").statusCode()).isEqualTo(503);
    }
  }

  @Test
  void portZeroIsOffAndABadPortOrABusyOneFailsAtStartNamingTheKey() throws Exception {
    assertThat(Telemetry.start(new CommonConfig(Map.of())).on()).isFalse();
    assertThatThrownBy(() -> new CommonConfig(Map.of(CommonConfig.METRICS_PORT_CONFIG, "70000")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("metrics.port")
        .hasMessageContaining("70000");
    try (ServerSocket busy = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      assertThatThrownBy(
              () ->
                  Telemetry.start(
                      new CommonConfig(
                          Map.of(
                              CommonConfig.METRICS_PORT_CONFIG,
                              Integer.toString(busy.getLocalPort())))))
          .isInstanceOf(ConfigException.class)
          .hasMessageContaining("metrics.port")
          .hasMessageContaining(Integer.toString(busy.getLocalPort()));
    }
  }
}
