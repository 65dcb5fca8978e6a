package dev.prefstream.trainer.loss;

import ai.djl.ndarray.NDArray;
import dev.prefstream.trainer.model.Ops;

/**
 * Losses for unpaired feedback as TRL's {@code KTOTrainer.kto_loss} computes them, per example: KTO
 * (Ethayarajh et al. 2024, arXiv:2402.01306, eq. 7) against a KL estimate from mismatched
 * prompt/completion pairs, and the unpaired APO-zero (D'Oosterlinck et al. 2024, arXiv:2408.06266).
 */
public final class UnpairedLoss {

  /** Per-example losses (already weighted) and rewards beta * (policy - reference). */
  public record Result(NDArray losses, NDArray rewards) {}

  private final LossConfig cfg;

  public UnpairedLoss(LossConfig cfg) {
    if (!cfg.type().unpaired()) {
      throw new IllegalArgumentException("loss " + cfg.type().trlName() + " is for pairs");
    }
    this.cfg = cfg;
  }

  /** Whether the loss needs the KL estimate (kto does, apo_zero_unpaired does not). */
  public boolean needsKl() {
    return cfg.type() == LossType.KTO;
  }

  /** TRL's KL estimate: the mean of policy - reference over mismatched pairs, clamped at 0. */
  public static double kl(float[] policy, float[] reference) {
    double sum = 0;
    for (int i = 0; i < policy.length; i++) {
      sum += policy[i] - reference[i];
    }
    return Math.max(0, sum / policy.length);
  }

  /**
   * @param policy summed completion log-probs under the policy (M)
   * @param reference the same under the reference (M)
   * @param desirable 1 for desirable examples, 0 for undesirable (M, float)
   * @param kl the KL estimate ({@link #kl}), ignored by apo_zero_unpaired
   */
  public Result compute(NDArray policy, NDArray reference, NDArray desirable, double kl) {
    double beta = cfg.beta();
    NDArray ratio = policy.sub(reference);
    NDArray good;
    NDArray bad;
    if (cfg.type() == LossType.KTO) {
      good = Ops.add(Ops.sigmoid(Ops.mul(Ops.sub(ratio, kl), beta)).neg(), 1);
      bad = Ops.add(Ops.sigmoid(Ops.mul(Ops.add(ratio.neg(), kl), beta)).neg(), 1);
    } else {
      good = Ops.add(Ops.sigmoid(Ops.mul(ratio, beta)).neg(), 1);
      bad = Ops.sigmoid(Ops.mul(ratio, beta));
    }
    NDArray undesirable = Ops.add(desirable.neg(), 1);
    NDArray losses =
        Ops.mul(desirable.mul(good), cfg.desirableWeight())
            .add(Ops.mul(undesirable.mul(bad), cfg.undesirableWeight()));
    return new Result(losses, Ops.mul(ratio, beta));
  }
}
