package dev.prefstream.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.FileNames;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The fields of a Hugging Face {@code config.json} that the Llama family (LlamaForCausalLM,
 * Qwen2ForCausalLM, MistralForCausalLM) needs, with the defaults transformers applies.
 *
 * @param arch "llama", "qwen2" or "mistral"
 * @param qkvBias q/k/v projections have a bias (always for Qwen2, {@code attention_bias} for Llama)
 * @param oBias o_proj has a bias (Llama's {@code attention_bias})
 * @param mlpBias gate/up/down have biases (Llama's {@code mlp_bias})
 * @param slidingWindow attention window in tokens, 0 when unlimited
 */
public record ModelConfig(
    String arch,
    int hiddenSize,
    int intermediateSize,
    int numLayers,
    int numHeads,
    int numKvHeads,
    int headDim,
    int vocabSize,
    int maxPositions,
    double rmsNormEps,
    RopeScaling rope,
    boolean tieEmbeddings,
    boolean qkvBias,
    boolean oBias,
    boolean mlpBias,
    int slidingWindow,
    int bosTokenId,
    int eosTokenId,
    String nameOrPath) {

  public static final List<String> ARCHITECTURES =
      List.of("LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM");

  private static final ObjectMapper JSON = new ObjectMapper();

  public ModelConfig {
    if (numHeads % numKvHeads != 0) {
      throw new IllegalArgumentException(
          "num_attention_heads ("
              + numHeads
              + ") must be a multiple of num_key_value_heads ("
              + numKvHeads
              + ")");
    }
    if (headDim % 2 != 0) {
      throw new IllegalArgumentException(
          "head_dim must be even for rotary embeddings, got " + headDim);
    }
  }

  /** Number of query heads that share one key/value head. */
  public int groupSize() {
    return numHeads / numKvHeads;
  }

  public static ModelConfig load(Path modelDir) throws IOException {
    Path file = modelDir.resolve(FileNames.MODEL_CONFIG);
    if (!Files.isRegularFile(file)) {
      throw new IOException("No config.json in model directory " + modelDir);
    }
    return parse(JSON.readTree(file.toFile()), file.toString());
  }

  /** Parses a config.json tree; {@code source} names the file in error messages. */
  public static ModelConfig parse(JsonNode c, String source) {
    String arch = architecture(c, source);
    int hidden = required(c, "hidden_size", source);
    int heads = required(c, "num_attention_heads", source);
    int kvHeads = c.path("num_key_value_heads").asInt(heads);
    int headDim =
        c.hasNonNull("head_dim") ? c.get("head_dim").asInt() : Math.floorDiv(hidden, heads);
    if (!c.path("hidden_act").asText("silu").equals("silu")) {
      throw new IllegalArgumentException(
          source + ": hidden_act " + c.get("hidden_act") + " is not supported (only silu)");
    }
    boolean qwen = arch.equals("qwen2");
    boolean attentionBias = c.path("attention_bias").asBoolean(false);
    if (qwen && c.path("use_sliding_window").asBoolean(false)) {
      throw new IllegalArgumentException(
          source + ": use_sliding_window true is not supported for qwen2 (per-layer windows)");
    }
    int window = arch.equals("mistral") ? c.path("sliding_window").asInt(0) : 0;
    int maxPositions = c.path("max_position_embeddings").asInt(2048);
    return new ModelConfig(
        arch,
        hidden,
        required(c, "intermediate_size", source),
        required(c, "num_hidden_layers", source),
        heads,
        kvHeads,
        headDim,
        required(c, "vocab_size", source),
        maxPositions,
        c.path("rms_norm_eps").asDouble(1e-6),
        RopeScaling.parse(c, headDim, maxPositions, source),
        c.path("tie_word_embeddings").asBoolean(false),
        qwen || attentionBias,
        !qwen && attentionBias,
        c.path("mlp_bias").asBoolean(false),
        window,
        firstId(c.get("bos_token_id")),
        firstId(c.get("eos_token_id")),
        c.path("_name_or_path").asText(""));
  }

  private static String architecture(JsonNode c, String source) {
    JsonNode archs = c.get("architectures");
    if (archs != null && archs.isArray() && !archs.isEmpty()) {
      String name = archs.get(0).asText();
      return switch (name) {
        case "LlamaForCausalLM" -> "llama";
        case "Qwen2ForCausalLM" -> "qwen2";
        case "MistralForCausalLM" -> "mistral";
        default ->
            throw new IllegalArgumentException(
                source + ": unsupported architecture " + name + "; supported: " + ARCHITECTURES);
      };
    }
    String type = c.path("model_type").asText("").toLowerCase(Locale.ROOT);
    if (List.of("llama", "qwen2", "mistral").contains(type)) {
      return type;
    }
    throw new IllegalArgumentException(
        source
            + ": unsupported model_type '"
            + type
            + "' and no architectures field; supported: "
            + ARCHITECTURES);
  }

  private static int required(JsonNode c, String key, String source) {
    JsonNode v = c.get(key);
    if (v == null || !v.canConvertToInt()) {
      throw new IllegalArgumentException(source + ": missing or non-integer " + key + ": " + v);
    }
    return v.asInt();
  }

  private static int firstId(JsonNode v) {
    if (v == null || v.isNull()) {
      return -1;
    }
    return v.isArray() ? (v.isEmpty() ? -1 : v.get(0).asInt()) : v.asInt();
  }
}
