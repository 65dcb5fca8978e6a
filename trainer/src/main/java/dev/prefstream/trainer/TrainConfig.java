package dev.prefstream.trainer;

import dev.prefstream.trainer.loss.LossConfig;

/**
 * Optimizer and loss settings of a {@link DpoTrainer}. Immutable; build with {@link #builder()}.
 * Defaults follow Hugging Face's TrainingArguments (betas 0.9/0.999, eps 1e-8, weight decay 0, max
 * grad norm 1) with a LoRA-typical learning rate of 1e-4.
 */
public final class TrainConfig {

  private final LossConfig loss;
  private final double learningRate;
  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;
  private final double maxGradNorm;
  private final long seed;
  private final int evalBatchSize;

  private TrainConfig(Builder b) {
    check(
        b.learningRate >= 0 && Double.isFinite(b.learningRate),
        "train.learning.rate",
        b.learningRate,
        ">= 0");
    check(b.beta1 >= 0 && b.beta1 < 1, "train.adam.beta1", b.beta1, "in [0, 1)");
    check(b.beta2 >= 0 && b.beta2 < 1, "train.adam.beta2", b.beta2, "in [0, 1)");
    check(b.eps > 0 && Double.isFinite(b.eps), "train.adam.eps", b.eps, "> 0");
    check(
        b.weightDecay >= 0 && Double.isFinite(b.weightDecay),
        "train.weight.decay",
        b.weightDecay,
        ">= 0");
    check(
        b.maxGradNorm > 0,
        "train.max.grad.norm",
        b.maxGradNorm,
        "> 0 (Infinity disables clipping)");
    if (b.evalBatchSize < 1) {
      throw new IllegalArgumentException(
          "train.eval.batch.size must be >= 1, got " + b.evalBatchSize);
    }
    this.loss = b.loss;
    this.learningRate = b.learningRate;
    this.beta1 = b.beta1;
    this.beta2 = b.beta2;
    this.eps = b.eps;
    this.weightDecay = b.weightDecay;
    this.maxGradNorm = b.maxGradNorm;
    this.seed = b.seed;
    this.evalBatchSize = b.evalBatchSize;
  }

  private static void check(boolean ok, String key, double value, String rule) {
    if (!ok) {
      throw new IllegalArgumentException(key + " must be " + rule + ", got " + value);
    }
  }

  public static Builder builder() {
    return new Builder();
  }

  public LossConfig loss() {
    return loss;
  }

  public double learningRate() {
    return learningRate;
  }

  public double beta1() {
    return beta1;
  }

  public double beta2() {
    return beta2;
  }

  public double eps() {
    return eps;
  }

  public double weightDecay() {
    return weightDecay;
  }

  public double maxGradNorm() {
    return maxGradNorm;
  }

  public long seed() {
    return seed;
  }

  /** Pairs per forward pass in {@link DpoTrainer#evaluate}. */
  public int evalBatchSize() {
    return evalBatchSize;
  }

  @Override
  public String toString() {
    return "TrainConfig{loss="
        + loss
        + ", lr="
        + learningRate
        + ", betas=("
        + beta1
        + ", "
        + beta2
        + "), eps="
        + eps
        + ", weightDecay="
        + weightDecay
        + ", maxGradNorm="
        + maxGradNorm
        + ", seed="
        + seed
        + ", evalBatchSize="
        + evalBatchSize
        + "}";
  }

  /** Builder; every value is optional. */
  public static final class Builder {
    private LossConfig loss = LossConfig.builder().build();
    private double learningRate = 1e-4;
    private double beta1 = 0.9;
    private double beta2 = 0.999;
    private double eps = 1e-8;
    private double weightDecay;
    private double maxGradNorm = 1.0;
    private long seed = 42;
    private int evalBatchSize = 8;

    public Builder optLoss(LossConfig loss) {
      this.loss = loss;
      return this;
    }

    public Builder optLearningRate(double lr) {
      this.learningRate = lr;
      return this;
    }

    public Builder optBetas(double beta1, double beta2) {
      this.beta1 = beta1;
      this.beta2 = beta2;
      return this;
    }

    public Builder optEps(double eps) {
      this.eps = eps;
      return this;
    }

    public Builder optWeightDecay(double weightDecay) {
      this.weightDecay = weightDecay;
      return this;
    }

    public Builder optMaxGradNorm(double maxGradNorm) {
      this.maxGradNorm = maxGradNorm;
      return this;
    }

    public Builder optSeed(long seed) {
      this.seed = seed;
      return this;
    }

    public Builder optEvalBatchSize(int evalBatchSize) {
      this.evalBatchSize = evalBatchSize;
      return this;
    }

    public TrainConfig build() {
      return new TrainConfig(this);
    }
  }
}
