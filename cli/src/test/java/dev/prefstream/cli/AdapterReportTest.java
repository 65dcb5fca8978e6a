package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.VersionRefusal;
import java.awt.Color;
import java.awt.Paint;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.AbstractRenderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The report's PNG and HTML from a history shaped like a model that is learning. */
class AdapterReportTest {
  private static final Instant START = Instant.parse("2026-11-30T10:00:00Z");

  @TempDir Path dir;

  /** A manifest as the trainer writes it (the fields the report reads, and the required rest). */
  static AdapterManifest manifest(
      String model,
      long version,
      Instant createdAt,
      int pairs,
      double loss,
      double accuracy,
      double margin,
      double kl) {
    Map<String, Double> metrics = new TreeMap<>();
    metrics.put(MetricNames.LOSS, loss);
    metrics.put(MetricNames.REWARD_ACCURACY, accuracy);
    metrics.put(MetricNames.REWARD_MARGINS, margin);
    metrics.put(MetricNames.REWARDS_CHOSEN, margin / 2);
    metrics.put(MetricNames.REWARDS_REJECTED, -margin / 2);
    metrics.put(MetricNames.eval(MetricNames.REWARD_ACCURACY), accuracy - 0.05);
    metrics.put(MetricNames.eval(MetricNames.KL), kl);
    List<Instant> occurred = new ArrayList<>();
    for (int i = 0; i < pairs; i++) {
      occurred.add(createdAt.minusMillis(500 + 100L * i));
    }
    return AdapterManifest.newBuilder()
        .setModelId(model)
        .setVersion(version)
        .setParentVersion(version == 1 ? null : version - 1)
        .setCreatedAt(createdAt)
        .setSha256("0".repeat(64))
        .setFiles(List.of())
        .setBaseModel(new BaseModel("tiny", "1".repeat(64)))
        .setLineage(List.of())
        .setPairs(pairs)
        .setSeed(42)
        .setConfigHash("c")
        .setTrainerId("t")
        .setMetrics(metrics)
        .setPairOccurredAt(occurred)
        .build();
  }

  static AdapterHistory learning(int versions) {
    List<AdapterManifest> list = new ArrayList<>();
    for (int v = 1; v <= versions; v++) {
      list.add(
          manifest(
              "m1",
              v,
              START.plusSeconds(30L * v),
              40 + (v % 3) * 8,
              0.693 * Math.exp(-0.15 * v),
              Math.min(1, 0.5 + 0.05 * v),
              0.1 * v,
              0.002 * v * v));
    }
    List<VersionRefusal> refusals =
        List.of(
            refusal(4, START.plusSeconds(135), "gate_max_kl"),
            refusal(7, START.plusSeconds(225), "gate_reward_accuracy"));
    return new AdapterHistory(
        "m1",
        list,
        refusals,
        List.of("prefstream.adapters-0@17 bad_magic_byte"),
        Map.of("bad_magic_byte", 1));
  }

  private static VersionRefusal refusal(long parent, Instant at, String reason) {
    return VersionRefusal.newBuilder()
        .setModelId("m1")
        .setParentVersion(parent)
        .setCreatedAt(at)
        .setReason(reason)
        .setMessage("<script>alert(1)</script> & more")
        .setLineage(List.of())
        .setBatches(List.of())
        .setPairs(40)
        .setConfigHash("c")
        .setTrainerId("t")
        .build();
  }

  @Test
  void pngIsTheChartGridOfTheExpectedSizeWithEveryLineChartDrawn() throws Exception {
    AdapterReport report = new AdapterReport(learning(12));
    Path out = dir.resolve("report.png");
    report.write(out, AdapterReport.formatOf(out));

    BufferedImage image = ImageIO.read(out.toFile());
    assertThat(image).as("a PNG ImageIO can read").isNotNull();
    assertThat(image.getWidth()).isEqualTo(AdapterReport.width());
    assertThat(image.getHeight()).isEqualTo(AdapterReport.height(report.charts().size()));
    assertThat(report.charts()).hasSize(8);
    // every chart cell shows its first series in that series' colour: the lines were drawn
    for (int i = 0; i < report.charts().size(); i++) {
      AdapterReport.Chart chart = report.charts().get(i);
      Paint paint = seriesPaint(chart);
      int x0 = (i % AdapterReport.COLUMNS) * AdapterReport.CHART_WIDTH;
      int y0 = AdapterReport.HEADER + (i / AdapterReport.COLUMNS) * AdapterReport.CHART_HEIGHT;
      int matching = 0;
      for (int y = y0; y < y0 + AdapterReport.CHART_HEIGHT; y++) {
        for (int x = x0; x < x0 + AdapterReport.CHART_WIDTH; x++) {
          if (image.getRGB(x, y) == ((Color) paint).getRGB()) {
            matching++;
          }
        }
      }
      assertThat(matching)
          .as(chart.id() + ": pixels of its first series' colour")
          .isGreaterThan(50);
    }
  }

  @Test
  void htmlHoldsTheSameChartsAndTheNumbersEscaped() throws Exception {
    AdapterReport report = new AdapterReport(learning(12));
    Path out = dir.resolve("report.html");
    report.write(out, AdapterReport.formatOf(out));
    String html = Files.readString(out);

    Matcher img =
        Pattern.compile(
                "<figure id=\"chart-([a-z]+)\"><img alt=\"[^\"]*\" width=\"\\d+\""
                    + " height=\"\\d+\" src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"")
            .matcher(html);
    List<String> ids = new ArrayList<>();
    while (img.find()) {
      ids.add(img.group(1));
      BufferedImage chart =
          ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(img.group(2))));
      assertThat(chart.getWidth()).isEqualTo(AdapterReport.CHART_WIDTH);
      assertThat(chart.getHeight()).isEqualTo(AdapterReport.CHART_HEIGHT);
    }
    assertThat(ids).isEqualTo(report.charts().stream().map(AdapterReport.Chart::id).toList());
    assertThat(html).contains("<td>v12</td>", "gate_max_kl", "prefstream.adapters-0@17");
    assertThat(html).doesNotContain("<script>").contains("&lt;script&gt;alert(1)");
  }

  @Test
  void freshnessIsTheNearestRankQuantileOfCreatedMinusOccurred() {
    // pairs occurred 0.5, 0.6, ..., 1.4 s before the version: p50 = 5th = 0.9 s, p99 = 1.4 s
    double[] f = AdapterReport.freshness(manifest("m1", 1, START, 10, 1, 1, 1, 1));
    assertThat(f[0]).isEqualTo(0.9);
    assertThat(f[1]).isEqualTo(1.4);
  }

  @Test
  void anEmptyHistoryStillMakesAReadablePicture() throws Exception {
    AdapterReport report =
        new AdapterReport(new AdapterHistory("m0", List.of(), List.of(), List.of(), Map.of()));
    Path out = dir.resolve("empty.png");
    report.write(out, "png");
    BufferedImage image = ImageIO.read(out.toFile());
    assertThat(image.getWidth()).isEqualTo(AdapterReport.width());
    assertThat(report.summary()).startsWith("0 versions");
  }

  private static Paint seriesPaint(AdapterReport.Chart chart) {
    if (chart.chart().getPlot() instanceof XYPlot xy) {
      return ((AbstractRenderer) xy.getRenderer()).lookupSeriesPaint(0);
    }
    return ((AbstractRenderer)
            ((org.jfree.chart.plot.CategoryPlot) chart.chart().getPlot()).getRenderer())
        .lookupSeriesPaint(0);
  }
}
