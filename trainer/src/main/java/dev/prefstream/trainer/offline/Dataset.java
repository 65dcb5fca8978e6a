package dev.prefstream.trainer.offline;

import dev.prefstream.trainer.tokenize.EncodedExample;
import dev.prefstream.trainer.tokenize.EncodedPair;
import dev.prefstream.trainer.tokenize.PairEncoder;
import dev.prefstream.trainer.tokenize.TemplateException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Encoded training data: pairs for pairwise losses, or examples for unpaired ones (a pair then
 * gives two examples, chosen desirable and rejected undesirable, as TRL's unpair_preference_dataset
 * does).
 */
public record Dataset(List<EncodedPair> pairs, List<EncodedExample> examples) {

  public static Dataset encode(
      List<PreferenceFile.Record> records, PairEncoder enc, boolean unpaired) {
    List<EncodedPair> pairs = new ArrayList<>();
    List<EncodedExample> examples = new ArrayList<>();
    for (PreferenceFile.Record r : records) {
      try {
        if (!unpaired) {
          if (!r.paired()) {
            throw new IllegalArgumentException(
                "line "
                    + r.line()
                    + " is an unpaired example; pairwise losses need chosen and rejected");
          }
          pairs.add(enc.encode(r.prompt(), r.chosen(), r.rejected()));
        } else if (r.paired()) {
          examples.add(example(enc, r, r.chosen(), true));
          examples.add(example(enc, r, r.rejected(), false));
        } else {
          examples.add(example(enc, r, r.chosen(), r.label()));
        }
      } catch (TemplateException e) {
        throw new TemplateException("line " + r.line() + ": " + e.getMessage(), e);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("line " + r.line() + ": " + e.getMessage(), e);
      }
    }
    return new Dataset(pairs, examples);
  }

  private static EncodedExample example(
      PairEncoder enc, PreferenceFile.Record r, String text, boolean label) {
    int[][] ids = enc.encodeExample(r.prompt(), text);
    return new EncodedExample(ids[0], ids[1], label);
  }

  public int size() {
    return pairs.isEmpty() ? examples.size() : pairs.size();
  }

  /** The order of epoch {@code epoch}: a Fisher-Yates shuffle seeded by (seed, epoch). */
  public static int[] order(int n, long seed, int epoch) {
    int[] idx = new int[n];
    for (int i = 0; i < n; i++) {
      idx[i] = i;
    }
    SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + epoch);
    for (int i = n - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      int t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    return idx;
  }
}
