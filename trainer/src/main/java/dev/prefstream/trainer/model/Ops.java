package dev.prefstream.trainer.model;

import ai.djl.ndarray.NDArray;

/** Tensor operations DJL's {@link NDArray} interface lacks, composed from engine primitives. */
public final class Ops {

  private Ops() {}

  /** x W^T + b for W (out, in), as torch.nn.functional.linear; {@code bias} may be null. */
  public static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
    return x.getNDArrayInternal().linear(x, weight, bias).head();
  }

  public static NDArray sigmoid(NDArray x) {
    return x.getNDArrayInternal().sigmoid();
  }

  /** log(sigmoid(x)) = -softplus(-x), stable for large |x|. */
  public static NDArray logSigmoid(NDArray x) {
    return x.neg().getNDArrayInternal().softPlus().neg();
  }

  public static NDArray relu(NDArray x) {
    return x.getNDArrayInternal().relu();
  }

  /** Inverted dropout with the engine's generator (seed it first for reproducible masks). */
  public static NDArray dropout(NDArray x, double rate) {
    return x.getNDArrayInternal().dropout(x, (float) rate, true).head();
  }
}
