package dev.prefstream.trainer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Pairs for the shared-prompt forward ({@code CausalLm.responseHidden}): each prompt once, its
 * chosen and rejected responses as two rows attending to it. Pairs are sorted by length and cut
 * into groups of about {@code chunkTokens} tokens, each padded only to its own longest prompt and
 * response (bucketing). Per-token log-probs come back per group as (2 b, R_g), chosen rows then
 * rejected rows, and are assembled into one (N, R) array over response positions, rows in the order
 * of {@link SequenceBatch#ofPairs}: [chosen_0..chosen_B-1, rejected_0..rejected_B-1].
 */
final class SharedPromptBatch implements TokenRows {

  /**
   * One group: prompts (b, P) int64, their real lengths, and responses (2 b, R) int64, chosen rows
   * then rejected rows; response row j's targets are the response's own tokens.
   */
  record Group(NDArray promptIds, int[] promptLengths, NDArray responseIds) {}

  private final List<Group> groups;
  private final NDArray order; // (N, R) int64 gather index from group rows to batch rows; or null
  private final NDArray mask; // (N, R): 1 on response tokens
  private final NDArray lengths; // (N)
  private final int[] responseLengths;
  private final int r;

  private SharedPromptBatch(NDManager m, List<EncodedPair> pairs, int vocab, long chunkTokens) {
    int b = pairs.size();
    int n = 2 * b;
    this.responseLengths = new int[n];
    int longest = 0;
    for (int i = 0; i < b; i++) {
      EncodedPair p = pairs.get(i);
      check(p.promptIds(), i, "prompt", vocab);
      check(p.chosenIds(), i, "chosen", vocab);
      check(p.rejectedIds(), i, "rejected", vocab);
      responseLengths[i] = p.chosenIds().length;
      responseLengths[b + i] = p.rejectedIds().length;
      longest = Math.max(longest, Math.max(responseLengths[i], responseLengths[b + i]));
    }
    this.r = longest;
    List<Integer> sorted = new ArrayList<>();
    for (int i = 0; i < b; i++) {
      sorted.add(i);
    }
    sorted.sort(
        Comparator.<Integer>comparingInt(i -> pairs.get(i).promptIds().length)
            .thenComparingInt(i -> longestResponse(pairs.get(i))));
    this.groups = new ArrayList<>();
    long[] index = new long[n * r];
    boolean identity = true;
    int rowStart = 0;
    for (int from = 0; from < b; ) {
      int to = from + 1;
      int maxP = pairs.get(sorted.get(from)).promptIds().length;
      int maxR = longestResponse(pairs.get(sorted.get(from)));
      while (to < b) {
        EncodedPair next = pairs.get(sorted.get(to));
        int p = Math.max(maxP, next.promptIds().length);
        int q = Math.max(maxR, longestResponse(next));
        if ((long) (to - from + 1) * (p + 2L * q) > chunkTokens) {
          break;
        }
        maxP = p;
        maxR = q;
        to++;
      }
      List<Integer> members = sorted.subList(from, to);
      groups.add(group(m, pairs, members, maxP, maxR));
      int size = members.size();
      for (int j = 0; j < size; j++) {
        int pair = members.get(j);
        identity &= rowStart + j == pair && rowStart + size + j == b + pair;
        for (int k = 0; k < r; k++) {
          index[pair * r + k] = rowStart + j;
          index[(b + pair) * r + k] = rowStart + size + j;
        }
      }
      rowStart += 2 * size;
      from = to;
    }
    this.order = identity ? null : m.create(index, new Shape(n, r));
    float[] targets = new float[n * r];
    float[] lens = new float[n];
    for (int i = 0; i < n; i++) {
      for (int k = 0; k < responseLengths[i]; k++) {
        targets[i * r + k] = 1f;
      }
      lens[i] = responseLengths[i];
    }
    this.mask = m.create(targets, new Shape(n, r));
    this.lengths = m.create(lens);
  }

  static SharedPromptBatch of(NDManager m, List<EncodedPair> pairs, int vocab, long chunkTokens) {
    return new SharedPromptBatch(m, pairs, vocab, chunkTokens);
  }

  private static int longestResponse(EncodedPair p) {
    return Math.max(p.chosenIds().length, p.rejectedIds().length);
  }

  private static Group group(
      NDManager m, List<EncodedPair> pairs, List<Integer> members, int maxP, int maxR) {
    int b = members.size();
    long[] prompts = new long[b * maxP];
    int[] promptLengths = new int[b];
    long[] responses = new long[2 * b * maxR];
    for (int j = 0; j < b; j++) {
      EncodedPair p = pairs.get(members.get(j));
      promptLengths[j] = p.promptIds().length;
      for (int k = 0; k < p.promptIds().length; k++) {
        prompts[j * maxP + k] = p.promptIds()[k];
      }
      for (int k = 0; k < p.chosenIds().length; k++) {
        responses[j * maxR + k] = p.chosenIds()[k];
      }
      for (int k = 0; k < p.rejectedIds().length; k++) {
        responses[(b + j) * maxR + k] = p.rejectedIds()[k];
      }
    }
    return new Group(
        m.create(prompts, new Shape(b, maxP)),
        promptLengths,
        m.create(responses, new Shape(2L * b, maxR)));
  }

  private static void check(int[] ids, int pair, String part, int vocab) {
    for (int j = 0; j < ids.length; j++) {
      if (ids[j] < 0 || ids[j] >= vocab) {
        throw new IllegalArgumentException(
            "token id "
                + ids[j]
                + " at position "
                + j
                + " of the "
                + part
                + " of pair "
                + pair
                + " is outside the model's vocabulary [0, "
                + vocab
                + ")");
      }
    }
  }

  /** Response tokens over all rows. */
  long totalResponseTokens() {
    long total = 0;
    for (int len : responseLengths) {
      total += len;
    }
    return total;
  }

  List<Group> groups() {
    return groups;
  }

  int rows() {
    return responseLengths.length;
  }

  /**
   * One (N, R) array of per-token values over response positions from each group's (2 b, R_g), in
   * {@link #groups()} order; positions past a row's response are zero.
   */
  NDArray assemble(List<NDArray> perGroup) {
    NDList padded = new NDList();
    for (NDArray g : perGroup) {
      long rows = g.getShape().get(0);
      long width = g.getShape().get(1);
      padded.add(
          width == r
              ? g
              : NDArrays.concat(
                  new NDList(g, g.getManager().zeros(new Shape(rows, r - width))), 1));
    }
    NDArray all = padded.size() == 1 ? padded.head() : NDArrays.concat(padded, 0); // (N, R)
    return (order == null ? all : all.gather(order, 0)).mul(mask);
  }

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
    float[] w = new float[n * r];
    for (int i = 0; i < n; i++) {
      int shared = Math.min(responseLengths[i % b], responseLengths[i % b + b]);
      for (int k = 0; k < responseLengths[i]; k++) {
        w[i * r + k] = k < shared ? 1f : (float) alpha;
      }
    }
    NDArray weights = mask.getManager().create(w, new Shape(n, r));
    return tokenLogps.mul(weights).sum(new int[] {1});
  }
}
