package dev.prefstream.trainer.model;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** The linear layers of a Llama block that LoRA can target, named as in Hugging Face. */
public enum Projection {
  Q("self_attn"),
  K("self_attn"),
  V("self_attn"),
  O("self_attn"),
  GATE("mlp"),
  UP("mlp"),
  DOWN("mlp");

  private final String parent;

  Projection(String parent) {
    this.parent = parent;
  }

  /** The module name in Hugging Face checkpoints and PEFT target_modules, e.g. "q_proj". */
  public String moduleName() {
    return name().toLowerCase(Locale.ROOT) + "_proj";
  }

  /** "self_attn" or "mlp": the module path segment between the layer and the projection. */
  public String parent() {
    return parent;
  }

  /** Input features of this projection's weight ({@code in} of its [out, in] matrix). */
  public int inFeatures(ModelConfig c) {
    return switch (this) {
      case Q, K, V, GATE, UP -> c.hiddenSize();
      case O -> c.numHeads() * c.headDim();
      case DOWN -> c.intermediateSize();
    };
  }

  /** Output features of this projection. */
  public int outFeatures(ModelConfig c) {
    return switch (this) {
      case Q -> c.numHeads() * c.headDim();
      case K, V -> c.numKvHeads() * c.headDim();
      case O, DOWN -> c.hiddenSize();
      case GATE, UP -> c.intermediateSize();
    };
  }

  public static Projection fromModuleName(String module) {
    for (Projection p : values()) {
      if (p.moduleName().equals(module)) {
        return p;
      }
    }
    throw new IllegalArgumentException(
        "unknown target module '" + module + "'; known: " + moduleNames());
  }

  public static List<String> moduleNames() {
    return Arrays.stream(values()).map(Projection::moduleName).toList();
  }
}
