package dev.prefstream.cli;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads the Prometheus text format (what a scraper sees) for tests: series -> value. */
record PrometheusText(Map<String, Double> series) {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  static PrometheusText parse(String text) {
    Map<String, Double> series = new LinkedHashMap<>();
    for (String line : text.split("\n")) {
      if (line.isBlank() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      String value = line.substring(space + 1);
      series.put(
          line.substring(0, space),
          switch (value) {
            case "NaN" -> Double.NaN;
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(value);
          });
    }
    return new PrometheusText(series);
  }

  /** GET http://127.0.0.1:port/path: status and body. */
  static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
    return HTTP.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .timeout(Duration.ofSeconds(10))
            .GET()
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  static PrometheusText scrape(int port) throws IOException, InterruptedException {
    HttpResponse<String> response = get(port, "/metrics");
    if (response.statusCode() != 200) {
      throw new AssertionError("/metrics answered " + response.statusCode());
    }
    return parse(response.body());
  }

  /** Metric names (without labels). */
  Set<String> names() {
    Set<String> names = new TreeSet<>();
    series.keySet().forEach(s -> names.add(s.contains("{") ? s.substring(0, s.indexOf('{')) : s));
    return names;
  }

  /**
   * The sum of every series of {@code name} whose labels include all of {@code labels} (given as
   * {@code key="value"} strings); NaN when there is none.
   */
  double sum(String name, String... labels) {
    double total = 0;
    boolean found = false;
    for (Map.Entry<String, Double> e : series.entrySet()) {
      String s = e.getKey();
      String base = s.contains("{") ? s.substring(0, s.indexOf('{')) : s;
      if (!base.equals(name)) {
        continue;
      }
      boolean all = true;
      for (String label : labels) {
        all &= s.contains(label);
      }
      if (all) {
        total += e.getValue();
        found = true;
      }
    }
    return found ? total : Double.NaN;
  }

  /** Metric names a PromQL expression refers to (identifiers followed by a selector or space). */
  static Set<String> namesIn(String promql, Pattern family) {
    Set<String> names = new TreeSet<>();
    Matcher m = family.matcher(promql);
    while (m.find()) {
      names.add(m.group());
    }
    return names;
  }
}
