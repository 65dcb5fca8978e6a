package dev.prefstream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.prefstream.schemas.config.CommonConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.apache.kafka.common.config.ConfigException;

/**
 * The JDK's HTTP server with two read-only endpoints: {@code /metrics} (Prometheus text format, or
 * OpenMetrics when the scraper asks for it) and {@code /health}: 200 with {@code "status": "ready"}
 * once every component is ready, else 503 with {@code "starting"}; {@code /health/live} is 200
 * while the process serves at all.
 */
final class MetricsServer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpServer server;
  private final ExecutorService executor;

  private MetricsServer(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  static MetricsServer start(
      String address,
      int port,
      PrometheusMeterRegistry registry,
      Supplier<Map<String, Boolean>> readiness) {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(address, port), 16);
    } catch (IOException | IllegalArgumentException e) {
      throw new ConfigException(
          CommonConfig.METRICS_ADDRESS_CONFIG + ":" + CommonConfig.METRICS_PORT_CONFIG,
          address + ":" + port,
          "cannot serve metrics there: " + e.getMessage());
    }
    ExecutorService executor =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "prefstream-metrics-http");
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(executor);
    server.createContext(
        "/metrics",
        exchange -> {
          String accept = exchange.getRequestHeaders().getFirst("Accept");
          String contentType =
              accept != null && accept.contains("application/openmetrics-text")
                  ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                  : "text/plain; version=0.0.4; charset=utf-8";
          respond(exchange, 200, contentType, registry.scrape(contentType));
        });
    server.createContext(
        "/health",
        exchange -> {
          if (exchange.getRequestURI().getPath().equals("/health/live")) {
            respond(exchange, 200, "application/json", "{\"status\":\"live\"}");
            return;
          }
          Map<String, Boolean> components = readiness.get();
          boolean ready =
              !components.isEmpty() && components.values().stream().allMatch(Boolean::booleanValue);
          ObjectNode body = JSON.createObjectNode();
          body.put("status", ready ? "ready" : "starting");
          body.put("live", true);
          ObjectNode each = body.putObject("components");
          components.forEach((name, up) -> each.put(name, up ? "ready" : "starting"));
          respond(exchange, ready ? 200 : 503, "application/json", body.toString());
        });
    server.start();
    return new MetricsServer(server, executor);
  }

  private static void respond(HttpExchange exchange, int status, String contentType, String body)
      throws IOException {
    try (exchange) {
      if (!exchange.getRequestMethod().equals("GET")
          && !exchange.getRequestMethod().equals("HEAD")) {
        exchange.sendResponseHeaders(405, -1);
        return;
      }
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().set("Content-Type", contentType);
      boolean head = exchange.getRequestMethod().equals("HEAD");
      exchange.sendResponseHeaders(status, head ? -1 : bytes.length);
      if (!head) {
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(bytes);
        }
      }
    }
  }

  int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
