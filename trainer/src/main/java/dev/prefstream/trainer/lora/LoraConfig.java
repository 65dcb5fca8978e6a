package dev.prefstream.trainer.lora;

import dev.prefstream.trainer.model.Projection;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * LoRA hyper-parameters as PEFT's {@code LoraConfig} names them (Hu et al. 2021, "LoRA: Low-Rank
 * Adaptation of Large Language Models", arXiv:2106.09685; rsLoRA: Kalajdzievski 2023,
 * arXiv:2312.03732). The update is {@code scale * B A x} with {@code scale = lora_alpha / r}, or
 * {@code lora_alpha / sqrt(r)} with use_rslora.
 */
public final class LoraConfig {

  public static final List<String> DEFAULT_TARGETS =
      List.of("q_proj", "k_proj", "v_proj", "o_proj");

  private final int r;
  private final double alpha;
  private final double dropout;
  private final boolean useRslora;
  private final Set<Projection> targets;

  private LoraConfig(Builder b) {
    if (b.r < 1) {
      throw new IllegalArgumentException("lora.r must be >= 1, got " + b.r);
    }
    if (!(b.alpha > 0) || Double.isInfinite(b.alpha)) {
      throw new IllegalArgumentException("lora.alpha must be a finite number > 0, got " + b.alpha);
    }
    if (!(b.dropout >= 0 && b.dropout < 1)) {
      throw new IllegalArgumentException("lora.dropout must be in [0, 1), got " + b.dropout);
    }
    if (b.targetModules.isEmpty()) {
      throw new IllegalArgumentException("lora.target.modules must name at least one module");
    }
    EnumSet<Projection> set = EnumSet.noneOf(Projection.class);
    for (String m : b.targetModules) {
      try {
        set.add(Projection.fromModuleName(m.trim()));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "lora.target.modules: unknown module '" + m + "'; known: " + Projection.moduleNames(),
            e);
      }
    }
    this.r = b.r;
    this.alpha = b.alpha;
    this.dropout = b.dropout;
    this.useRslora = b.useRslora;
    this.targets = set;
  }

  public static Builder builder() {
    return new Builder();
  }

  public int r() {
    return r;
  }

  public double alpha() {
    return alpha;
  }

  public double dropout() {
    return dropout;
  }

  public boolean useRslora() {
    return useRslora;
  }

  /** Targeted projections in canonical order (q, k, v, o, gate, up, down). */
  public Set<Projection> targets() {
    return EnumSet.copyOf(targets);
  }

  public List<String> targetModules() {
    return targets.stream().map(Projection::moduleName).toList();
  }

  /** PEFT's scaling: alpha / r, or alpha / sqrt(r) with rsLoRA. */
  public double scale() {
    return useRslora ? alpha / Math.sqrt(r) : alpha / r;
  }

  @Override
  public String toString() {
    return "LoraConfig{r="
        + r
        + ", alpha="
        + alpha
        + ", dropout="
        + dropout
        + ", useRslora="
        + useRslora
        + ", targets="
        + targetModules()
        + "}";
  }

  /** Builder: {@code optX} values have PEFT's defaults except alpha (16) and targets (q,k,v,o). */
  public static final class Builder {
    private int r = 8;
    private double alpha = 16;
    private double dropout;
    private boolean useRslora;
    private List<String> targetModules = DEFAULT_TARGETS;

    public Builder optR(int r) {
      this.r = r;
      return this;
    }

    public Builder optAlpha(double alpha) {
      this.alpha = alpha;
      return this;
    }

    public Builder optDropout(double dropout) {
      this.dropout = dropout;
      return this;
    }

    public Builder optUseRslora(boolean useRslora) {
      this.useRslora = useRslora;
      return this;
    }

    public Builder optTargetModules(List<String> modules) {
      this.targetModules = List.copyOf(modules);
      return this;
    }

    public LoraConfig build() {
      return new LoraConfig(this);
    }
  }
}
