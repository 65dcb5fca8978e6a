package dev.prefstream.trainer.lora;

import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.model.Projection;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * PEFT's adapter_config.json for a LoRA adapter: reading what we support, writing what PEFT and
 * vLLM load.
 */
final class PeftConfig {

  private static final ObjectMapper JSON = new ObjectMapper();

  private PeftConfig() {}

  static String write(LoraConfig c, String baseModelName) {
    Map<String, Object> m = new TreeMap<>();
    m.put("alpha_pattern", Map.of());
    m.put("auto_mapping", null);
    m.put("base_model_name_or_path", baseModelName);
    m.put("bias", "none");
    m.put("fan_in_fan_out", false);
    m.put("inference_mode", true);
    m.put("init_lora_weights", true);
    m.put("layer_replication", null);
    m.put("layers_pattern", null);
    m.put("layers_to_transform", null);
    m.put("loftq_config", Map.of());
    m.put("lora_alpha", number(c.alpha()));
    m.put("lora_dropout", c.dropout());
    m.put("megatron_config", null);
    m.put("megatron_core", "megatron.core");
    m.put("modules_to_save", null);
    m.put("peft_type", "LORA");
    m.put("r", c.r());
    m.put("rank_pattern", Map.of());
    m.put("revision", null);
    m.put("target_modules", c.targetModules());
    m.put("task_type", "CAUSAL_LM");
    m.put("use_dora", false);
    m.put("use_rslora", c.useRslora());
    DefaultPrettyPrinter pretty =
        new DefaultPrettyPrinter()
            .withSeparators(
                Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER));
    try {
      return JSON.writer(pretty).writeValueAsString(m) + "\n";
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Object number(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e9 ? (Object) (int) v : (Object) v;
  }

  static LoraConfig parse(String json, String source) throws IOException {
    JsonNode c = JSON.readTree(json);
    String type = c.path("peft_type").asText("LORA");
    if (!type.equals("LORA")) {
      throw new IOException(source + ": peft_type " + type + " is not supported (only LORA)");
    }
    reject(c, "use_dora", c.path("use_dora").asBoolean(false), source);
    reject(c, "fan_in_fan_out", c.path("fan_in_fan_out").asBoolean(false), source);
    reject(c, "bias", !c.path("bias").asText("none").equals("none"), source);
    reject(c, "rank_pattern", !c.path("rank_pattern").isEmpty(), source);
    reject(c, "alpha_pattern", !c.path("alpha_pattern").isEmpty(), source);
    reject(c, "modules_to_save", !c.path("modules_to_save").isEmpty(), source);
    reject(
        c,
        "layers_to_transform",
        !c.path("layers_to_transform").isNull() && !c.path("layers_to_transform").isMissingNode(),
        source);
    if (!c.hasNonNull("r")) {
      throw new IOException(source + ": missing r");
    }
    // the file's own rules, in PEFT's names (PEFT's defaults: lora_alpha 8, lora_dropout 0)
    int r = c.get("r").asInt();
    double alpha = c.path("lora_alpha").asDouble(8);
    double dropout = c.path("lora_dropout").asDouble(0);
    reject(c, "r", r < 1, source);
    reject(c, "lora_alpha", !(alpha > 0) || Double.isInfinite(alpha), source);
    reject(c, "lora_dropout", !(dropout >= 0 && dropout < 1), source);
    List<String> targets = targets(c.get("target_modules"), source);
    if (targets.isEmpty()) {
      throw new IOException(source + ": target_modules is empty");
    }
    try {
      return new LoraConfig(r, alpha, dropout, c.path("use_rslora").asBoolean(false), targets);
    } catch (IllegalArgumentException e) {
      throw new IOException(source + ": " + e.getMessage(), e);
    }
  }

  private static List<String> targets(JsonNode t, String source) throws IOException {
    if (t == null || t.isNull()) {
      throw new IOException(source + ": missing target_modules");
    }
    if (t.isTextual()) {
      String s = t.asText();
      if (s.equals("all-linear")) {
        return Projection.moduleNames();
      }
      if (Projection.moduleNames().contains(s)) {
        return List.of(s);
      }
      throw new IOException(
          source
              + ": target_modules '"
              + s
              + "' (a regular expression) is not supported; use a"
              + " list of "
              + Projection.moduleNames());
    }
    List<String> out = new ArrayList<>();
    t.forEach(n -> out.add(n.asText()));
    return out;
  }

  private static void reject(JsonNode c, String key, boolean bad, String source)
      throws IOException {
    if (bad) {
      throw new IOException(source + ": " + key + " = " + c.get(key) + " is not supported");
    }
  }
}
