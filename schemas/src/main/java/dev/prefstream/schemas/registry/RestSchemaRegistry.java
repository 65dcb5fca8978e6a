package dev.prefstream.schemas.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLContext;
import org.apache.avro.Schema;

/**
 * A small client for the Confluent Schema Registry REST API ({@code java.net.http} + Jackson),
 * which Confluent's own Java client is not on Maven Central to provide. Works against Confluent's
 * registry and Apicurio's {@code /apis/ccompat/v7}.
 *
 * <p>Registrations and schemas by id are cached forever (both are immutable in a registry).
 * Unreachable registries and 5xx answers are retried with exponential backoff up to {@code
 * retryFor}; 4xx answers fail at once.
 */
public final class RestSchemaRegistry implements SchemaRegistry {
  private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String baseUrl;
  private final HttpClient http;
  private final Duration requestTimeout;
  private final Duration retryFor;
  private final Optional<String> authorization;
  private final Map<String, Integer> idBySubjectAndSchema = new ConcurrentHashMap<>();
  private final Map<Integer, Schema> schemaById = new ConcurrentHashMap<>();

  /**
   * @param baseUrl e.g. {@code http://127.0.0.1:8081} or {@code http://host/apis/ccompat/v7}
   * @param retryFor how long to keep retrying an unreachable registry before giving up
   */
  public RestSchemaRegistry(String baseUrl, Duration retryFor) {
    this(baseUrl, retryFor, Optional.empty(), Optional.empty());
  }

  /**
   * @param baseUrl without user info (credentials travel in {@code authorization} only, so that a
   *     URL in a message or a log line never carries them)
   * @param authorization the {@code Authorization} header value, e.g. {@code Basic ...} or {@code
   *     Bearer ...}; sent with every request and never printed
   * @param ssl the TLS context for an https registry; empty: the JVM's default
   */
  public RestSchemaRegistry(
      String baseUrl, Duration retryFor, Optional<String> authorization, Optional<SSLContext> ssl) {
    if (baseUrl == null || !(baseUrl.startsWith("http://") || baseUrl.startsWith("https://"))) {
      throw new IllegalArgumentException(
          "schema.registry.url must be an http(s) URL, got '" + baseUrl + "'");
    }
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    this.requestTimeout = Duration.ofSeconds(10);
    this.retryFor = retryFor;
    if (URI.create(baseUrl).getRawUserInfo() != null) {
      throw new IllegalArgumentException(
          "schema.registry.url must not carry user info here: pass credentials as authorization");
    }
    this.authorization = authorization;
    HttpClient.Builder http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
    ssl.ifPresent(http::sslContext);
    this.http = http.build();
  }

  public RestSchemaRegistry(String baseUrl) {
    this(baseUrl, Duration.ofSeconds(30));
  }

  public String baseUrl() {
    return baseUrl;
  }

