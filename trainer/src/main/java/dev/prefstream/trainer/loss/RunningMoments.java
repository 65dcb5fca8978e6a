package dev.prefstream.trainer.loss;

/**
 * Running mean and variance of a stream of batch means, as TRL's {@code RunningMoments} keeps them
 * for bco_pair's reward baseline (initial mean 0, var 1, count 1e-24; each update is one
 * observation). Mutable; {@link #copy()} before a step that may be discarded.
 */
public final class RunningMoments {

  private double mean;
  private double var = 1;
  private double count = 1e-24;

  public RunningMoments() {}

  public RunningMoments(double mean, double var, double count) {
    this.mean = mean;
    this.var = var;
    this.count = count;
  }

  /** Adds one observation (a batch's mean reward). */
  public void update(double x) {
    double delta = x - mean;
    double total = count + 1;
    double oldSum = var * count + delta * delta * count / total;
    mean += delta / total;
    var = oldSum / total;
    count = total;
  }

  public double mean() {
    return mean;
  }

  public double var() {
    return var;
  }

  public double count() {
    return count;
  }

  public RunningMoments copy() {
    return new RunningMoments(mean, var, count);
  }
}
