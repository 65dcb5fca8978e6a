package dev.prefstream.trainer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.lora.LoraDelta;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.loss.RunningMoments;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.optim.AdamW;
import dev.prefstream.trainer.tokenize.EncodedExample;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The step engine: DPO-family updates of a LoRA adapter on minibatches of encoded pairs (or, for
 * kto and apo_zero_unpaired, of unpaired examples). The reference policy is the same model with the
 * adapter disabled (no second copy of the weights), scored without gradients before the one
 * GradientCollector opens. Each step runs in its own NDScope and child manager; only the adapter,
 * the AdamW moments and the loss state outlive it. On CPU the same adapter, optimizer state and
 * batches give bit-identical results (LoRA dropout is seeded from (seed, step)). One trainer is not
 * for concurrent use; steps of different trainers in one JVM are serialized.
 */
public final class DpoTrainer implements AutoCloseable {

  private final CausalLm model;
  private final LoraAdapter adapter;
  private final TrainConfig cfg;
  private final LossConfig lossCfg;
  private final PairObjective pairs;
  private final UnpairedObjective unpaired;
  private final AdamW optimizer;
  private final Engine engine = Engine.getEngine("PyTorch");

  /**
   * DJL allows one open GradientCollector per JVM: steps of all trainers (say, one per model on its
   * own thread) take turns. Evaluation needs no collector and runs concurrently.
   */
  private static final Object STEP_LOCK = new Object();

  private RunningMoments moments = new RunningMoments();

  /** The plain step (TRL's concatenated forward) instead of the shared-prompt one. */
  private boolean plain;

  /** Test seam: runs inside the GradientCollector between the policy forward and backward. */
  private Runnable beforeBackward = () -> {};

  /** Test seam: sees the clipped gradients of an applied step just before AdamW. */
  private Consumer<List<NDArray>> beforeUpdate = grads -> {};

  public DpoTrainer(CausalLm model, LoraAdapter adapter, TrainConfig cfg) {
    this.model = model;
    this.adapter = adapter;
    this.cfg = cfg;
    this.lossCfg = cfg.loss();
    boolean single = lossCfg.type().unpaired();
    this.pairs = single ? null : new PairObjective(model, lossCfg);
    this.unpaired = single ? new UnpairedObjective(model, lossCfg) : null;
    this.optimizer =
        new AdamW(
            adapter.parameters(),
            model.manager(),
            cfg.beta1(),
            cfg.beta2(),
            cfg.eps(),
            cfg.weightDecay());
  }

  /**
   * Test seam: {@code hook} runs in every step after the policy forward and before backward, while
   * libtorch's autograd graph holds the tensors saved for backward (e.g. a forced garbage
   * collection, which must not change a step's result).
   */
  void beforeBackward(Runnable hook) {
    this.beforeBackward = hook;
  }

  /**
   * Test seam: {@code hook} runs in every applied step after global-norm clipping and before AdamW,
   * with the clipped gradients in {@link LoraAdapter#parameters()} order: it may read them, or
   * overwrite them in place ({@code NDArray.set}) to drive the optimizer with given gradients.
   */
  void beforeUpdate(Consumer<List<NDArray>> hook) {
    this.beforeUpdate = hook;
  }

  /**
   * Chooses TRL's plain concatenated forward for pairwise steps (every row prompt + response, the
   * LM head on every position) instead of the default shared-prompt step, which computes the same
   * loss and gradients with less work: for benchmarks and comparisons. Evaluation is unaffected.
   */
  public DpoTrainer usePlainStep(boolean plain) {
    this.plain = plain;
    return this;
  }

  public TrainConfig config() {
    return cfg;
  }

  public LoraAdapter adapter() {
    return adapter;
  }

  /** Optimizer steps applied so far. */
  public long steps() {
    return optimizer.step();
  }

  /**
   * One optimizer step on {@code batch}: reference log-probs (adapter off, no gradients), policy
   * forward and backward, loss, global-norm clipping, AdamW. A non-finite loss or gradient changes
   * nothing and returns {@code applied == false}.
   */
  public StepResult step(List<EncodedPair> batch) {
    requireLoss(false, "step", "stepUnpaired");
    requireNonEmpty(batch);
    return optimize(
        plain
            ? pairs.plainStep(batch, moments, next -> moments = next)
            : pairs.sharedPromptStep(batch, moments, next -> moments = next));
  }

  /** As {@link #step}, for kto and apo_zero_unpaired on unpaired examples. */
  public StepResult stepUnpaired(List<EncodedExample> batch) {
    requireLoss(true, "stepUnpaired", "step");
    requireNonEmpty(batch);
    return optimize(unpaired.forStep(batch, adapter.adapter()));
  }

