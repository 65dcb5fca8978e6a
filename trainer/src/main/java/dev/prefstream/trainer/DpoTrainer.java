package dev.prefstream.trainer;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.lora.LoraDelta;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.loss.LossType;
import dev.prefstream.trainer.loss.PreferenceLoss;
import dev.prefstream.trainer.loss.RunningMoments;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.optim.AdamW;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The step engine: DPO-family updates of a LoRA adapter on minibatches of encoded pairs. The
 * reference policy is the same model with the adapter disabled (no second copy of the weights).
 * Each step runs in its own NDScope and child manager, so nothing but the adapter, the AdamW
 * moments and the loss state outlives it. On CPU the same adapter, optimizer state and batches give
 * bit-identical results.
 */
public final class DpoTrainer implements AutoCloseable {

  private final CausalLm model;
  private final LoraAdapter adapter;
  private final TrainConfig cfg;
  private final LossConfig lossCfg;
  private final PreferenceLoss loss;
  private final AdamW optimizer;
  private final Engine engine;
  private RunningMoments moments = new RunningMoments();

  public DpoTrainer(CausalLm model, LoraAdapter adapter, TrainConfig cfg) {
    this.model = model;
    this.adapter = adapter;
    this.cfg = cfg;
    this.lossCfg = cfg.loss();
    this.loss = new PreferenceLoss(lossCfg);
    this.engine = Engine.getEngine("PyTorch");
    this.optimizer =
        new AdamW(
            adapter.parameters(),
            model.manager(),
            cfg.beta1(),
            cfg.beta2(),
            cfg.eps(),
            cfg.weightDecay());
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
    if (batch.isEmpty()) {
      throw new IllegalArgumentException("a step needs at least one pair");
    }
    long stepNumber = optimizer.step() + 1;
    try (NDScope scope = new NDScope();
        NDManager m = model.manager().newSubManager()) {
      SequenceBatch seqs = SequenceBatch.ofPairs(m, batch, model.config().vocabSize());
      NDArray refTokens =
          lossCfg.type().referenceFree() ? null : model.tokenLogps(seqs.ids(), null);
      LoraDelta leaves = adapter.trainableCopy(m);
      if (adapter.config().dropout() > 0) {
        engine.setRandomSeed(dropoutSeed(stepNumber));
      }
      RunningMoments nextMoments = moments.copy();
      PairScores scores;
      NDArray total;
      try (GradientCollector gc = engine.newGradientCollector()) {
        NDArray tokens = model.tokenLogps(seqs.ids(), leaves);
        scores = score(seqs, tokens, refTokens, batch.size(), nextMoments, true);
        total = scores.result().losses().mean();
        gc.backward(total);
      }
      double lossValue = total.getFloat();
      List<NDArray> grads = new ArrayList<>();
      for (NDArray leaf : leaves.arrays()) {
        grads.add(leaf.getGradient());
      }
      double norm = globalNorm(grads);
      Map<String, Double> metrics = scores.metrics();
      if (!Double.isFinite(lossValue) || !Double.isFinite(norm)) {
        return new StepResult(stepNumber, false, lossValue, norm, metrics);
      }
      double clip = cfg.maxGradNorm() / (norm + 1e-6); // torch.nn.utils.clip_grad_norm_
      if (clip < 1) {
        grads.forEach(g -> g.muli(clip));
      }
      optimizer.update(adapter.parameters(), grads, cfg.learningRate());
      moments = nextMoments;
      return new StepResult(stepNumber, true, lossValue, norm, metrics);
    }
  }