  @Override
  public int register(String subject, Schema schema) {
    String key = subject + '\u0000' + schema.toString();
    Integer cached = idBySubjectAndSchema.get(key);
    if (cached != null) {
      return cached;
    }
    JsonNode answer = null;
    for (int attempt = 1; answer == null; attempt++) {
      try {
        answer = send("POST", "/subjects/" + enc(subject) + "/versions", schemaBody(schema));
      } catch (SchemaRegistryException e) {
        // Apicurio answers 409 "An artifact with ID ... already exists" when another client
        // created the subject between its lookup and its create (two producers registering a new
        // subject at once); registering again finds it. A 409 of incompatibility stays an error.
        boolean createRace =
            e.httpStatus() == 409 && String.valueOf(e.getMessage()).contains("already exists");
        if (!createRace || attempt >= 5) {
          throw e;
        }
        try {
          Thread.sleep(50L * attempt);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
    int id = answer.path("id").asInt(-1);
    if (id < 0) {
      throw new SchemaRegistryException(
          "registry answered without an id when registering " + subject + ": " + answer,
          200,
          0,
          null);
    }
    idBySubjectAndSchema.put(key, id);
    schemaById.putIfAbsent(id, schema);
    return id;
  }

  @Override
  public int idOf(String subject, Schema schema) {
    String key = subject + '\u0000' + schema.toString();
    Integer cached = idBySubjectAndSchema.get(key);
    if (cached != null) {
      return cached;
    }
    JsonNode answer = send("POST", "/subjects/" + enc(subject), schemaBody(schema));
    int id = answer.path("id").asInt(-1);
    idBySubjectAndSchema.put(key, id);
    return id;
  }

  @Override
  public Schema schemaById(int id) {
    Schema cached = schemaById.get(id);
    if (cached != null) {
      return cached;
    }
    JsonNode answer = send("GET", "/schemas/ids/" + id, null);
    Schema schema = parse(answer.path("schema").asText(), "schema id " + id);
    schemaById.putIfAbsent(id, schema);
    return schema;
  }

  @Override
  public List<Integer> versions(String subject) {
    JsonNode answer = send("GET", "/subjects/" + enc(subject) + "/versions", null);
    List<Integer> versions = new ArrayList<>();
    answer.forEach(v -> versions.add(v.asInt()));
    versions.sort(Integer::compare);
    return versions;
  }

  @Override
  public SubjectVersion latest(String subject) {
    JsonNode answer = send("GET", "/subjects/" + enc(subject) + "/versions/latest", null);
    return new SubjectVersion(
        answer.path("subject").asText(subject),
        answer.path("version").asInt(),
        answer.path("id").asInt(),
        parse(answer.path("schema").asText(), subject + " latest"));
  }

  @Override
  public Compatibility testCompatibility(String subject, Schema schema) {
    try {
      JsonNode answer =
          send(
              "POST",
              "/compatibility/subjects/" + enc(subject) + "/versions/latest?verbose=true",
              schemaBody(schema));
      List<String> messages = new ArrayList<>();
      answer.path("messages").forEach(m -> messages.add(m.asText()));
      return new Compatibility(answer.path("is_compatible").asBoolean(false), messages);
    } catch (SchemaRegistryException e) {
      if (e.isNotFound()) {
        return new Compatibility(true, List.of("subject " + subject + " has no versions yet"));
      }
      throw e;
    }
  }

  @Override
  public void setCompatibility(String subject, String level) {
    ObjectNode body = JSON.createObjectNode().put("compatibility", level);
    send("PUT", "/config/" + enc(subject), body.toString());
  }

  @Override
  public void deleteSubject(String subject) {
    String path = "/subjects/" + enc(subject);
    for (String query : new String[] {"", "?permanent=true"}) {
      try {
        send("DELETE", path + query, null);
      } catch (SchemaRegistryException e) {
        // not there: never registered, or (Apicurio) the first delete was already permanent
        if (!e.isNotFound()) {
          throw e;
        }
      }
    }
    idBySubjectAndSchema.keySet().removeIf(key -> key.startsWith(subject + '\u0000'));
  }

  private static String schemaBody(Schema schema) {
    return JSON.createObjectNode().put("schema", schema.toString()).toString();
  }

  private static Schema parse(String text, String what) {
    try {
      return new Schema.Parser().parse(text);
    } catch (RuntimeException e) {
      throw new SchemaRegistryException(
          "registry returned an unparsable Avro schema for " + what + ": " + e.getMessage(),
          200,
          0,
          e);
    }
  }

  private JsonNode send(String method, String path, String body) {
    HttpRequest.Builder request =
        HttpRequest.newBuilder(URI.create(baseUrl + path))
            .timeout(requestTimeout)
            .header("Accept", CONTENT_TYPE + ", application/json");
    authorization.ifPresent(value -> request.header("Authorization", value));
    if (body != null) {
      request.header("Content-Type", CONTENT_TYPE);
      request.method(method, HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
    } else {
      request.method(method, HttpRequest.BodyPublishers.noBody());
    }
    long deadline = System.nanoTime() + retryFor.toNanos();
    long backoffMs = 100;
    while (true) {
      SchemaRegistryException failure;
      try {
        HttpResponse<String> response =
            http.send(request.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        if (response.statusCode() / 100 == 2) {
          return response.body().isEmpty() ? JSON.nullNode() : JSON.readTree(response.body());
        }
        failure = errorOf(method, path, response);
      } catch (IOException e) {
        failure =
            new SchemaRegistryException(
                "schema registry at "
                    + baseUrl
                    + " unreachable ("
                    + method
                    + " "
                    + path
                    + "): "
                    + e,
                0,
                0,
                e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SchemaRegistryException("interrupted: " + method + " " + path, 0, 0, e);
      }
      if (!failure.isRetriable() || System.nanoTime() + backoffMs * 1_000_000 > deadline) {
        throw failure;
      }
      try {
        Thread.sleep(backoffMs);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw failure;
      }
      backoffMs = Math.min(backoffMs * 2, 2_000);
    }
  }

  private static SchemaRegistryException errorOf(
      String method, String path, HttpResponse<String> response) {
    int code = response.statusCode();
    String message = response.body();
    try {
      JsonNode error = JSON.readTree(response.body());
      code = error.path("error_code").asInt(response.statusCode());
      message = error.path("message").asText(response.body());
    } catch (IOException | RuntimeException notJson) {
      // keep the raw body
    }
    return new SchemaRegistryException(
        "schema registry: "
            + method
            + " "
            + path
            + " -> HTTP "
            + response.statusCode()
            + " ("
            + code
            + "): "
            + message
            + (response.statusCode() == 401 || response.statusCode() == 403
                ? " (check basic.auth.credentials.source, basic.auth.user.info or"
                    + " bearer.auth.token)"
                : ""),
        response.statusCode(),
        code,
        null);
  }

  private static String enc(String subject) {
    return URLEncoder.encode(subject, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
