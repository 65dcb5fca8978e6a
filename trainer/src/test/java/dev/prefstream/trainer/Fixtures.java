package dev.prefstream.trainer;

import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Synthetic preference data over the byte-level tokenizer that ModelInit writes. */
public final class Fixtures {

  private Fixtures() {}

  static int[] bytes(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    int[] ids = new int[b.length];
    for (int i = 0; i < b.length; i++) {
      ids[i] = b[i] & 0xff;
    }
    return ids;
  }

  static int[] withEos(int[] ids) {
    int[] out = java.util.Arrays.copyOf(ids, ids.length + 1);
    out[ids.length] = ModelInit.EOS;
    return out;
  }

  static int[] withBos(int[] ids) {
    int[] out = new int[ids.length + 1];
    out[0] = ModelInit.BOS;
    System.arraycopy(ids, 0, out, 1, ids.length);
    return out;
  }

  static String randomWord(SplittableRandom rng, int minLen, int maxLen) {
    int len = rng.nextInt(minLen, maxLen + 1);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < len; i++) {
      sb.append((char) ('a' + rng.nextInt(26)));
    }
    return sb.toString();
  }

  /**
   * A learnable preference: chosen responses end with "!!", rejected ones with "??"; the rest is
   * random text, so only the ending separates them.
   */
  static List<EncodedPair> bangPreference(long seed, int n) {
    SplittableRandom rng = new SplittableRandom(seed);
    List<EncodedPair> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] prompt = withBos(bytes("Q: " + randomWord(rng, 2, 6) + "\nA:"));
      String body = " " + randomWord(rng, 2, 6);
      out.add(
          new EncodedPair(
              prompt,
              withEos(bytes(body + "!!")),
              withEos(bytes(" " + randomWord(rng, 2, 6) + "??"))));
      if (body.isEmpty()) {
        throw new AssertionError();
      }
    }
    return out;
  }
}
