package dev.prefstream.trainer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The fixtures tools/golden/make_golden.py writes (an independent PyTorch implementation, run with
 * Debian's python3-torch): model and adapter directories and expected.json.
 */
public final class Golden {

  private static JsonNode expected;

  private Golden() {}

  public static Path dir(String name) {
    try {
      return Path.of(Golden.class.getResource("/golden/" + name).toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  public static synchronized JsonNode expected() {
    if (expected == null) {
      try {
        expected = new ObjectMapper().readTree(dir("expected.json").toFile());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return expected;
  }

  public static int[] ints(JsonNode array) {
    int[] out = new int[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asInt();
    }
    return out;
  }

  public static double[] doubles(JsonNode array) {
    double[] out = new double[array.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = array.get(i).asDouble();
    }
    return out;
  }

  public static List<EncodedPair> pairs(JsonNode pairs) {
    List<EncodedPair> out = new ArrayList<>();
    for (JsonNode p : pairs) {
      out.add(
          new EncodedPair(ints(p.get("prompt")), ints(p.get("chosen")), ints(p.get("rejected"))));
    }
    return out;
  }

  /** A LossConfig from a case object such as {"type": "sigmoid", "beta": 0.1}. */
  public static LossConfig loss(JsonNode c) {
    LossConfig.Builder b =
        LossConfig.builder().optType(c.get("type").asText()).optBeta(c.path("beta").asDouble(0.1));
    if (c.has("label_smoothing")) {
      b.optLabelSmoothing(c.get("label_smoothing").asDouble());
    }
    if (c.has("simpo_gamma")) {
      b.optSimpoGamma(c.get("simpo_gamma").asDouble());
    }
    if (c.has("ld_alpha")) {
      b.optLdAlpha(c.get("ld_alpha").asDouble());
    }
    if (c.has("pref_ftx")) {
      b.optPrefFtx(c.get("pref_ftx").asDouble());
    }
    if (c.has("desirable_weight")) {
      b.optDesirableWeight(c.get("desirable_weight").asDouble());
    }
    if (c.has("undesirable_weight")) {
      b.optUndesirableWeight(c.get("undesirable_weight").asDouble());
    }
    return b.build();
  }
}
