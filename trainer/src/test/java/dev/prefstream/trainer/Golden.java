package dev.prefstream.trainer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.recipe.Recipe;
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

  /**
   * The recipe of a case object such as {"type": "sigmoid", "beta": 0.1, "label_smoothing": 0.1}:
   * type is train.loss, every other field is the recipe key train.&lt;field with dots&gt;.
   */
  public static Recipe recipe(JsonNode c, Object... more) {
    List<Object> keyValues = new ArrayList<>(List.of(more));
    c.properties()
        .forEach(
            f -> {
              keyValues.add(
                  f.getKey().equals("type")
                      ? Recipe.LOSS_CONFIG
                      : "train." + f.getKey().replace('_', '.'));
              keyValues.add(f.getValue().asText());
            });
    return Recipe.of(keyValues.toArray());
  }

  /** The LossConfig of a case object (see {@link #recipe}). */
  public static LossConfig loss(JsonNode c) {
    return recipe(c).loss();
  }
}
