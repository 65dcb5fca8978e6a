package dev.prefstream.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hand-computable forward passes. With k_proj = 0 every attention score is 0 whatever RoPE does, so
 * position i attends uniformly to positions 0..i: the attention output is the running mean of the
 * values (a causal-mask check); with two query heads sharing one kv head (GQA) both heads output
 * that mean. With a zero MLP, identity o_proj and lm_head, the logits are rmsnorm(e_i + [mean_i,
 * mean_i]).
 */
class ConstantWeightsTest {

  @TempDir Path dir;

  static final double[][] EMBED = {
    {1, 2, 3, 4}, {-1, 0.5, 2, -3}, {0.3, -0.7, 1.1, 0.2}, {2, -2, 1, -1}
  };
  static final double EPS = 1e-6;

  static Safetensors.Tensor t(long[] shape, double... v) {
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = (float) v[i];
    }
    return new Safetensors.Tensor(shape, f);
  }

  static double[] rms(double[] x) {
    double ms = 0;
    for (double v : x) {
      ms += v * v;
    }
    ms /= x.length;
    double[] out = new double[x.length];
    for (int i = 0; i < x.length; i++) {
      out[i] = x[i] / Math.sqrt(ms + EPS);
    }
    return out;
  }

  @Test
  void attentionWithIdenticalKeysIsTheCausalMeanOfValues() throws Exception {
    Files.writeString(
        dir.resolve("config.json"),
        """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 4, "intermediate_size": 2,
         "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
         "vocab_size": 4, "rms_norm_eps": 1e-6, "max_position_embeddings": 16}
        """);
    double[] flatEmbed =
        java.util.Arrays.stream(EMBED).flatMapToDouble(java.util.Arrays::stream).toArray();
    double[] identity = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    SortedMap<String, Safetensors.Tensor> w = new TreeMap<>();
    String p = "model.layers.0.";
    w.put("model.embed_tokens.weight", t(new long[] {4, 4}, flatEmbed));
    w.put(p + "input_layernorm.weight", t(new long[] {4}, 1, 1, 1, 1));
    w.put(p + "post_attention_layernorm.weight", t(new long[] {4}, 1, 1, 1, 1));
    w.put(
        p + "self_attn.q_proj.weight",
        t(
            new long[] {4, 4},
            0.3,
            -1,
            2,
            0.5,
            1,
            1,
            -2,
            0.1,
            0.7,
            0.2,
            0.3,
            0.4,
            -0.5,
            0.6,
            0.9,
            1.2));
    w.put(p + "self_attn.k_proj.weight", t(new long[] {2, 4}, new double[8]));
    w.put(p + "self_attn.v_proj.weight", t(new long[] {2, 4}, 1, 0, 0, 0, 0, 1, 0, 0));
    w.put(p + "self_attn.o_proj.weight", t(new long[] {4, 4}, identity));
    w.put(p + "mlp.gate_proj.weight", t(new long[] {2, 4}, new double[8]));
    w.put(p + "mlp.up_proj.weight", t(new long[] {2, 4}, new double[8]));
    w.put(p + "mlp.down_proj.weight", t(new long[] {4, 2}, new double[8]));
    w.put("model.norm.weight", t(new long[] {4}, 1, 1, 1, 1));
    w.put("lm_head.weight", t(new long[] {4, 4}, identity));
    Files.write(dir.resolve("model.safetensors"), Safetensors.write(w));

    int[] ids = {2, 0, 3, 1, 1};
    try (CausalLm lm = CausalLm.load(dir, Device.cpu());
        NDScope scope = new NDScope();
        NDManager m = lm.manager().newSubManager()) {
      NDArray input =
          m.create(java.util.Arrays.stream(ids).asLongStream().toArray(), new Shape(1, ids.length));
      float[] logits = lm.logits(input, null).toFloatArray();
      double[] sum = new double[2];
      for (int i = 0; i < ids.length; i++) {
        double[] e = EMBED[ids[i]];
        double[] h = rms(e);
        sum[0] += h[0];
        sum[1] += h[1];
        double[] mean = {sum[0] / (i + 1), sum[1] / (i + 1)};
        double[] x = {e[0] + mean[0], e[1] + mean[1], e[2] + mean[0], e[3] + mean[1]};
        double[] expected = rms(x);
        for (int j = 0; j < 4; j++) {
          assertThat((double) logits[i * 4 + j])
              .as("logit[%d][%d]", i, j)
              .isCloseTo(expected[j], within(1e-5));
        }
      }
      // RMSNorm of a constant vector c is c / sqrt(c^2 + eps): all ones for c = 3
      assertThat(rms(new double[] {3, 3, 3, 3})[0]).isCloseTo(1.0, within(1e-6));
    }
  }
}
