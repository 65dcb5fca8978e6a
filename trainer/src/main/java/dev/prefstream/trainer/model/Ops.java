package dev.prefstream.trainer.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Tensor operations DJL's {@link NDArray} interface lacks, composed from engine primitives, and
 * arithmetic with a number that is safe under autograd.
 *
 * <p>Use {@link #add}, {@link #sub}, {@link #mul}, {@link #div} and {@link #pow} here, never DJL's
 * {@code NDArray.add/sub/mul/div/pow(Number)} (nor any other {@code (Number)} overload) on a path
 * gradients flow through. DJL 0.36's PyTorch engine wraps the number in a 0-d tensor over a direct
 * ByteBuffer ({@code torch::from_blob}, the buffer kept alive only by the Java wrapper), runs the
 * op, and closes the wrapper at once. mul, div and pow save that operand for backward; after the
 * next garbage collection frees the buffer, backward reads freed memory and the gradients come back
 * as garbage (whole LoRA B gradients at 1e30, NaN) or, worse, finite and wrong, depending on when a
 * collection happened to run. The scalars made here live in memory libtorch owns.
 *
 * <p>The same hazard holds for any array made from Java data ({@code NDManager.create(float[])} and
 * friends, {@code NDArray.set}): the graph may use it only while its Java wrapper is open and
 * reachable, i.e. attached to the step's manager until after backward. Never close one early.
 */
public final class Ops {

  private static final Shape SCALAR = new Shape();

  private Ops() {}

  /**
   * A 0-d array holding {@code value} in the type of {@code like} (a floating-point array), in its
   * manager, in memory libtorch allocated and owns: safe to save for backward however the Java
   * wrapper fares. Arithmetic with it gives the same bits as DJL's {@code (Number)} overloads,
   * whose scalar libtorch casts to the array's type before computing.
   */
  public static NDArray scalar(NDArray like, double value) {
    NDManager m = like.getManager();
    DataType type = like.getDataType();
    if (type == DataType.FLOAT32) {
      return m.full(SCALAR, (float) value, type); // torch::full: native memory
    }
    // create(double) is a from_blob float64 tensor over a Java buffer: copy it natively. (toType
    // to the same type returns the same tensor, sharing the Java buffer, even with copy = true.)
    try (NDArray blob = m.create(value)) {
      return type == DataType.FLOAT64 ? blob.duplicate() : blob.toType(type, false);
    }
  }

  /** x + value. */
  public static NDArray add(NDArray x, double value) {
    return x.add(scalar(x, value));
  }

  /** x - value. */
  public static NDArray sub(NDArray x, double value) {
    return x.sub(scalar(x, value));
  }

  /** x * value. */
  public static NDArray mul(NDArray x, double value) {
    return x.mul(scalar(x, value));
  }

  /** x / value. */
  public static NDArray div(NDArray x, double value) {
    return x.div(scalar(x, value));
  }

  /** x ^ value, element-wise. */
  public static NDArray pow(NDArray x, double value) {
    return x.pow(scalar(x, value));
  }

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
