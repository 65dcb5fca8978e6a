package dev.prefstream.trainer.loss;

/**
 * Which preference loss and its hyper-parameters, named as TRL's DPOConfig / CPOConfig / KTOConfig
 * and LLaMA-Factory name them. Immutable; build with {@link #builder()}.
 */
public final class LossConfig {

  private final LossType type;
  private final double beta;
  private final double labelSmoothing;
  private final double simpoGamma;
  private final Double ldAlpha;
  private final double prefFtx;
  private final double desirableWeight;
  private final double undesirableWeight;

  private LossConfig(Builder b) {
    LossType t = LossType.parse(b.type);
    if (!(b.beta > 0) || Double.isInfinite(b.beta)) {
      throw new IllegalArgumentException("loss.beta must be a finite number > 0, got " + b.beta);
    }
    if (!(b.labelSmoothing >= 0 && b.labelSmoothing <= 1)) {
      throw new IllegalArgumentException(
          "loss.label.smoothing must be in [0, 1], got " + b.labelSmoothing);
    }
    if (t == LossType.ROBUST && !(b.labelSmoothing < 0.5)) {
      throw new IllegalArgumentException(
          "loss.label.smoothing " + b.labelSmoothing + " with loss robust must be in [0, 0.5)");
    }
    if (b.ldAlpha != null && !(b.ldAlpha >= 0 && b.ldAlpha <= 1)) {
      throw new IllegalArgumentException("loss.ld.alpha must be in [0, 1], got " + b.ldAlpha);
    }
    if (b.ldAlpha != null && t.unpaired()) {
      throw new IllegalArgumentException(
          "loss.ld.alpha " + b.ldAlpha + " with loss " + t.trlName() + " needs a paired loss");
    }
    if (!(b.prefFtx >= 0) || Double.isInfinite(b.prefFtx)) {
      throw new IllegalArgumentException("loss.pref.ftx must be >= 0, got " + b.prefFtx);
    }
    if (!(b.desirableWeight > 0) || !(b.undesirableWeight > 0)) {
      throw new IllegalArgumentException(
          "loss.desirable.weight and loss.undesirable.weight must be > 0, got "
              + b.desirableWeight
              + " and "
              + b.undesirableWeight);
    }
    if (!Double.isFinite(b.simpoGamma)) {
      throw new IllegalArgumentException("loss.simpo.gamma must be finite, got " + b.simpoGamma);
    }
    this.type = t;
    this.beta = b.beta;
    this.labelSmoothing = b.labelSmoothing;
    this.simpoGamma = b.simpoGamma;
    this.ldAlpha = b.ldAlpha;
    this.prefFtx = b.prefFtx;
    this.desirableWeight = b.desirableWeight;
    this.undesirableWeight = b.undesirableWeight;
  }

  public static Builder builder() {
    return new Builder();
  }

  public static LossConfig sigmoid(double beta) {
    return builder().optBeta(beta).build();
  }

  public LossType type() {
    return type;
  }

  public double beta() {
    return beta;
  }

  public double labelSmoothing() {
    return labelSmoothing;
  }

  public double simpoGamma() {
    return simpoGamma;
  }

  /** LD-DPO's alpha, or null when length desensitization is off. */
  public Double ldAlpha() {
    return ldAlpha;
  }

  public double prefFtx() {
    return prefFtx;
  }

  public double desirableWeight() {
    return desirableWeight;
  }

  public double undesirableWeight() {
    return undesirableWeight;
  }

  @Override
  public String toString() {
    return "LossConfig{type="
        + type.trlName()
        + ", beta="
        + beta
        + ", labelSmoothing="
        + labelSmoothing
        + ", simpoGamma="
        + simpoGamma
        + ", ldAlpha="
        + ldAlpha
        + ", prefFtx="
        + prefFtx
        + ", desirableWeight="
        + desirableWeight
        + ", undesirableWeight="
        + undesirableWeight
        + "}";
  }

  /** Defaults: sigmoid, beta 0.1, no label smoothing, simpo_gamma 0.5, no LD, no SFT term. */
  public static final class Builder {
    private String type = "sigmoid";
    private double beta = 0.1;
    private double labelSmoothing;
    private double simpoGamma = 0.5;
    private Double ldAlpha;
    private double prefFtx;
    private double desirableWeight = 1.0;
    private double undesirableWeight = 1.0;

    public Builder optType(String type) {
      this.type = type;
      return this;
    }

    public Builder optBeta(double beta) {
      this.beta = beta;
      return this;
    }

    public Builder optLabelSmoothing(double labelSmoothing) {
      this.labelSmoothing = labelSmoothing;
      return this;
    }

    public Builder optSimpoGamma(double simpoGamma) {
      this.simpoGamma = simpoGamma;
      return this;
    }

    public Builder optLdAlpha(Double ldAlpha) {
      this.ldAlpha = ldAlpha;
      return this;
    }

    public Builder optPrefFtx(double prefFtx) {
      this.prefFtx = prefFtx;
      return this;
    }

    public Builder optDesirableWeight(double w) {
      this.desirableWeight = w;
      return this;
    }

    public Builder optUndesirableWeight(double w) {
      this.undesirableWeight = w;
      return this;
    }

    public LossConfig build() {
      return new LossConfig(this);
    }
  }
}
