package dev.prefstream.trainer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.util.ArrayList;
import java.util.List;

/**
 * Prompt + response sequences, right-padded into one (N, T) batch, with the mask of the targets
 * that are response tokens. For pairs the rows are [chosen_0..chosen_B-1, rejected_0..rejected_B-1]
 * (TRL's concatenated forward: one pass scores both).
 */
final class SequenceBatch implements TokenRows {

  private final NDArray ids; // (N, T) int64
  private final NDArray mask; // (N, T-1): 1 where target t+1 is a response token
  private final NDArray lengths; // (N): response tokens per row
  private final int[] responseLengths;
  private final int[] promptLengths;
  private final int t;

  private SequenceBatch(NDManager m, List<int[]> prompts, List<int[]> responses, int vocab) {
    int n = prompts.size();
    int maxLen = 0;
    for (int i = 0; i < n; i++) {
      maxLen = Math.max(maxLen, prompts.get(i).length + responses.get(i).length);
    }
    this.t = maxLen;
    this.responseLengths = new int[n];
    this.promptLengths = new int[n];
    long[] tokens = new long[n * t];
    float[] targets = new float[n * (t - 1)];
    float[] lens = new float[n];
    for (int i = 0; i < n; i++) {
      int[] p = prompts.get(i);
      int[] r = responses.get(i);
      for (int j = 0; j < p.length + r.length; j++) {
        int id = j < p.length ? p[j] : r[j - p.length];
        if (id < 0 || id >= vocab) {
          throw new IllegalArgumentException(
              "token id "
                  + id
                  + " at position "
                  + j
                  + " of sequence "
                  + i
                  + " is outside the"
                  + " model's vocabulary [0, "
                  + vocab
                  + ")");
        }
        tokens[i * t + j] = id;
      }
      for (int j = p.length - 1; j < p.length + r.length - 1; j++) {
        targets[i * (t - 1) + j] = 1f;
      }
      promptLengths[i] = p.length;
      responseLengths[i] = r.length;
      lens[i] = r.length;
    }
    this.ids = m.create(tokens, new Shape(n, t));
    this.mask = m.create(targets, new Shape(n, t - 1));
    this.lengths = m.create(lens);
  }

  static SequenceBatch of(NDManager m, List<int[]> prompts, List<int[]> responses, int vocab) {
    return new SequenceBatch(m, prompts, responses, vocab);
  }

  static SequenceBatch ofPairs(NDManager m, List<EncodedPair> pairs, int vocab) {
    List<int[]> prompts = new ArrayList<>();
    List<int[]> responses = new ArrayList<>();
    for (EncodedPair p : pairs) {
      prompts.add(p.promptIds());
      responses.add(p.chosenIds());
    }
    for (EncodedPair p : pairs) {
      prompts.add(p.promptIds());
      responses.add(p.rejectedIds());
    }
    return new SequenceBatch(m, prompts, responses, vocab);
  }

  NDArray ids() {
    return ids;
  }

  int rows() {
    return responseLengths.length;
  }

  int[] responseLengths() {
    return responseLengths.clone();
  }

  /** Sum over each row's response tokens of the per-token log-probs (N, T-1) -> (N). */
  @Override
  public NDArray sums(NDArray tokenLogps) {
    return tokenLogps.mul(mask).sum(new int[] {1});
  }

  @Override
  public NDArray means(NDArray tokenLogps) {
    return perToken(sums(tokenLogps));
  }

  @Override
  public NDArray perToken(NDArray rowTotals) {
    return rowTotals.div(lengths);
  }

  @Override
  public NDArray ldSums(NDArray tokenLogps, double alpha) {
    int n = rows();
    int b = n / 2;
    float[] w = new float[n * (t - 1)];
    for (int i = 0; i < n; i++) {
      int shared = Math.min(responseLengths[i % b], responseLengths[i % b + b]);
      int start = promptLengths[i] - 1;
      for (int k = 0; k < responseLengths[i]; k++) {
        w[i * (t - 1) + start + k] = k < shared ? 1f : (float) alpha;
      }
    }
    NDArray weights = mask.getManager().create(w, new Shape(n, t - 1));
    return tokenLogps.mul(weights).sum(new int[] {1});
  }
}
