package dev.prefstream.trainer.optim;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.prefstream.trainer.model.Safetensors;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * AdamW (Loshchilov and Hutter 2019, arXiv:1711.05101) with PyTorch's single-tensor update:
 * decoupled decay {@code p *= 1 - lr*wd}; {@code m.lerp_(g, 1-b1)}; {@code v = b2 v + (1-b2) g^2};
 * {@code p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)}. Moments live in their own long-lived
 * manager; parameters are updated in place.
 */
public final class AdamW implements AutoCloseable {

  private final double beta1;
  private final double beta2;
  private final double eps;
  private final double weightDecay;
  private final NDManager manager;
  private final List<NDArray> expAvg = new ArrayList<>();
  private final List<NDArray> expAvgSq = new ArrayList<>();
  private long step;

  public AdamW(
      List<NDArray> params,
      NDManager parent,
      double beta1,
      double beta2,
      double eps,
      double weightDecay) {
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.manager = parent.newSubManager();
    for (NDArray p : params) {
      expAvg.add(manager.zeros(p.getShape(), p.getDataType()));
      expAvgSq.add(manager.zeros(p.getShape(), p.getDataType()));
    }
  }

  /** Number of updates applied so far. */
  public long step() {
    return step;
  }

  /** One update of {@code params} in place with learning rate {@code lr}. */
  public void update(List<NDArray> params, List<NDArray> grads, double lr) {
    if (params.size() != expAvg.size() || grads.size() != params.size()) {
      throw new IllegalArgumentException(
          "AdamW holds "
              + expAvg.size()
              + " moments, got "
              + params.size()
              + " parameters and "
              + grads.size()
              + " gradients");
    }
    step++;
    double bc1 = 1 - StrictMath.pow(beta1, step);
    double bc2Sqrt = Math.sqrt(1 - StrictMath.pow(beta2, step));
    try (NDScope scope = new NDScope()) {
      scope.suppressNotUsedWarning();
      for (int i = 0; i < params.size(); i++) {
        NDArray p = params.get(i);
        NDArray g = grads.get(i);
        NDArray m = expAvg.get(i);
        NDArray v = expAvgSq.get(i);
        if (weightDecay != 0) {
          p.muli(1 - lr * weightDecay);
        }
        m.addi(g.sub(m).muli(1 - beta1));
        v.muli(beta2).addi(g.mul(g).muli(1 - beta2));
        NDArray denom = v.sqrt().divi(bc2Sqrt).addi(eps);
        p.subi(m.div(denom).muli(lr / bc1));
      }
    }
  }

  /**
   * Step count and moments as deterministic safetensors ({@code exp_avg.NAME}, {@code
   * exp_avg_sq.NAME}; "step" and {@code extra} in the metadata).
   */
  public byte[] state(List<String> names, SortedMap<String, String> extra) {
    SortedMap<String, Safetensors.Tensor> t = new TreeMap<>();
    for (int i = 0; i < names.size(); i++) {
      t.put("exp_avg." + names.get(i), tensor(expAvg.get(i)));
      t.put("exp_avg_sq." + names.get(i), tensor(expAvgSq.get(i)));
    }
    SortedMap<String, String> meta = new TreeMap<>(extra);
    meta.put("step", Long.toString(step));
    return Safetensors.write(t, meta);
  }

  /**
   * Restores what {@link #state(List, SortedMap)} wrote (names and shapes must match) and returns
   * its metadata.
   */
  public Map<String, String> restore(byte[] bytes, List<String> names) throws IOException {
    Safetensors st = Safetensors.of(bytes, "optimizer state");
    String s = st.metadata().get("step");
    if (s == null) {
      throw new IOException("optimizer state has no step in its metadata");
    }
    List<float[]> m = new ArrayList<>();
    List<float[]> v = new ArrayList<>();
    for (int i = 0; i < names.size(); i++) {
      long[] shape = expAvg.get(i).getShape().getShape();
      m.add(st.floats("exp_avg." + names.get(i), shape));
      v.add(st.floats("exp_avg_sq." + names.get(i), shape));
    }
    for (int i = 0; i < names.size(); i++) {
      expAvg.get(i).set(m.get(i));
      expAvgSq.get(i).set(v.get(i));
    }
    step = Long.parseLong(s);
    return st.metadata();
  }

  private static Safetensors.Tensor tensor(NDArray a) {
    return new Safetensors.Tensor(a.getShape().getShape(), a.toFloatArray());
  }

  @Override
  public void close() {
    manager.close();
  }
}
