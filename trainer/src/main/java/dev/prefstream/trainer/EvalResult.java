package dev.prefstream.trainer;

import java.util.List;
import java.util.Map;

/**
 * Scores of pairs without any update.
 *
 * @param pairs one entry per input pair, in order
 * @param metrics TRL-named summary metrics over all pairs
 */
public record EvalResult(List<PairScore> pairs, Map<String, Double> metrics) {

  /**
   * One pair: log-probabilities summed over the response tokens (policy = base + adapter, reference
   * = base), and this pair's loss and rewards under the configured loss.
   */
  public record PairScore(
      double policyChosenLogps,
      double policyRejectedLogps,
      double referenceChosenLogps,
      double referenceRejectedLogps,
      double loss,
      double chosenReward,
      double rejectedReward) {}
}
