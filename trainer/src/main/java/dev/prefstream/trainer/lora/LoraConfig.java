package dev.prefstream.trainer.lora;

import dev.prefstream.trainer.model.Projection;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * LoRA hyper-parameters as PEFT's {@code LoraConfig} names them (Hu et al. 2021, "LoRA: Low-Rank
 * Adaptation of Large Language Models", arXiv:2106.09685; rsLoRA: Kalajdzievski 2023,
 * arXiv:2312.03732). The update is {@code scale * B A x} with {@code scale = lora_alpha / r}, or
 * {@code lora_alpha / sqrt(r)} with use_rslora. Made from a validated recipe ({@code
 * dev.prefstream.trainer.recipe.Recipe}) or a PEFT adapter_config.json ({@link PeftConfig}).
 *
 * @param targetModules module names, e.g. q_proj; {@link #targets()} orders them canonically
 */
public record LoraConfig(
    int r, double alpha, double dropout, boolean useRslora, List<String> targetModules) {

  public LoraConfig {
    targetModules = targets(targetModules).stream().map(Projection::moduleName).toList();
  }

  /** Targeted projections in canonical order (q, k, v, o, gate, up, down). */
  public Set<Projection> targets() {
    return targets(targetModules);
  }

  private static Set<Projection> targets(List<String> modules) {
    EnumSet<Projection> set = EnumSet.noneOf(Projection.class);
    for (String m : modules) {
      set.add(Projection.fromModuleName(m.trim()));
    }
    return set;
  }

  /** PEFT's scaling: alpha / r, or alpha / sqrt(r) with rsLoRA. */
  public double scale() {
    return useRslora ? alpha / Math.sqrt(r) : alpha / r;
  }
}
