package dev.prefstream.trainer.lora;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.DpoTrainer;
import dev.prefstream.trainer.Golden;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.model.Safetensors;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraAdapterTest {

  @TempDir static Path tmp;
  static CausalLm lm;

  @BeforeAll
  static void load() throws Exception {
    ModelInit.write(tmp.resolve("model"), ModelInit.Spec.builder("qwen2").optSeed(3).build());
    lm = CausalLm.load(tmp.resolve("model"), Device.cpu());
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  static LoraConfig cfg() {
    return Recipe.of(
            Recipe.LORA_R_CONFIG,
            4,
            Recipe.LORA_ALPHA_CONFIG,
            16,
            Recipe.LORA_DROPOUT_CONFIG,
            0.05,
            Recipe.LORA_USE_RSLORA_CONFIG,
            true,
            Recipe.LORA_TARGET_MODULES_CONFIG,
            "v_proj,q_proj,down_proj")
        .lora();
  }

  @Test
  void peftDirectoryRoundTripsByteForByteAfterTraining() throws Exception {
    Path out = tmp.resolve("adapter");
    byte[] trained;
    try (LoraAdapter a = LoraAdapter.init(lm, cfg(), 1);
        DpoTrainer t = new DpoTrainer(lm, a, Recipe.defaults().train())) {
      t.step(
          List.of(new EncodedPair(new int[] {256, 65}, new int[] {66, 257}, new int[] {67, 257})));
      t.step(
          List.of(new EncodedPair(new int[] {256, 68}, new int[] {66, 257}, new int[] {67, 257})));
      trained = a.safetensors();
      a.writePeftDir(out, lm.name());
    }
    try (LoraAdapter back = LoraAdapter.load(lm, out)) {
      assertThat(back.safetensors()).isEqualTo(trained);
      assertThat(back.config().targetModules()).containsExactly("q_proj", "v_proj", "down_proj");
      assertThat(back.config().useRslora()).isTrue();
      assertThat(back.config().scale()).isEqualTo(16 / 2.0);
    }
    JsonNode c = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
    assertThat(c.get("peft_type").asText()).isEqualTo("LORA");
    assertThat(c.get("task_type").asText()).isEqualTo("CAUSAL_LM");
    assertThat(c.get("r").asInt()).isEqualTo(4);
    assertThat(c.get("lora_alpha").isInt()).isTrue();
    assertThat(c.get("lora_alpha").asInt()).isEqualTo(16);
    assertThat(c.get("lora_dropout").asDouble()).isEqualTo(0.05);
    assertThat(c.get("bias").asText()).isEqualTo("none");
    assertThat(c.get("fan_in_fan_out").asBoolean()).isFalse();
    assertThat(c.get("inference_mode").asBoolean()).isTrue();
    assertThat(c.get("base_model_name_or_path").asText()).isEqualTo("model");
    Safetensors st = Safetensors.open(out.resolve("adapter_model.safetensors"));
    assertThat(st.metadata()).containsEntry("format", "pt");
    assertThat(
            st.entries()
                .get("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")
                .shape())
        .containsExactly(4, 64);
    assertThat(
            st.entries()
                .get("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")
                .shape())
        .containsExactly(32, 4); // 2 kv heads x 16
    assertThat(
            st.entries().get("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight").shape())
        .containsExactly(4, 128);
  }

  @Test
  void identicalAdaptersHaveIdenticalBytesAndDifferentSeedsDoNot() {
    try (LoraAdapter a = LoraAdapter.init(lm, cfg(), 5);
        LoraAdapter b = LoraAdapter.init(lm, cfg(), 5);
        LoraAdapter c = LoraAdapter.init(lm, cfg(), 6)) {
      assertThat(a.sha256()).isEqualTo(b.sha256());
      assertThat(a.sha256()).isNotEqualTo(c.sha256());
    }
  }

  @Test
  void initFollowsPeftDefaults() {
    try (LoraAdapter a = LoraAdapter.init(lm, cfg(), 5)) {
      List<String> names = a.parameterNames();
      for (int i = 0; i < names.size(); i++) {
        float[] v = a.parameters().get(i).toFloatArray();
        if (names.get(i).endsWith("lora_B.weight")) {
          assertThat(v).containsOnly(0f);
        } else {
          int in = (int) a.parameters().get(i).getShape().get(1);
          double bound = 1 / Math.sqrt(in);
          double max = 0;
          for (float x : v) {
            assertThat(Math.abs(x)).isLessThanOrEqualTo((float) bound);
            max = Math.max(max, Math.abs(x));
          }
          assertThat(max).isGreaterThan(0.8 * bound); // uniform over the whole range
        }
      }
    }
  }

  @Test
  void loadsAPeftAdapterWrittenByPython() throws Exception {
    try (CausalLm llama = CausalLm.load(Golden.dir("llama"), Device.cpu());
        LoraAdapter a = LoraAdapter.load(llama, Golden.dir("llama-lora"))) {
      Safetensors src = Safetensors.open(Golden.dir("llama-lora/adapter_model.safetensors"));
      Safetensors back = Safetensors.of(a.safetensors(), "ours");
      assertThat(back.entries().keySet()).isEqualTo(src.entries().keySet());
      for (String name : src.entries().keySet()) {
        assertThat(back.floats(name)).isEqualTo(src.floats(name));
      }
      assertThat(a.config().targetModules()).hasSize(7);
    }
  }

  @Test
  void mismatchedWeightsFailNamingTensorAndShapes() throws Exception {
    try (LoraAdapter a = LoraAdapter.init(lm, cfg(), 5)) {
      SortedMap<String, Safetensors.Tensor> bad = new TreeMap<>();
      Safetensors st = Safetensors.of(a.safetensors(), "x");
      for (String name : st.entries().keySet()) {
        bad.put(name, new Safetensors.Tensor(st.entries().get(name).shape(), st.floats(name)));
      }
      String key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
      bad.put(key, new Safetensors.Tensor(new long[] {2, 64}, new float[128]));
      assertThatThrownBy(() -> a.loadSafetensors(Safetensors.write(bad)))
          .hasMessageContaining(key)
          .hasMessageContaining("[2, 64]")
          .hasMessageContaining("[4, 64]");
      bad.remove(key);
      assertThatThrownBy(() -> a.loadSafetensors(Safetensors.write(bad)))
          .hasMessageContaining("missing tensor " + key);
    }
  }

  @Test
  void unsupportedPeftConfigsFailNamingTheKey() throws Exception {
    Path d = tmp.resolve("dora");
    try (LoraAdapter a = LoraAdapter.init(lm, cfg(), 5)) {
      a.writePeftDir(d, "m");
    }
    Path conf = d.resolve("adapter_config.json");
    Files.writeString(
        conf, Files.readString(conf).replace("\"use_dora\": false", "\"use_dora\": true"));
    assertThatThrownBy(() -> LoraAdapter.load(lm, d)).hasMessageContaining("use_dora");
  }

  @Test
  void aPeftConfigWithInvalidValuesIsRefusedNamingTheField() throws Exception {
    Path d = Files.createTempDirectory("peft");
    try (LoraAdapter a = LoraAdapter.init(lm, cfg(), 1)) {
      a.writePeftDir(d, lm.name());
    }
    Path conf = d.resolve("adapter_config.json");
    String valid = Files.readString(conf);
    Files.writeString(conf, valid.replace("\"r\": 4", "\"r\": 0"));
    assertThatThrownBy(() -> LoraAdapter.load(lm, d)).hasMessageContaining("r = 0");
    Files.writeString(conf, valid.replace("\"v_proj\"", "\"lm_head\""));
    assertThatThrownBy(() -> LoraAdapter.load(lm, d))
        .hasMessageContaining("lm_head")
        .hasMessageContaining("q_proj");
  }
}
