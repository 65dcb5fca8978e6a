package dev.prefstream.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.Golden;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hugging Face directory variants against the PyTorch goldens, and the errors users see. */
class ModelFormatsTest {

  @TempDir Path tmp;

  /** Summed log-probs of {@code response} after {@code prompt}, scored alone (no padding). */
  static double score(CausalLm lm, int[] prompt, int[] response) {
    int[] ids = new int[prompt.length + response.length];
    System.arraycopy(prompt, 0, ids, 0, prompt.length);
    System.arraycopy(response, 0, ids, prompt.length, response.length);
    try (NDScope scope = new NDScope();
        NDManager m = lm.manager().newSubManager()) {
      NDArray input =
          m.create(java.util.Arrays.stream(ids).asLongStream().toArray(), new Shape(1, ids.length));
      float[] per = lm.tokenLogps(input, null).toFloatArray();
      double sum = 0;
      for (int j = prompt.length - 1; j < ids.length - 1; j++) {
        sum += per[j];
      }
      return sum;
    }
  }

  Path llamaWithConfig(JsonNode config) throws Exception {
    Path d = tmp.resolve("m" + System.nanoTime());
    Files.createDirectories(d);
    Files.copy(
        Golden.dir("llama/model.safetensors"),
        d.resolve("model.safetensors"),
        StandardCopyOption.REPLACE_EXISTING);
    Files.writeString(d.resolve("config.json"), config.toString());
    return d;
  }

  @Test
  void ropeScalingLinearDynamicAndLlama3MatchTransformers() throws Exception {
    JsonNode rope = Golden.expected().get("rope");
    for (String kind : new String[] {"linear", "dynamic", "llama3"}) {
      JsonNode v = rope.get(kind);
      try (CausalLm lm = CausalLm.load(llamaWithConfig(v.get("config")), Device.cpu())) {
        assertThat(lm.config().rope().type()).isEqualTo(kind);
        for (int i = 0; i < v.get("pairs").size(); i++) {
          JsonNode p = v.get("pairs").get(i);
          int[] prompt = Golden.ints(p.get("prompt"));
          double c = score(lm, prompt, Golden.ints(p.get("chosen")));
          double r = score(lm, prompt, Golden.ints(p.get("rejected")));
          double ec = v.get("chosen").get(i).asDouble();
          double er = v.get("rejected").get(i).asDouble();
          assertThat(c).as(kind + " chosen " + i).isCloseTo(ec, within(2e-5 * Math.abs(ec)));
          assertThat(r).as(kind + " rejected " + i).isCloseTo(er, within(2e-5 * Math.abs(er)));
        }
      }
    }
  }

  @Test
  void bf16F16AndShardedCheckpointsLoad() throws Exception {
    JsonNode pairs = Golden.expected().path("models").path("llama").get("pairs");
    for (String name : new String[] {"llama-bf16", "llama-f16", "llama-sharded"}) {
      JsonNode e = Golden.expected().path("dtypes").path(name);
      try (CausalLm lm = CausalLm.load(Golden.dir(name), Device.cpu())) {
        for (int i = 0; i < pairs.size(); i++) {
          int[] prompt = Golden.ints(pairs.get(i).get("prompt"));
          double c = score(lm, prompt, Golden.ints(pairs.get(i).get("chosen")));
          double ec = e.get("chosen").get(i).asDouble();
          assertThat(c).as(name + " " + i).isCloseTo(ec, within(2e-5 * Math.abs(ec)));
        }
      }
    }
    // sha256 is over the shard files in name order, so it differs from the single file's
    try (CausalLm a = CausalLm.load(Golden.dir("llama"), Device.cpu());
        CausalLm b = CausalLm.load(Golden.dir("llama-sharded"), Device.cpu())) {
      assertThat(a.sha256()).hasSize(64).isNotEqualTo(b.sha256());
      assertThat(a.name()).isEqualTo("llama");
    }
  }

  @Test
  void errorsNameTheFileTheTensorAndTheShapes() throws Exception {
    ObjectMapper json = new ObjectMapper();
    JsonNode base = json.readTree(Golden.dir("llama/config.json").toFile());

    var gpt2 = base.deepCopy();
    ((com.fasterxml.jackson.databind.node.ObjectNode) gpt2)
        .putArray("architectures")
        .add("GPT2LMHeadModel");
    Path d1 = llamaWithConfig(gpt2);
    assertThatThrownBy(() -> CausalLm.load(d1, Device.cpu()))
        .hasMessageContaining(d1.resolve("config.json").toString())
        .hasMessageContaining("GPT2LMHeadModel")
        .hasMessageContaining("LlamaForCausalLM");

    var wide = base.deepCopy();
    ((com.fasterxml.jackson.databind.node.ObjectNode) wide).put("intermediate_size", 50);
    Path d2 = llamaWithConfig(wide);
    assertThatThrownBy(() -> CausalLm.load(d2, Device.cpu()))
        .hasMessageContaining("model.safetensors")
        .hasMessageContaining("model.layers.0.mlp.gate_proj.weight")
        .hasMessageContaining("[48, 32]")
        .hasMessageContaining("[50, 32]");

    var yarn = base.deepCopy();
    ((com.fasterxml.jackson.databind.node.ObjectNode) yarn)
        .putObject("rope_scaling")
        .put("rope_type", "yarn")
        .put("factor", 2.0);
    Path d3 = llamaWithConfig(yarn);
    assertThatThrownBy(() -> CausalLm.load(d3, Device.cpu()))
        .hasMessageContaining("yarn")
        .hasMessageContaining("llama3");

    Path d4 = tmp.resolve("missing");
    Files.createDirectories(d4);
    Files.writeString(d4.resolve("config.json"), base.toString());
    Safetensors st = Safetensors.open(Golden.dir("llama/model.safetensors"));
    SortedMap<String, Safetensors.Tensor> w = new TreeMap<>();
    for (String name : st.entries().keySet()) {
      if (!name.equals("model.layers.1.self_attn.v_proj.weight")) {
        w.put(name, new Safetensors.Tensor(st.entries().get(name).shape(), st.floats(name)));
      }
    }
    Files.write(d4.resolve("model.safetensors"), Safetensors.write(w));
    assertThatThrownBy(() -> CausalLm.load(d4, Device.cpu()))
        .hasMessageContaining("missing tensor model.layers.1.self_attn.v_proj.weight")
        .hasMessageContaining(d4.resolve("model.safetensors").toString());
  }

  @Test
  void halfPrecisionConversionCoversSubnormalsAndSpecials() {
    assertThat(Safetensors.halfToFloat((short) 0x3c00)).isEqualTo(1f);
    assertThat(Safetensors.halfToFloat((short) 0xc000)).isEqualTo(-2f);
    assertThat(Safetensors.halfToFloat((short) 0x0001)).isEqualTo(0x1p-24f);
    assertThat(Safetensors.halfToFloat((short) 0x7bff)).isEqualTo(65504f);
    assertThat(Safetensors.halfToFloat((short) 0x7c00)).isEqualTo(Float.POSITIVE_INFINITY);
    assertThat(Safetensors.halfToFloat((short) 0x7e00)).isNaN();
  }
}
