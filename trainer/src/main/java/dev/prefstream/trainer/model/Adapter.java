package dev.prefstream.trainer.model;

import ai.djl.ndarray.NDArray;

/**
 * A low-rank update that {@link CausalLm} adds to a projection's output: {@code y = W x +
 * delta(x)}. Implemented by the LoRA package; {@code null} means the base model alone.
 */
public interface Adapter {

  /**
   * The update for {@code projection} of layer {@code layer} given its input {@code x} (B, T, in),
   * shaped (B, T, out); {@code null} when this projection is not adapted.
   */
  NDArray delta(int layer, Projection projection, NDArray x);
}
