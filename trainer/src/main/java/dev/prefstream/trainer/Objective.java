package dev.prefstream.trainer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.prefstream.trainer.model.Adapter;
import java.util.Map;

/**
 * One step's loss in two phases: {@link #prepare} runs the reference passes (no gradients, before
 * the GradientCollector opens), the returned {@link PolicyLoss} runs the policy under it.
 */
interface Objective {

  PolicyLoss prepare(NDManager m);

  interface PolicyLoss {
    Scored apply(Adapter policy);
  }

  /**
   * The batch loss, its metrics (read after backward), and a state change (bco_pair's running
   * moments) to keep only when the step is applied.
   */
  record Scored(NDArray total, Map<String, Double> metrics, Runnable commit) {}
}
