package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The committed Grafana dashboard refers only to series prefstream serves: every prefstream_, jvm_,
 * process_ and system_ name in its PromQL is one the code registers (scraped from a registry in
 * which every meter was created by its hook); the kafka_ names are checked against a real scrape by
 * {@code MetricsIT}.
 */
class DashboardTest {
  static final Path DASHBOARD =
      Path.of("..", "compose", "grafana", "dashboards", "prefstream.json");
  static final Pattern OURS = Pattern.compile("\\b(prefstream|jvm|process|system)_[a-z0-9_]+\\b");
  static final Pattern KAFKA = Pattern.compile("\\bkafka_[a-z0-9_]+\\b");

  /** Every PromQL expression of the dashboard: panel targets and template variable queries. */
  static List<String> expressions() throws Exception {
    JsonNode root = new ObjectMapper().readTree(DASHBOARD.toFile());
    List<String> exprs = new ArrayList<>();
    root.findValues("expr").forEach(e -> exprs.add(e.asText()));
    root.path("templating")
        .path("list")
        .findValues("definition")
        .forEach(e -> exprs.add(e.asText()));
    return exprs;
  }

  static Set<String> names(Pattern family) throws Exception {
    Set<String> names = new TreeSet<>();
    for (String e : expressions()) {
      names.addAll(PrometheusText.namesIn(e, family));
    }
    return names;
  }

  @Test
  void everyMetricTheDashboardQueriesIsOneTheCodeRegisters() throws Exception {
    Set<String> registered;
    try (Telemetry t = TelemetryTest.everyMeterOnce()) {
      registered = PrometheusText.parse(t.registry().scrape()).names();
    }
    Set<String> queried = names(OURS);
    assertThat(queried).as("names in the dashboard").hasSizeGreaterThan(15);
    assertThat(registered).containsAll(queried);
    assertThat(names(KAFKA)).isNotEmpty();
  }

  @Test
  void everyPanelHasAQueryAndItsOwnIdAndTheIssuesTopicsAreThere() throws Exception {
    JsonNode root = new ObjectMapper().readTree(DASHBOARD.toFile());
    assertThat(root.path("uid").asText()).isEqualTo("prefstream");
    Set<Integer> ids = new HashSet<>();
    List<String> titles = new ArrayList<>();
    for (JsonNode panel : root.path("panels")) {
      assertThat(ids.add(panel.path("id").asInt())).as("unique id " + panel.path("id")).isTrue();
      JsonNode grid = panel.path("gridPos");
      assertThat(grid.path("x").asInt() + grid.path("w").asInt()).isLessThanOrEqualTo(24);
      if (!panel.path("type").asText().equals("row")) {
        assertThat(panel.path("targets").size()).as(panel.path("title").asText()).isPositive();
        titles.add(panel.path("title").asText());
      }
    }
    String all = String.join("\n", expressions());
    // the issue's list: each shown by at least one query
    for (String name :
        List.of(
            "prefstream_ingest_events_total",
            "prefstream_dead_letters_total",
            "prefstream_trainer_loss",
            "prefstream_trainer_reward_accuracy",
            "prefstream_trainer_reward_margin",
            "prefstream_trainer_kl",
            "prefstream_trainer_pairs_trained_total",
            "prefstream_trainer_steps_total",
            "prefstream_trainer_step_duration_seconds_bucket",
            "prefstream_trainer_versions_published_total",
            "prefstream_trainer_versions_refused_total",
            "kafka_consumer_fetch_manager_records_lag",
            "prefstream_freshness_committed_seconds_bucket",
            "prefstream_freshness_on_disk_seconds_bucket",
            "prefstream_sink_versions_total",
            "prefstream_sink_reloads_total",
            "jvm_memory_used_bytes")) {
      assertThat(all).as(name).contains(name);
    }
    assertThat(titles).hasSizeGreaterThanOrEqualTo(20);
  }
}
