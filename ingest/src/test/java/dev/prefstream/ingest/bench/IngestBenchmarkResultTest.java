package dev.prefstream.ingest.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;

class IngestBenchmarkResultTest {

  @Test
  void theSummaryIsTheBestOfTheWarmRoundsUnderTheContractedNames() {
    IngestBenchmark.Result result =
        new IngestBenchmark.Result(
            1000,
            1200,
            2,
            1,
            100,
            List.of(
                // a cold round faster than every warm one must not count
                new IngestBenchmark.Round(1, 900_000, 5, 10, 0, 900, 800_000, 9, 20, 0, 900),
                new IngestBenchmark.Round(2, 100_000, 1, 10, 0.5, 900, 30_000, 2, 40, 1.25, 900),
                new IngestBenchmark.Round(3, 120_000, 1, 10, 0, 900, 20_000, 2, 50, 0, 900)));
    Map<String, Object> json = result.json();
    assertThat(json.get("pipe_events_per_second")).isEqualTo(120_000.0);
    assertThat(json.get("ingest_events_per_second")).isEqualTo(30_000.0);
    assertThat(json.get("ratio")).isEqualTo(0.25);
    // CPU ratios of the warm rounds: 10/40 and 10/50; their median
    assertThat(json.get("cpu_ratio")).isEqualTo(0.225);
    assertThat((List<?>) json.get("rounds")).hasSize(3);
    Map<?, ?> second = (Map<?, ?>) ((List<?>) json.get("rounds")).get(1);
    assertThat(second.get("pipe_jit_seconds")).isEqualTo(0.5);
    assertThat(second.get("ingest_jit_seconds")).isEqualTo(1.3);
  }

  @Test
  void theWindowCountsOnlyTheOutputsThatBecameVisibleInsideIt() {
    // a pipe whose first commit made 30,000 of 100,000 outputs visible at once: the window from
    // then to the last commit (0.2 s) holds the other 70%, so 70,000 events in 0.2 s, not 90,000
    var measured =
        IngestBenchmark.Measured.inWindow(
            100_000, 100_000, 30_000, 200_000_000L, 1_000_000_000L, 1_400_000_000L, 250);
    assertThat(measured.eventsPerSecond()).isCloseTo(350_000, within(1e-6));
    assertThat(measured.windowEvents()).isCloseTo(70_000, within(1e-9));
    assertThat(measured.cpuMicrosPerEvent()).isCloseTo(20, within(1e-9));
    assertThat(measured.startupSeconds()).isCloseTo(1, within(1e-12));
    assertThat(measured.jitSeconds()).isCloseTo(0.25, within(1e-12));
    // outputs stand for events in proportion: 120,000 outputs of 100,000 events, 24,000 before
    assertThat(
            IngestBenchmark.Measured.inWindow(100_000, 120_000, 24_000, 1_000_000_000L, 0, 0, 0)
                .eventsPerSecond())
        .isCloseTo(80_000, within(1e-6));
  }

  @Test
  void aWindowWithoutRoomForARateIsAnErrorNotANumber() {
    assertThatThrownBy(
            () -> IngestBenchmark.Measured.inWindow(1_000, 1_000, 950, 1_000_000L, 0, 0, 0))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("950 of 1,000 outputs")
        .hasMessageContaining("--events");
  }

  @Test
  void oneRoundIsItsOwnSummary() {
    IngestBenchmark.Result result =
        new IngestBenchmark.Result(
            1000,
            1200,
            2,
            1,
            100,
            List.of(new IngestBenchmark.Round(1, 50_000, 1, 10, 0, 900, 10_000, 2, 40, 0, 900)));
    assertThat(result.ratio()).isEqualTo(0.2);
  }

  @Test
  void theModelsAreSpreadEvenlyOverThePartitionsByTheProducersPartitioner() {
    for (int[] shape : new int[][] {{4, 2}, {4, 3}, {8, 4}, {4, 1}}) {
      int count = shape[0];
      int partitions = shape[1];
      List<String> models = IngestBenchmark.evenModels(count, partitions);
      assertThat(models).hasSize(count).doesNotHaveDuplicates();
      Map<Integer, Long> perPartition =
          models.stream()
              .collect(
                  Collectors.groupingBy(
                      m ->
                          Utils.toPositive(Utils.murmur2(m.getBytes(StandardCharsets.UTF_8)))
                              % partitions,
                      Collectors.counting()));
      assertThat(perPartition)
          .as("%d models on %d partitions", count, partitions)
          .hasSize(partitions);
      long most = perPartition.values().stream().mapToLong(Long::longValue).max().orElseThrow();
      long least = perPartition.values().stream().mapToLong(Long::longValue).min().orElseThrow();
      assertThat(most - least).isLessThanOrEqualTo(1);
    }
  }

  @Test
  void tooFewEventsOrRoundsAreRefused() {
    assertThatThrownBy(() -> new IngestBenchmark.Options(5, 1))
        .hasMessageContaining("--events must be at least 10, got 5");
    assertThatThrownBy(() -> new IngestBenchmark.Options(100, 0))
        .hasMessageContaining("--rounds must be at least 1, got 0");
  }
}
