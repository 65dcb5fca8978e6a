package dev.prefstream.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * Rotary position embedding frequencies as Hugging Face transformers computes them ({@code
 * modeling_rope_utils.py}): {@code inv_freq[i] = 1 / theta^(2i/d)} in float32, optionally rescaled
 * by {@code rope_scaling} of type linear, dynamic (NTK) or llama3. RoPE: Su et al. 2021,
 * "RoFormer", arXiv:2104.09864.
 *
 * @param type "default", "linear", "dynamic" or "llama3"
 */
public record RopeScaling(
    String type,
    double theta,
    int dim,
    int maxPositions,
    double factor,
    double lowFreqFactor,
    double highFreqFactor,
    int originalMaxPositions) {

  public static final List<String> TYPES = List.of("default", "linear", "dynamic", "llama3");

  static RopeScaling parse(JsonNode config, int headDim, int maxPositions, String source) {
    JsonNode params = config.path("rope_parameters");
    double theta = config.path("rope_theta").asDouble(params.path("rope_theta").asDouble(10000.0));
    JsonNode s = config.get("rope_scaling");
    if (s == null || s.isNull()) {
      s = params.isObject() ? params : null;
    }
    if (s == null) {
      return new RopeScaling("default", theta, headDim, maxPositions, 1, 1, 1, maxPositions);
    }
    String type = s.path("rope_type").asText(s.path("type").asText("default"));
    if (!TYPES.contains(type)) {
      throw new IllegalArgumentException(
          source + ": rope_scaling type '" + type + "' is not supported; supported: " + TYPES);
    }
    double factor = s.path("factor").asDouble(1.0);
    if (!type.equals("default") && !s.hasNonNull("factor")) {
      throw new IllegalArgumentException(source + ": rope_scaling type " + type + " needs factor");
    }
    if (type.equals("llama3")) {
      for (String key :
          List.of("low_freq_factor", "high_freq_factor", "original_max_position_embeddings")) {
        if (!s.hasNonNull(key)) {
          throw new IllegalArgumentException(
              source + ": rope_scaling type llama3 needs " + key + ", got " + s);
        }
      }
    }
    return new RopeScaling(
        type,
        theta,
        headDim,
        maxPositions,
        factor,
        s.path("low_freq_factor").asDouble(1.0),
        s.path("high_freq_factor").asDouble(4.0),
        s.path("original_max_position_embeddings").asInt(maxPositions));
  }

  /**
   * The inverse frequencies (length dim/2) for a batch whose longest sequence has {@code seqLen}
   * tokens. Only the dynamic type depends on it: transformers grows the NTK base once a sequence
   * exceeds max_position_embeddings; we compute it per batch from that batch's length (stateless,
   * the same for every batch longer than the limit as transformers' first call).
   */
  public float[] inverseFrequencies(int seqLen) {
    double base = theta;
    if (type.equals("dynamic")) {
      double len = Math.max(seqLen, maxPositions);
      base =
          theta * StrictMath.pow((factor * len / maxPositions) - (factor - 1), dim / (dim - 2.0));
    }
    float[] inv = new float[dim / 2];
    for (int i = 0; i < inv.length; i++) {
      float exponent = (float) (2 * i) / (float) dim;
      inv[i] = 1.0f / (float) StrictMath.pow((float) base, exponent);
    }
    if (type.equals("linear")) {
      for (int i = 0; i < inv.length; i++) {
        inv[i] = inv[i] / (float) factor;
      }
    } else if (type.equals("llama3")) {
      applyLlama3(inv);
    }
    return inv;
  }

  /** Llama 3.1's smooth interpolation between low- and high-frequency bands (float32 as HF). */
  private void applyLlama3(float[] inv) {
    float lowWavelen = (float) (originalMaxPositions / lowFreqFactor);
    float highWavelen = (float) (originalMaxPositions / highFreqFactor);
    for (int i = 0; i < inv.length; i++) {
      float wavelen = (float) (2 * Math.PI) / inv[i];
      float scaled = wavelen > lowWavelen ? inv[i] / (float) factor : inv[i];
      if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
        float smooth =
            (float)
                ((originalMaxPositions / wavelen - lowFreqFactor)
                    / (highFreqFactor - lowFreqFactor));
        scaled = (1 - smooth) * scaled / (float) factor + smooth * scaled;
      }
      inv[i] = scaled;
    }
  }

  /**
   * cos and sin tables of shape (seqLen, dim) for positions 0..seqLen-1, each row {@code cat(freqs,
   * freqs)} as in transformers' {@code emb = torch.cat((freqs, freqs), dim=-1)}.
   */
  public float[][] cosSin(int seqLen) {
    float[] inv = inverseFrequencies(seqLen);
    int half = dim / 2;
    float[] cos = new float[seqLen * dim];
    float[] sin = new float[seqLen * dim];
    for (int t = 0; t < seqLen; t++) {
      for (int i = 0; i < half; i++) {
        float angle = (float) t * inv[i];
        float c = (float) StrictMath.cos(angle);
        float s = (float) StrictMath.sin(angle);
        cos[t * dim + i] = c;
        cos[t * dim + half + i] = c;
        sin[t * dim + i] = s;
        sin[t * dim + half + i] = s;
      }
    }
    return new float[][] {cos, sin};
  }
}