  /**
   * Scores {@code pairs} without updating anything: per pair the summed response log-probs of
   * policy (base + adapter) and reference (base), its loss and rewards; TRL metrics over all.
   */
  public EvalResult evaluate(List<EncodedPair> pairs) {
    List<EvalResult.PairScore> out = new ArrayList<>();
    List<float[][]> columns = new ArrayList<>();
    for (int from = 0; from < pairs.size(); from += cfg.evalBatchSize()) {
      List<EncodedPair> chunk =
          pairs.subList(from, Math.min(pairs.size(), from + cfg.evalBatchSize()));
      try (NDScope scope = new NDScope();
          NDManager m = model.manager().newSubManager()) {
        SequenceBatch seqs = SequenceBatch.ofPairs(m, chunk, model.config().vocabSize());
        NDArray refTokens = model.tokenLogps(seqs.ids(), null);
        NDArray tokens = model.tokenLogps(seqs.ids(), adapter.adapter());
        PairScores s = score(seqs, tokens, refTokens, chunk.size(), moments, false);
        float[] pol = seqs.sums(tokens).toFloatArray();
        float[] ref = seqs.sums(refTokens).toFloatArray();
        float[] losses = s.result().losses().toFloatArray();
        float[] cr = s.result().chosenRewards().toFloatArray();
        float[] rr = s.result().rejectedRewards().toFloatArray();
        int b = chunk.size();
        for (int i = 0; i < b; i++) {
          out.add(
              new EvalResult.PairScore(
                  pol[i], pol[b + i], ref[i], ref[b + i], losses[i], cr[i], rr[i]));
        }
        columns.add(new float[][] {losses, cr, rr, s.chosen(), s.rejected()});
      }
    }
    return new EvalResult(
        out,
        Metrics.pairs(
            concat(columns, 0),
            concat(columns, 1),
            concat(columns, 2),
            concat(columns, 3),
            concat(columns, 4)));
  }

  /** Losses of a batch plus the loss-semantics log-probs the metrics report. */
  private record PairScores(PreferenceLoss.Result result, float[] chosen, float[] rejected) {
    Map<String, Double> metrics() {
      return Metrics.pairs(
          result.losses().toFloatArray(),
          result.chosenRewards().toFloatArray(),
          result.rejectedRewards().toFloatArray(),
          chosen,
          rejected);
    }
  }

  /**
   * Aggregates per-token log-probs the way TRL does for the configured loss (sums; LD-weighted sums
   * for the policy with ld_alpha; per-token means for ipo, simpo, orpo) and computes the loss.
   */
  private PairScores score(
      SequenceBatch seqs,
      NDArray tokens,
      NDArray refTokens,
      int b,
      RunningMoments moments,
      boolean updateMoments) {
    Double ld = lossCfg.ldAlpha();
    NDArray policy = ld == null ? seqs.sums(tokens) : seqs.ldSums(tokens, ld);
    NDArray ref = refTokens == null ? policy.zerosLike() : seqs.sums(refTokens);
    NDArray means = seqs.means(tokens);
    if (lossCfg.type().averagesLogps()) {
      NDArray lengths = policy.getManager().create(toFloats(seqs.responseLengths()));
      policy = policy.div(lengths);
      ref = ref.div(lengths);
    }
    String c = "0:" + b;
    String r = b + ":";
    PreferenceLoss.Logps logps =
        new PreferenceLoss.Logps(
            policy.get(c), policy.get(r), ref.get(c), ref.get(r), means.get(c));
    if (updateMoments && lossCfg.type() == LossType.BCO_PAIR) {
      moments.update(loss.meanReward(logps));
    }
    PreferenceLoss.Result result = loss.compute(logps, moments.mean());
    return new PairScores(result, policy.get(c).toFloatArray(), policy.get(r).toFloatArray());
  }

  private static float[] toFloats(int[] v) {
    float[] f = new float[v.length];
    for (int i = 0; i < v.length; i++) {
      f[i] = v[i];
    }
    return f;
  }

  private static float[] concat(List<float[][]> columns, int k) {
    int n = columns.stream().mapToInt(c -> c[k].length).sum();
    float[] all = new float[n];
    int at = 0;
    for (float[][] c : columns) {
      System.arraycopy(c[k], 0, all, at, c[k].length);
      at += c[k].length;
    }
    return all;
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
