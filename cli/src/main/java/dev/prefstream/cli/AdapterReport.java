package dev.prefstream.cli;

import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.VersionRefusal;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.time.Millisecond;
import org.jfree.data.time.TimeSeries;
import org.jfree.data.time.TimeSeriesCollection;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * A picture of one model's history, so that a person sees at a glance whether it is improving:
 * loss, reward accuracy, margins and KL per version, pairs per version, freshness (feedback event
 * -> version) per version, and versions and refusals over time. Drawn with JFreeChart on headless
 * AWT; the PNG is the charts in a grid, the HTML the same charts (embedded PNGs) with the numbers
 * as tables. Everything comes from the manifests and refusals on the adapters topic.
 */
final class AdapterReport {
  static final int CHART_WIDTH = 640;
  static final int CHART_HEIGHT = 340;
  static final int COLUMNS = 2;
  static final int HEADER = 56;

  private final AdapterHistory history;
  private final List<Chart> charts;

  /** One chart with its file-friendly id. */
  record Chart(String id, String title, JFreeChart chart) {}

  AdapterReport(AdapterHistory history) {
    System.setProperty("java.awt.headless", "true");
    this.history = history;
    this.charts = charts(history);
  }

  /**
   * Draws an empty report in memory, so that AWT and its fonts are initialized now: they register
   * shutdown hooks on first use, which fails once the JVM is shutting down (where the demo writes
   * its report after Ctrl-C).
   */
  static void prepareGraphics() {
    new AdapterReport(new AdapterHistory("m", List.of(), List.of(), List.of(), Map.of())).grid();
  }

  List<Chart> charts() {
    return charts;
  }

  static int width() {
    return COLUMNS * CHART_WIDTH;
  }

  /** The PNG's height for {@code chartCount} charts. */
  static int height(int chartCount) {
    return HEADER + ((chartCount + COLUMNS - 1) / COLUMNS) * CHART_HEIGHT;
  }

