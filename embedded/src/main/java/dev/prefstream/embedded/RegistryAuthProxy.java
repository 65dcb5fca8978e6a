package dev.prefstream.embedded;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;

/**
 * An authenticating, optionally TLS-terminating reverse proxy on 127.0.0.1 in front of the embedded
 * registry, which cannot itself be configured for basic auth here (Apicurio 2.6's auth needs
 * Keycloak): requests with the expected {@code Authorization: Basic} header are forwarded
 * unchanged, all others get Confluent's 401 answer. It counts both, so a test can tell a refused
 * request from a retried one. For tests of secured clients; nothing in production uses it.
 */
public final class RegistryAuthProxy implements AutoCloseable {
  private static final List<String> FORWARDED_HEADERS = List.of("Content-Type", "Accept");

  private final HttpServer server;
  private final String scheme;
  private final HttpClient upstream = HttpClient.newHttpClient();
  private final String upstreamBase;
  private final String expected;
  private final AtomicInteger forwarded = new AtomicInteger();
  private final AtomicInteger refused = new AtomicInteger();

  /**
   * @param upstreamBase scheme, host and port of the registry (paths are kept as they come)
   * @param tls serve https with this context (its key managers hold the server certificate)
   */
  public RegistryAuthProxy(
      String upstreamBase, String user, String password, Optional<SSLContext> tls)
      throws IOException {
    this.upstreamBase = upstreamBase;
    this.expected =
        "Basic "
            + Base64.getEncoder()
                .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    InetSocketAddress loopback = new InetSocketAddress("127.0.0.1", 0);
    if (tls.isPresent()) {
      HttpsServer https = HttpsServer.create(loopback, 0);
      https.setHttpsConfigurator(new HttpsConfigurator(tls.get()));
      this.server = https;
    } else {
      this.server = HttpServer.create(loopback, 0);
    }
    this.scheme = tls.isPresent() ? "https" : "http";
    server.createContext("/", this::handle);
    server.setExecutor(
        Executors.newFixedThreadPool(
            4,
            r -> {
              Thread t = new Thread(r, "registry-auth-proxy");
              t.setDaemon(true);
              return t;
            }));
    server.start();
  }

  /** {@code http(s)://127.0.0.1:<port>}: append the registry's path. */
  public String base() {
    return scheme + "://127.0.0.1:" + server.getAddress().getPort();
  }

  /** Authenticated requests passed on. */
  public int forwarded() {
    return forwarded.get();
  }

  /** Requests answered 401. */
  public int refused() {
    return refused.get();
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      if (!expected.equals(exchange.getRequestHeaders().getFirst("Authorization"))) {
        refused.incrementAndGet();
        exchange.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"registry\"");
        respond(exchange, 401, "{\"error_code\":40101,\"message\":\"Unauthorized\"}");
        return;
      }
      forwarded.incrementAndGet();
      byte[] body = exchange.getRequestBody().readAllBytes();
      HttpRequest.Builder request =
          HttpRequest.newBuilder(URI.create(upstreamBase + exchange.getRequestURI()))
              .method(
                  exchange.getRequestMethod(),
                  body.length == 0
                      ? HttpRequest.BodyPublishers.noBody()
                      : HttpRequest.BodyPublishers.ofByteArray(body));
      for (String header : FORWARDED_HEADERS) {
        String value = exchange.getRequestHeaders().getFirst(header);
        if (value != null) {
          request.header(header, value);
        }
      }
      HttpResponse<byte[]> answer =
          upstream.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
      answer
          .headers()
          .firstValue("Content-Type")
          .ifPresent(v -> exchange.getResponseHeaders().add("Content-Type", v));
      exchange.sendResponseHeaders(
          answer.statusCode(), answer.body().length == 0 ? -1 : answer.body().length);
      if (answer.body().length > 0) {
        try (OutputStream out = exchange.getResponseBody()) {
          out.write(answer.body());
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void respond(HttpExchange exchange, int status, String json) throws IOException {
    byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", "application/json");
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
