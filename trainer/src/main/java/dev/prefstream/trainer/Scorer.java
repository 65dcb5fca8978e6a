package dev.prefstream.trainer;

import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.loss.RunningMoments;
import dev.prefstream.trainer.model.Adapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.tokenize.EncodedExample;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.util.List;

/**
 * Evaluation without a trainer: scores pairs (or unpaired examples) under a policy, which may be
 * the base model alone ({@code policy == null}), against the base model as reference.
 */
public final class Scorer {

  private Scorer() {}

  /** Per-pair log-probs, losses and rewards; bco_pair uses a fresh baseline (0). */
  public static EvalResult evaluate(
      CausalLm model, Adapter policy, LossConfig loss, List<EncodedPair> pairs, int batchSize) {
    return new PairObjective(model, loss).evaluate(pairs, policy, new RunningMoments(), batchSize);
  }

  /** Per-example log-probs, losses and rewards for kto / apo_zero_unpaired. */
  public static UnpairedEvalResult evaluateUnpaired(
      CausalLm model,
      Adapter policy,
      LossConfig loss,
      List<EncodedExample> examples,
      int batchSize) {
    return new UnpairedObjective(model, loss).evaluate(examples, policy, batchSize);
  }
}
