package dev.prefstream.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.prefstream.trainer.GarbageCollection;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

class OpsTest {

  private static float[] random(int n, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    float[] out = new float[n];
    for (int i = 0; i < n; i++) {
      out[i] = (float) rng.nextDouble(0.01, 4);
    }
    return out;
  }

  /** Ops' scalar arithmetic computes exactly what DJL's (Number) overloads compute. */
  @Test
  void scalarArithmeticGivesTheBitsOfDjlsNumberOverloads() {
    double[] values = {1.0 / Math.sqrt(24), -0.5, 1e-6, 0.1, -(1 - 0.1), 1, 3.0000001};
    try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
      NDArray x = m.create(random(257, 1), new Shape(257));
      for (double v : values) {
        assertSame(Ops.add(x, v), x.add(v), "add " + v);
        assertSame(Ops.sub(x, v), x.sub(v), "sub " + v);
        assertSame(Ops.mul(x, v), x.mul(v), "mul " + v);
        assertSame(Ops.mul(x, (float) v), x.mul((float) v), "mul (float) " + v);
        assertSame(Ops.div(x, v), x.div(v), "div " + v);
        assertSame(Ops.pow(x, v), x.pow(v), "pow " + v);
      }
      NDArray x64 = x.toType(DataType.FLOAT64, false);
      assertThat(Ops.scalar(x64, 0.1).getDataType()).isEqualTo(DataType.FLOAT64);
      assertThat(Ops.scalar(x64, 0.1).getDouble()).isEqualTo(0.1);
      assertSame(Ops.mul(x64, 0.1), x64.mul(0.1), "mul float64");
    }
  }

  private static void assertSame(NDArray ours, NDArray djl, String what) {
    assertThat(ours.getDataType()).as(what).isEqualTo(djl.getDataType());
    assertThat(ours.getShape()).as(what).isEqualTo(djl.getShape());
    assertThat(ours.toByteArray()).as(what).isEqualTo(djl.toByteArray());
  }

  /**
   * Gradients through Ops' scalar arithmetic survive a garbage collection between forward and
   * backward (the scalar that DJL's {@code mul(Number)} saves for backward does not: its Java
   * buffer is freed and backward multiplies by whatever the memory then holds).
   */
  @Test
  void gradientsThroughScalarsSurviveACollectionBeforeBackward() {
    check("mul", (x, v) -> Ops.mul(x, v), (x, v) -> (float) v);
    check("div", (x, v) -> Ops.div(x, v), (x, v) -> (float) (1 / v));
    check("pow", (x, v) -> Ops.pow(x, v), (x, v) -> (float) (v * Math.pow(x, v - 1)));
  }

  private interface Grad {
    float of(double x, double v);
  }

  private static void check(String op, BiFunction<NDArray, Double, NDArray> f, Grad expected) {
    Engine engine = Engine.getEngine("PyTorch");
    double v = 0.75;
    try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
      NDArray x = m.create(new float[] {1f, 2f, 4f});
      x.setRequiresGradient(true);
      try (GradientCollector gc = engine.newGradientCollector()) {
        NDArray y = f.apply(x, v).sum();
        GarbageCollection.full();
        gc.backward(y);
      }
      float[] grad = x.getGradient().toFloatArray();
      float[] in = {1f, 2f, 4f};
      for (int i = 0; i < in.length; i++) {
        assertThat(grad[i]).as(op + " at " + in[i]).isCloseTo(expected.of(in[i], v), within(1e-5f));
      }
    }
  }
}
