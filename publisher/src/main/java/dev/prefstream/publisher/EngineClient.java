package dev.prefstream.publisher;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;

/**
 * One serving engine's runtime LoRA API. vLLM (with {@code VLLM_ALLOW_RUNTIME_LORA_UPDATING=True})
 * serves {@code POST /v1/load_lora_adapter} and {@code POST /v1/unload_lora_adapter}; SGLang serves
 * the same JSON bodies at {@code /load_lora_adapter} and {@code /unload_lora_adapter}. Both take
 * {@code {"lora_name", "lora_path"}} to load and {@code {"lora_name"}} to unload.
 */
public final class EngineClient {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Which engine, and so which paths. */
  public enum Kind {
    VLLM("/v1"),
    SGLANG("");

    private final String prefix;

    Kind(String prefix) {
      this.prefix = prefix;
    }

    public String label() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /** What the engine answered: the HTTP status and body; status -1 when it could not be reached. */
  public record Reply(int status, String body) {
    public boolean ok() {
      return status == 200;
    }

    /**
     * Whether retrying can help: unreachable, 5xx, or 404 without vLLM's error body (the route
     * itself missing while the server starts). vLLM's own 4xx replies about the request are
     * permanent.
     */
    public boolean retriable() {
      return status < 0 || status >= 500 || (status == 404 && !body.contains("\"object\""));
    }

    /** vLLM's reply to loading a name that is loaded already. */
    public boolean alreadyLoaded() {
      return status == 400 && body.contains("has already been loaded");
    }

    /** vLLM's reply to unloading a name it does not have. */
    public boolean notFound() {
      return status == 404 && body.contains("cannot be found");
    }
  }

  private final Kind kind;
  private final URI base;
  private final HttpClient http;

  public EngineClient(Kind kind, String baseUrl) {
    String problem = urlProblem(baseUrl);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    this.kind = kind;
    this.base =
        URI.create(baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl);
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  }

  /** Why {@code url} cannot be an engine's base URL, or null. */
  public static String urlProblem(String url) {
    try {
      URI uri = URI.create(url);
      if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
        return "an engine URL must be http:// or https://, got " + url;
      }
      if (uri.getHost() == null) {
        return "an engine URL needs a host, got " + url;
      }
      if (uri.getQuery() != null || uri.getFragment() != null) {
        return "an engine URL is a base URL without query or fragment, got " + url;
      }
      return null;
    } catch (IllegalArgumentException e) {
      return "not a URL: " + url;
    }
  }

  public Kind kind() {
    return kind;
  }

  /** How the engine is named in logs and counters: {@code vllm http://host:port}. */
  public String label() {
    return kind.label() + " " + base;
  }

  public Reply load(String loraName, Path loraPath, boolean inPlace) {
    ObjectNode body = JSON.createObjectNode();
    body.put("lora_name", loraName);
    body.put("lora_path", loraPath.toString());
    if (inPlace && kind == Kind.VLLM) {
      body.put("load_inplace", true);
    }
    return post("/load_lora_adapter", body);
  }

  public Reply unload(String loraName) {
    ObjectNode body = JSON.createObjectNode();
    body.put("lora_name", loraName);
    return post("/unload_lora_adapter", body);
  }

  private Reply post(String path, ObjectNode body) {
    HttpRequest request =
        HttpRequest.newBuilder(URI.create(base + kind.prefix + path))
            .timeout(Duration.ofMinutes(2))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
            .build();
    try {
      HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
      return new Reply(response.statusCode(), response.body());
    } catch (IOException e) {
      return new Reply(-1, e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Reply(-1, "interrupted");
    }
  }
}