  /** Writes {@code out} as PNG or HTML ({@code format} png or html), via a temporary file. */
  void write(Path out, String format) {
    byte[] bytes =
        switch (format) {
          case "png" -> png(grid());
          case "html" -> html().getBytes(StandardCharsets.UTF_8);
          default -> throw new IllegalArgumentException("format must be png or html: " + format);
        };
    try {
      Path dir = out.toAbsolutePath().getParent();
      Files.createDirectories(dir);
      Path tmp = Files.createTempFile(dir, ".report-", ".tmp");
      Files.write(tmp, bytes);
      if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
        // temporary files are owner-only; a report is for people to open
        Files.setPosixFilePermissions(
            tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
      }
      Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + out, e);
    }
  }

  /** png for *.png, html for *.html / *.htm; null when the extension says neither. */
  static String formatOf(Path out) {
    String name = out.getFileName().toString().toLowerCase(Locale.ROOT);
    if (name.endsWith(".png")) {
      return "png";
    }
    return name.endsWith(".html") || name.endsWith(".htm") ? "html" : null;
  }

  /** Every chart in a grid under a one-line header. */
  BufferedImage grid() {
    BufferedImage image =
        new BufferedImage(width(), height(charts.size()), BufferedImage.TYPE_INT_RGB);
    Graphics2D g = image.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(
          RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, image.getWidth(), image.getHeight());
      g.setColor(Color.DARK_GRAY);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 20));
      g.drawString("prefstream: " + history.modelId(), 16, 26);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
      g.drawString(summary(), 16, 46);
      for (int i = 0; i < charts.size(); i++) {
        int x = (i % COLUMNS) * CHART_WIDTH;
        int y = HEADER + (i / COLUMNS) * CHART_HEIGHT;
        charts
            .get(i)
            .chart()
            .draw(g, new Rectangle2D.Double(x + 4, y + 4, CHART_WIDTH - 8, CHART_HEIGHT - 8));
      }
    } finally {
      g.dispose();
    }
    return image;
  }

  /** "N versions (vA..vB), M refusals, P pairs, K records skipped". */
  String summary() {
    List<AdapterManifest> v = history.versions();
    long pairs = v.stream().mapToLong(AdapterManifest::getPairs).sum();
    return String.format(
        Locale.ROOT,
        "%d versions%s, %d refusals, %,d pairs trained%s",
        v.size(),
        v.isEmpty()
            ? ""
            : " (v" + v.get(0).getVersion() + " to v" + v.get(v.size() - 1).getVersion() + ")",
        history.refusals().size(),
        pairs,
        history.skippedCount() == 0
            ? ""
            : ", "
                + history.skippedCount()
                + " unreadable records skipped "
                + history.skippedByReason());
  }

  static byte[] png(BufferedImage image) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    // no disk cache: it registers a shutdown hook, which fails while the JVM shuts down (the demo
    // writes its report there) and would put files outside the target directory
    ImageIO.setUseCache(false);
    try {
      ImageIO.write(image, "png", out);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** A self-contained page: the same charts as PNGs inline, then the numbers. */
  String html() {
    StringBuilder h = new StringBuilder();
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .append("<title>prefstream report: ")
        .append(esc(history.modelId()))
        .append("</title><style>body{font-family:sans-serif;margin:1.5em}")
        .append("figure{display:inline-block;margin:.5em}")
        .append("table{border-collapse:collapse;font-size:.9em}")
        .append("td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}</style>")
        .append("</head><body>\n<h1>prefstream: ")
        .append(esc(history.modelId()))
        .append("</h1>\n<p>")
        .append(esc(summary()))
        .append("</p>\n");
    for (Chart c : charts) {
      BufferedImage image =
          c.chart()
              .createBufferedImage(CHART_WIDTH, CHART_HEIGHT, BufferedImage.TYPE_INT_RGB, null);
      h.append("<figure id=\"chart-")
          .append(c.id())
          .append("\"><img alt=\"")
          .append(esc(c.title()))
          .append("\" width=\"")
          .append(CHART_WIDTH)
          .append("\" height=\"")
          .append(CHART_HEIGHT)
          .append("\" src=\"data:image/png;base64,")
          .append(Base64.getEncoder().encodeToString(png(image)))
          .append("\"><figcaption>")
          .append(esc(c.title()))
          .append("</figcaption></figure>\n");
    }
    h.append("<h2>Versions</h2>\n<table><tr><th>version</th><th>created</th><th>pairs</th>")
        .append("<th>loss</th><th>reward accuracy</th><th>margin</th><th>held-out accuracy</th>")
        .append("<th>KL</th><th>freshness p50 (s)</th><th>freshness p99 (s)</th></tr>\n");
    for (AdapterManifest m : history.versions()) {
      double[] fresh = freshness(m);
      h.append("<tr><td>v")
          .append(m.getVersion())
          .append("</td><td>")
          .append(m.getCreatedAt())
          .append("</td><td>")
          .append(m.getPairs());
      for (double x :
          new double[] {
            metric(m.getMetrics(), MetricNames.LOSS),
            metric(m.getMetrics(), MetricNames.REWARD_ACCURACY),
            metric(m.getMetrics(), MetricNames.REWARD_MARGINS),
            metric(m.getMetrics(), MetricNames.eval(MetricNames.REWARD_ACCURACY)),
            metric(m.getMetrics(), MetricNames.eval(MetricNames.KL)),
            fresh[0],
            fresh[1]
          }) {
        h.append("</td><td>").append(Double.isNaN(x) ? "" : String.format(Locale.ROOT, "%.4f", x));
      }
      h.append("</td></tr>\n");
    }
    h.append("</table>\n<h2>Refusals</h2>\n<table><tr><th>after</th><th>created</th>")
        .append("<th>reason</th><th>pairs</th><th>message</th></tr>\n");
    for (VersionRefusal r : history.refusals()) {
      h.append("<tr><td>v")
          .append(r.getParentVersion() == null ? "0" : r.getParentVersion())
          .append("</td><td>")
          .append(r.getCreatedAt())
          .append("</td><td>")
          .append(esc(r.getReason()))
          .append("</td><td>")
          .append(r.getPairs())
          .append("</td><td style=\"text-align:left\">")
          .append(esc(r.getMessage()))
          .append("</td></tr>\n");
    }
    h.append("</table>\n");
    if (!history.skipped().isEmpty()) {
      h.append("<h2>Skipped records</h2>\n<ul>\n");
      history.skipped().forEach(s -> h.append("<li>").append(esc(s)).append("</li>\n"));
      h.append("</ul>\n");
    }
    return h.append("</body></html>\n").toString();
  }

  // ------------------------------------------------------------------ charts

  private static List<Chart> charts(AdapterHistory history) {
    List<AdapterManifest> versions = history.versions();
    List<Chart> charts = new ArrayList<>();
    charts.add(
        new Chart(
            "loss",
            "Loss per version (mean over its batches)",
            lines("Loss per version", "loss", series(versions, "train loss", MetricNames.LOSS))));
    charts.add(
        new Chart(
            "accuracy",
            "Reward accuracy per version",
            lines(
                "Reward accuracy per version",
                "share of pairs",
                series(versions, "training batches", MetricNames.REWARD_ACCURACY),
                series(versions, "held-out", MetricNames.eval(MetricNames.REWARD_ACCURACY)))));
    charts.add(
        new Chart(
            "margins",
            "Reward margin per version (chosen - rejected)",
            lines(
                "Reward margins per version",
                "margin",
                series(versions, "margin", MetricNames.REWARD_MARGINS),
                series(versions, "chosen reward", MetricNames.REWARDS_CHOSEN),
                series(versions, "rejected reward", MetricNames.REWARDS_REJECTED))));
    charts.add(
        new Chart(
            "kl",
            "Held-out KL from the reference per version (nats/token)",
            lines(
                "KL from the reference",
                "nats / token",
                series(versions, "held-out KL", MetricNames.eval(MetricNames.KL)))));
    DefaultCategoryDataset pairs = new DefaultCategoryDataset();
    for (AdapterManifest m : versions) {
      pairs.addValue(m.getPairs(), "pairs", "v" + m.getVersion());
    }
    JFreeChart pairsChart =
        ChartFactory.createBarChart(
            "Pairs per version",
            "version",
            "pairs",
            pairs,
            PlotOrientation.VERTICAL,
            false,
            false,
            false);
    style(pairsChart);
    ((CategoryPlot) pairsChart.getPlot())
        .getDomainAxis()
        .setCategoryLabelPositions(
            org.jfree.chart.axis.CategoryLabelPositions.UP_45); // many versions stay readable
    charts.add(new Chart("pairs", "Pairs trained per version", pairsChart));
    XYSeries p50 = new XYSeries("p50");
    XYSeries p99 = new XYSeries("p99");
    for (AdapterManifest m : versions) {
      double[] f = freshness(m);
      if (!Double.isNaN(f[0])) {
        p50.add(m.getVersion(), f[0]);
        p99.add(m.getVersion(), f[1]);
      }
    }
    charts.add(
        new Chart(
            "freshness",
            "Freshness per version: feedback event -> version (seconds)",
            lines("Freshness: event -> version", "seconds", p50, p99)));
    TimeSeries published = new TimeSeries("versions published");
    TimeSeries refused = new TimeSeries("refusals");
    cumulative(published, versions.stream().map(m -> m.getCreatedAt()).toList());
    cumulative(refused, history.refusals().stream().map(VersionRefusal::getCreatedAt).toList());
    TimeSeriesCollection overTime = new TimeSeriesCollection();
    overTime.addSeries(published);
    overTime.addSeries(refused);
    JFreeChart timeChart =
        ChartFactory.createTimeSeriesChart(
            "Versions and refusals over time", "time", "count", overTime, true, false, false);
    style(timeChart);
    stepLines((XYPlot) timeChart.getPlot());
    charts.add(new Chart("time", "Versions published and refusals over time", timeChart));
    Map<String, Integer> reasons = new TreeMap<>();
    history.refusals().forEach(r -> reasons.merge(r.getReason(), 1, Integer::sum));
    DefaultCategoryDataset refusals = new DefaultCategoryDataset();
    reasons.forEach((reason, n) -> refusals.addValue(n, "refusals", reason));
    JFreeChart refusalChart =
        ChartFactory.createBarChart(
            "Refusals by reason",
            "reason",
            "candidates refused",
            refusals,
            PlotOrientation.VERTICAL,
            false,
            false,
            false);
    style(refusalChart);
    ((org.jfree.chart.renderer.category.BarRenderer)
            ((CategoryPlot) refusalChart.getPlot()).getRenderer())
        .setMaximumBarWidth(0.12);
    ((CategoryPlot) refusalChart.getPlot())
        .getRangeAxis()
        .setStandardTickUnits(NumberAxis.createIntegerTickUnits());
    charts.add(new Chart("refusals", "Refused candidates by reason", refusalChart));
    return List.copyOf(charts);
  }

  private static XYSeries series(List<AdapterManifest> versions, String name, String metric) {
    XYSeries s = new XYSeries(name);
    for (AdapterManifest m : versions) {
      double x = metric(m.getMetrics(), metric);
      if (Double.isFinite(x)) {
        s.add(m.getVersion(), x);
      }
    }
    return s;
  }

  private static double metric(Map<String, Double> metrics, String name) {
    Double x = metrics.get(name);
    return x == null ? Double.NaN : x;
  }

  /** {p50, p99} of created_at - occurred_at over the version's pairs, seconds; NaN when unknown. */
  static double[] freshness(AdapterManifest m) {
    List<Instant> occurred = m.getPairOccurredAt();
    if (occurred == null || occurred.isEmpty()) {
      return new double[] {Double.NaN, Double.NaN};
    }
    long created = m.getCreatedAt().toEpochMilli();
    double[] ages =
        occurred.stream()
            .mapToDouble(t -> Math.max(0, created - t.toEpochMilli()) / 1e3)
            .sorted()
            .toArray();
    return new double[] {quantile(ages, 0.50), quantile(ages, 0.99)};
  }

  /** The nearest-rank quantile of sorted values. */
  static double quantile(double[] sorted, double q) {
    int rank = (int) Math.ceil(q * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }

  private static void cumulative(TimeSeries series, List<Instant> times) {
    List<Instant> sorted = new ArrayList<>(times);
    sorted.sort(null);
    int n = 0;
    for (Instant t : sorted) {
      series.addOrUpdate(new Millisecond(Date.from(t)), ++n);
    }
  }

  private static JFreeChart lines(String title, String yLabel, XYSeries... series) {
    XYSeriesCollection data = new XYSeriesCollection();
    for (XYSeries s : series) {
      data.addSeries(s);
    }
    JFreeChart chart =
        ChartFactory.createXYLineChart(
            title, "version", yLabel, data, PlotOrientation.VERTICAL, true, false, false);
    style(chart);
    XYPlot plot = (XYPlot) chart.getPlot();
    plot.getDomainAxis().setStandardTickUnits(NumberAxis.createIntegerTickUnits());
    ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
    for (int i = 0; i < series.length; i++) {
      renderer.setSeriesStroke(i, new BasicStroke(2f));
    }
    plot.setRenderer(renderer);
    return chart;
  }

  private static void stepLines(XYPlot plot) {
    XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
    renderer.setSeriesStroke(0, new BasicStroke(2f));
    renderer.setSeriesStroke(1, new BasicStroke(2f));
    plot.setRenderer(renderer);
    plot.getRangeAxis().setStandardTickUnits(NumberAxis.createIntegerTickUnits());
  }

  private static void style(JFreeChart chart) {
    chart.setBackgroundPaint(Color.WHITE);
    chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
    chart.getPlot().setBackgroundPaint(new Color(248, 248, 248));
    chart.getPlot().setNoDataMessage("no data yet");
    if (chart.getPlot() instanceof XYPlot xy) {
      xy.setDomainGridlinePaint(Color.LIGHT_GRAY);
      xy.setRangeGridlinePaint(Color.LIGHT_GRAY);
    } else if (chart.getPlot() instanceof CategoryPlot cat) {
      cat.setRangeGridlinePaint(Color.LIGHT_GRAY);
    }
  }

  private static String esc(String s) {
    if (s == null) {
      return "";
    }
    StringBuilder b = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '&' -> b.append("&amp;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> b.append(c);
      }
    }
    return b.toString();
  }
}
