package dev.prefstream.trainer;

import ai.djl.ndarray.NDArray;

/**
 * How a batch's per-token log-probs reduce to one number per row: the rows are chosen responses
 * then rejected ones (pairs) or examples (unpaired), the tokens those of each row's response.
 */
interface TokenRows {

  /** Sum over each row's response tokens -> (N). */
  NDArray sums(NDArray tokenLogps);

  /** Per-token average over each row's response tokens -> (N). */
  NDArray means(NDArray tokenLogps);

  /** Divides per-row totals (N) by each row's response length. */
  NDArray perToken(NDArray rowTotals);

  /**
   * LD-DPO's length-desensitized sum (Liu et al. 2024, "Length Desensitization in Directed
   * Preference Optimization", arXiv:2409.06411): in each pair the first min(|chosen|, |rejected|)
   * response tokens count fully, the rest ("verbose" tokens) by {@code alpha}. Rows must be pairs
   * (chosen half, then rejected half).
   */
  NDArray ldSums(NDArray tokenLogps, double alpha);
}
