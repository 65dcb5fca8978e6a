package dev.prefstream.trainer.lora;

import ai.djl.ndarray.NDArray;
import dev.prefstream.trainer.model.Adapter;
import dev.prefstream.trainer.model.ModelConfig;
import dev.prefstream.trainer.model.Ops;
import dev.prefstream.trainer.model.Projection;
import java.util.List;

/**
 * The LoRA update {@code scale * B(A(dropout(x)))} for each adapted projection, as PEFT's {@code
 * lora.Linear.forward} computes it, over one set of A/B arrays (the adapter's own, or per-step
 * copies that collect gradients).
 */
public final class LoraDelta implements Adapter {

  private final NDArray[] a;
  private final NDArray[] b;
  private final List<NDArray> arrays;
  private final float scale;
  private final double dropout;

  LoraDelta(
      ModelConfig model,
      List<LoraAdapter.Slot> slots,
      List<NDArray> arrays,
      double scale,
      double dropout) {
    int width = Projection.values().length;
    this.a = new NDArray[model.numLayers() * width];
    this.b = new NDArray[model.numLayers() * width];
    for (int i = 0; i < slots.size(); i++) {
      LoraAdapter.Slot s = slots.get(i);
      int at = s.layer() * width + s.projection().ordinal();
      a[at] = arrays.get(2 * i);
      b[at] = arrays.get(2 * i + 1);
    }
    this.arrays = List.copyOf(arrays);
    this.scale = (float) scale;
    this.dropout = dropout;
  }

  /** The arrays in {@link LoraAdapter#parameters()} order (A, B per slot). */
  public List<NDArray> arrays() {
    return arrays;
  }

  @Override
  public NDArray delta(int layer, Projection projection, NDArray x) {
    int at = layer * Projection.values().length + projection.ordinal();
    if (a[at] == null) {
      return null;
    }
    NDArray in = dropout > 0 ? Ops.dropout(x, dropout) : x;
    NDArray down = Ops.linear(in, a[at], null); // (N, T, r)
    // scale the small B (out, r) rather than the large output (N, T, out); scalar times B rather
    // than B times scalar, so that both land in the manager of the activations (a step's or an
    // evaluation's), not in the adapter's long-lived one
    NDArray scaledB = Ops.scalar(x, scale).mul(b[at]);
    return Ops.linear(down, scaledB, null); // (N, T, out)
  }
}
