package dev.prefstream.trainer;

import java.util.List;
import java.util.Map;

/** Scores of unpaired examples without any update; {@code metrics} include "kl". */
public record UnpairedEvalResult(List<ExampleScore> examples, Map<String, Double> metrics) {

  /** One example: summed completion log-probs of policy and reference, its loss and reward. */
  public record ExampleScore(
      double policyLogps, double referenceLogps, double loss, double reward, boolean desirable) {}
}
