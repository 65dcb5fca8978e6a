package dev.prefstream.publisher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A local stand-in for a vLLM (or SGLang) server's runtime LoRA API that enforces the documented
 * request contract and answers as vLLM's {@code OpenAIServingModels} does (vllm-project/vllm,
 * vllm/entrypoints/openai/serving_models.py: {@code _check_load_lora_adapter_request}, {@code
 * load_lora_adapter}, {@code _check_unload_lora_adapter_request}; errors are its {@code
 * ErrorResponse} JSON {@code {"object":"error","message","type","param","code"}}, successes a plain
 * text body; FastAPI answers 404/405/422 for a wrong path, method or body shape).
 *
 * <p>{@code lora_path} must be a directory vLLM's PEFT loader accepts: {@code adapter_config.json}
 * with {@code peft_type} LORA, {@code r} at most {@code --max-lora-rank}, {@code lora_alpha},
 * non-empty {@code target_modules}, {@code base_model_name_or_path} equal to the served base, and
 * {@code adapter_model.safetensors}. No vLLM can run here; this is how its contract is tested.
 */
final class VllmContractServer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One request that reached an endpoint, with when it arrived. */
  record Call(String path, JsonNode body, int status, long receivedNanos) {}

  private final HttpServer server;
  private final String prefix;
  private final String servedBase;
  private final int maxLoraRank;
  private final Map<String, String> loaded = new ConcurrentHashMap<>();
  final BlockingQueue<Call> calls = new LinkedBlockingQueue<>();
  private final AtomicInteger failNext = new AtomicInteger();

  /**
   * @param sglang serve SGLang's paths (no {@code /v1} prefix) instead of vLLM's
   */
  VllmContractServer(String servedBase, int maxLoraRank, boolean sglang) throws IOException {
    this.servedBase = servedBase;
    this.maxLoraRank = maxLoraRank;
    this.prefix = sglang ? "" : "/v1";
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/", this::handle);
    server.start();
  }

  String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  /** The next {@code n} requests get a 503, as a server still starting or overloaded might. */
  void failNext(int n) {
    failNext.set(n);
  }

  Map<String, String> loaded() {
    return Map.copyOf(loaded);
  }

  private void handle(HttpExchange ex) throws IOException {
    long received = System.nanoTime();
    String path = ex.getRequestURI().getPath();
    byte[] raw = ex.getRequestBody().readAllBytes();
    boolean load = path.equals(prefix + "/load_lora_adapter");
    boolean unload = path.equals(prefix + "/unload_lora_adapter");
    if (!load && !unload) {
      reply(ex, 404, "{\"detail\":\"Not Found\"}", true);
      return;
    }
    if (!ex.getRequestMethod().equals("POST")) {
      reply(ex, 405, "{\"detail\":\"Method Not Allowed\"}", true);
      return;
    }
    if (failNext.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
      calls.add(new Call(path, null, 503, received));
      reply(ex, 503, "Service Unavailable", false);
      return;
    }
    JsonNode body;
    try {
      body = JSON.readTree(raw);
    } catch (IOException e) {
      body = null;
    }
    String contentType = ex.getRequestHeaders().getFirst("Content-Type");
    if (body == null
        || !body.isObject()
        || contentType == null
        || !contentType.startsWith("application/json")) {
      reply(
          ex,
          422,
          "{\"detail\":[{\"type\":\"model_attributes_type\",\"loc\":[\"body\"],"
              + "\"msg\":\"Input should be a valid dictionary or object to extract fields from\"}]}",
          true);
      calls.add(new Call(path, body, 422, received));
      return;
    }
    int status = load ? load(ex, (ObjectNode) body) : unload(ex, (ObjectNode) body);
    calls.add(new Call(path, body, status, received));
  }

  private int load(HttpExchange ex, ObjectNode body) throws IOException {
    for (String field : List.of("lora_name", "lora_path")) {
      if (!body.hasNonNull(field)) {
        return reply(
            ex,
            422,
            "{\"detail\":[{\"type\":\"missing\",\"loc\":[\"body\",\""
                + field
                + "\"],\"msg\":\"Field required\"}]}",
            true);
      }
      if (!body.get(field).isTextual()) {
        return reply(
            ex,
            422,
            "{\"detail\":[{\"type\":\"string_type\",\"loc\":[\"body\",\""
                + field
                + "\"],\"msg\":\"Input should be a valid string\"}]}",
            true);
      }
    }
    String name = body.get("lora_name").asText();
    String path = body.get("lora_path").asText();
    if (name.isEmpty() || path.isEmpty()) {
      return error(
          ex, "Both 'lora_name' and 'lora_path' must be provided.", "InvalidUserInput", 400);
    }
    boolean inPlace = body.path("load_inplace").asBoolean(false);
    if (loaded.containsKey(name) && !inPlace) {
      return error(
          ex, "The lora adapter '" + name + "' has already been loaded.", "InvalidUserInput", 400);
    }
    Path dir = Path.of(path);
    Path config = dir.resolve("adapter_config.json");
    if (!dir.isAbsolute() || !Files.isDirectory(dir) || !Files.isRegularFile(config)) {
      return error(
          ex,
          "Loading lora " + name + " failed: No adapter found for " + path,
          "NotFoundError",
          404);
    }
    String problem = peftProblem(config, dir);
    if (problem != null) {
      return error(ex, problem, "BadRequestError", 400);
    }
    loaded.put(name, path);
    return reply(ex, 200, "Success: LoRA adapter '" + name + "' added successfully.", false);
  }

  private String peftProblem(Path config, Path dir) throws IOException {
    JsonNode c;
    try {
      c = JSON.readTree(Files.readString(config));
    } catch (IOException e) {
      return "adapter_config.json is not JSON: " + e.getMessage();
    }
    if (!"LORA".equals(c.path("peft_type").asText())) {
      return "peft_type is " + c.path("peft_type") + ", only LORA adapters are supported";
    }
    if (!c.path("r").isInt() || c.path("r").asInt() < 1) {
      return "adapter_config.json has no valid r";
    }
    if (c.path("r").asInt() > maxLoraRank) {
      return "LoRA rank "
          + c.path("r").asInt()
          + " is greater than max_lora_rank "
          + maxLoraRank
          + ".";
    }
    if (!c.path("lora_alpha").isNumber()) {
      return "adapter_config.json has no lora_alpha";
    }
    JsonNode targets = c.path("target_modules");
    if (!(targets.isArray() && !targets.isEmpty()) && !targets.isTextual()) {
      return "adapter_config.json has no target_modules";
    }
    if (!servedBase.equals(c.path("base_model_name_or_path").asText())) {
      return "adapter base_model_name_or_path "
          + c.path("base_model_name_or_path")
          + " is not the served model "
          + servedBase;
    }
    if (!Files.isRegularFile(dir.resolve("adapter_model.safetensors"))) {
      return "No adapter_model.safetensors or adapter_model.bin in " + dir;
    }
    return null;
  }

  private int unload(HttpExchange ex, ObjectNode body) throws IOException {
    String name = body.path("lora_name").asText("");
    if (name.isEmpty() && !body.hasNonNull("lora_int_id")) {
      return error(
          ex,
          "either 'lora_name' and 'lora_int_id' needs to be provided.",
          "InvalidUserInput",
          400);
    }
    if (loaded.remove(name) == null) {
      return error(ex, "The lora adapter '" + name + "' cannot be found.", "NotFoundError", 404);
    }
    return reply(ex, 200, "Success: LoRA adapter '" + name + "' removed successfully.", false);
  }

  private static int error(HttpExchange ex, String message, String type, int code)
      throws IOException {
    ObjectNode e = JSON.createObjectNode();
    e.put("object", "error");
    e.put("message", message);
    e.put("type", type);
    e.putNull("param");
    e.put("code", code);
    return reply(ex, code, e.toString(), true);
  }

  private static int reply(HttpExchange ex, int status, String body, boolean json)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", json ? "application/json" : "text/plain");
    ex.sendResponseHeaders(status, bytes.length);
    ex.getResponseBody().write(bytes);
    ex.close();
    return status;
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
