package dev.prefstream.trainer;

import dev.prefstream.trainer.loss.LossConfig;

/**
 * Optimizer and loss settings of a {@link DpoTrainer}. Made from a validated recipe ({@code
 * dev.prefstream.trainer.recipe.Recipe}, where each setting is declared with its default and rule);
 * this class checks nothing of its own.
 *
 * @param maxGradNorm global-norm clipping threshold; 0 (or infinity) disables clipping
 * @param evalBatchSize pairs per forward pass in {@link DpoTrainer#evaluate}
 */
public record TrainConfig(
    LossConfig loss,
    double learningRate,
    double beta1,
    double beta2,
    double eps,
    double weightDecay,
    double maxGradNorm,
    long seed,
    int evalBatchSize) {

  /** True when gradients are clipped to {@link #maxGradNorm()}. */
  public boolean clips() {
    return maxGradNorm > 0 && Double.isFinite(maxGradNorm);
  }
}