  /**
   * Scores {@code pairs} without updating anything: per pair the summed response log-probs of
   * policy (base + adapter) and reference (base), its loss and rewards; TRL metrics over all.
   * bco_pair uses the current baseline without adding these pairs to it.
   */
  public EvalResult evaluate(List<EncodedPair> batch) {
    requireLoss(false, "evaluate", "evaluateUnpaired");
    return pairs.evaluate(batch, adapter.adapter(), moments, cfg.evalBatchSize());
  }

  /** As {@link #evaluate}, for unpaired losses (the KL estimate is taken per eval batch). */
  public UnpairedEvalResult evaluateUnpaired(List<EncodedExample> batch) {
    requireLoss(true, "evaluateUnpaired", "evaluate");
    return unpaired.evaluate(batch, adapter.adapter(), cfg.evalBatchSize());
  }

  private StepResult optimize(Objective objective) {
    synchronized (STEP_LOCK) {
      return optimizeAlone(objective);
    }
  }

  private StepResult optimizeAlone(Objective objective) {
    long stepNumber = optimizer.step() + 1;
    try (NDScope scope = new NDScope();
        NDManager m = model.manager().newSubManager()) {
      scope.suppressNotUsedWarning();
      Objective.PolicyLoss policyLoss = objective.prepare(m);
      LoraDelta leaves = adapter.trainableCopy(m);
      if (adapter.config().dropout() > 0) {
        engine.setRandomSeed(dropoutSeed(stepNumber));
      }
      Objective.Scored scored;
      try (GradientCollector gc = engine.newGradientCollector()) {
        scored = policyLoss.apply(leaves);
        beforeBackward.run();
        gc.backward(scored.total());
      }
      double loss = scored.total().getFloat();
      List<NDArray> grads = new ArrayList<>();
      for (NDArray leaf : leaves.arrays()) {
        grads.add(leaf.getGradient());
      }
      double norm = globalNorm(grads);
      if (!Double.isFinite(loss) || !Double.isFinite(norm)) {
        return new StepResult(stepNumber, false, loss, norm, scored.metrics());
      }
      double clip = cfg.clips() ? cfg.maxGradNorm() / (norm + 1e-6) : 1; // clip_grad_norm_
      if (clip < 1) {
        grads.forEach(g -> g.muli(clip));
      }
      beforeUpdate.accept(grads);
      optimizer.update(adapter.parameters(), grads, cfg.learningRate());
      scored.commit().run();
      return new StepResult(stepNumber, true, loss, norm, scored.metrics());
    }
  }

  private void requireLoss(boolean unpairedCall, String method, String other) {
    if (lossCfg.type().unpaired() != unpairedCall) {
      throw new IllegalStateException(
          "loss "
              + lossCfg.type().trlName()
              + " is "
              + (unpairedCall ? "pairwise" : "unpaired")
              + ": call "
              + other
              + ", not "
              + method);
    }
  }

  private static void requireNonEmpty(List<?> batch) {
    if (batch.isEmpty()) {
      throw new IllegalArgumentException("a step needs at least one example");
    }
  }

  /** sqrt of the sum of squares of every gradient element, accumulated in double. */
  private static double globalNorm(List<NDArray> grads) {
    double sum = 0;
    for (NDArray g : grads) {
      sum += g.square().sum().getFloat();
    }
    return Math.sqrt(sum);
  }

  /** The dropout seed of a step: a function of (seed, step) only, so no RNG state is saved. */
  private int dropoutSeed(long stepNumber) {
    long z = cfg.seed() * 0x9E3779B97F4A7C15L + stepNumber;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return (int) ((z ^ (z >>> 31)) & 0x7fffffff);
  }

  /**
   * Everything besides the adapter weights needed to resume exactly: step count, AdamW moments and
   * bco_pair's running reward moments, as deterministic safetensors bytes.
   */
  public byte[] optimizerState() {
    SortedMap<String, String> extra = new TreeMap<>();
    extra.put("bco.count", Double.toString(moments.count()));
    extra.put("bco.mean", Double.toString(moments.mean()));
    extra.put("bco.var", Double.toString(moments.var()));
    return optimizer.state(adapter.parameterNames(), extra);
  }

  public void restoreOptimizerState(byte[] state) throws IOException {
    Map<String, String> meta = optimizer.restore(state, adapter.parameterNames());
    if (meta.containsKey("bco.mean")) {
      moments =
          new RunningMoments(
              Double.parseDouble(meta.get("bco.mean")),
              Double.parseDouble(meta.get("bco.var")),
              Double.parseDouble(meta.get("bco.count")));
    }
  }

  /** bco_pair's running reward moments (mean is the baseline delta). */
  public RunningMoments lossState() {
    return moments.copy();
  }

  @Override
  public void close() {
    optimizer.close();
  }
}
