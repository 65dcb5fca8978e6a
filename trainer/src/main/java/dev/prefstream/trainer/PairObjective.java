package dev.prefstream.trainer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.loss.LossType;
import dev.prefstream.trainer.loss.PreferenceLoss;
import dev.prefstream.trainer.loss.RunningMoments;
import dev.prefstream.trainer.model.Adapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Pairwise losses over chosen rows then rejected rows, aggregating the per-token log-probs as TRL
 * does for the configured loss: sums; LD-weighted sums for the policy with ld_alpha; per-token
 * means for ipo, simpo and orpo. The shared-prompt step (the default) runs each prompt once per
 * forward with both responses attending to it and the LM head only on response positions ({@link
 * SharedPromptBatch}, {@code CausalLm.responseHidden}); the plain step runs TRL's concatenated
 * forward, prompt and response in every row. Evaluation always shares prompts, and reads the
 * per-token KL from the reference off the same two forwards.
 */
final class PairObjective {

  private final CausalLm model;
  private final LossConfig cfg;
  private final PreferenceLoss loss;

  PairObjective(CausalLm model, LossConfig cfg) {
    this.model = model;
    this.cfg = cfg;
    this.loss = new PreferenceLoss(cfg);
  }

  /**
   * A training step's objective with shared prompts: the same loss as {@link #plainStep}, less
   * work. bco_pair's moments are updated and kept on commit.
   */
  Objective sharedPromptStep(
      List<EncodedPair> batch, RunningMoments moments, Consumer<RunningMoments> keep) {
    return m -> {
      SharedPromptBatch seqs =
          SharedPromptBatch.of(m, batch, model.config().vocabSize(), model.chunkTokens());
      NDArray ref = cfg.type().referenceFree() ? null : reference(seqs);
      return policy -> {
        RunningMoments next = moments.copy();
        List<NDArray> groups = new ArrayList<>();
        for (SharedPromptBatch.Group g : seqs.groups()) {
          NDArray hidden =
              model.responseHidden(g.promptIds(), g.promptLengths(), g.responseIds(), policy);
          groups.add(model.responseLogps(hidden, g.responseIds(), true));
        }
        NDArray tokens = seqs.assemble(groups);
        Scores s = score(seqs, tokens, ref, batch.size(), next, true);
        return new Objective.Scored(
            s.result().losses().mean(), s.metrics(), () -> keep.accept(next));
      };
    };
  }

  /**
   * The reference's per-token log-probs (adapter off, no gradients); its intermediate arrays are
   * freed group by group.
   */
  private NDArray reference(SharedPromptBatch seqs) {
    List<NDArray> groups = new ArrayList<>();
    for (SharedPromptBatch.Group g : seqs.groups()) {
      try (NDScope scope = new NDScope()) {
        NDArray hidden =
            model.responseHidden(g.promptIds(), g.promptLengths(), g.responseIds(), null);
        NDArray logps = model.responseLogps(hidden, g.responseIds(), false);
        NDScope.unregister(logps);
        groups.add(logps);
      }
    }
    return seqs.assemble(groups);
  }

  /** The plain step's reference log-probs; its intermediate arrays are freed at once. */
  private NDArray plainReference(SequenceBatch seqs) {
    try (NDScope scope = new NDScope()) {
      NDArray ref = model.tokenLogps(seqs.ids(), null);
      NDScope.unregister(ref);
      return ref;
    }
  }

  /** TRL's concatenated forward: every row is prompt + response, the LM head on every position. */
  Objective plainStep(
      List<EncodedPair> batch, RunningMoments moments, Consumer<RunningMoments> keep) {
    return m -> {
      SequenceBatch seqs = SequenceBatch.ofPairs(m, batch, model.config().vocabSize());
      NDArray ref = cfg.type().referenceFree() ? null : plainReference(seqs);
      return policy -> {
        RunningMoments next = moments.copy();
        NDArray tokens = model.tokenLogps(seqs.ids(), policy);
        Scores s = score(seqs, tokens, ref, batch.size(), next, true);
        return new Objective.Scored(
            s.result().losses().mean(), s.metrics(), () -> keep.accept(next));
      };
    };
  }

  /**
   * Scores pairs in chunks without gradients or state changes: one shared-prompt forward for the
   * policy and one for the reference per chunk, whose LM heads give both log-probs and the mean
   * per-token KL(policy || reference) over response positions (metric {@code kl}, in nats).
   */
  EvalResult evaluate(List<EncodedPair> pairs, Adapter policy, RunningMoments moments, int chunk) {
    List<EvalResult.PairScore> out = new ArrayList<>();
    List<float[]> columns = new ArrayList<>(); // per chunk: losses, cr, rr, chosen, rejected
    double klTotal = 0;
    long positions = 0;
    for (int from = 0; from < pairs.size(); from += chunk) {
      List<EncodedPair> part = pairs.subList(from, Math.min(pairs.size(), from + chunk));
      int b = part.size();
      try (NDScope scope = new NDScope();
          NDManager m = model.manager().newSubManager()) {
        scope.suppressNotUsedWarning();
        SharedPromptBatch seqs =
            SharedPromptBatch.of(m, part, model.config().vocabSize(), model.chunkTokens());
        List<List<NDArray>> parts =
            List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (SharedPromptBatch.Group g : seqs.groups()) {
          try (NDScope groupScope = new NDScope()) {
            NDArray hq =
                model.responseHidden(g.promptIds(), g.promptLengths(), g.responseIds(), null);
            NDArray hp =
                policy == null
                    ? hq
                    : model.responseHidden(
                        g.promptIds(), g.promptLengths(), g.responseIds(), policy);
            NDArray[] scored = model.responseLogpsAndKl(hp, hq, g.responseIds());
            for (int k = 0; k < 3; k++) {
              NDScope.unregister(scored[k]);
              parts.get(k).add(scored[k]);
            }
          }
        }
        NDArray tokens = seqs.assemble(parts.get(0));
        NDArray refTokens = seqs.assemble(parts.get(1));
        NDArray kl = seqs.assemble(parts.get(2));
        klTotal += kl.sum().getFloat();
        positions += seqs.totalResponseTokens();
        Scores s = score(seqs, tokens, refTokens, b, moments.copy(), false);
        float[] pol = seqs.sums(tokens).toFloatArray();
        float[] ref = seqs.sums(refTokens).toFloatArray();
        float[] losses = s.result().losses().toFloatArray();
        float[] cr = s.result().chosenRewards().toFloatArray();
        float[] rr = s.result().rejectedRewards().toFloatArray();
        for (int i = 0; i < b; i++) {
          out.add(
              new EvalResult.PairScore(
                  pol[i], pol[b + i], ref[i], ref[b + i], losses[i], cr[i], rr[i]));
        }
        columns.addAll(List.of(losses, cr, rr, s.chosen(), s.rejected()));
      }
    }
    float[][] all = new float[5][];
    for (int k = 0; k < 5; k++) {
      all[k] = Metrics.concat(columns, k, 5);
    }
    java.util.Map<String, Double> metrics =
        new java.util.TreeMap<>(Metrics.pairs(all[0], all[1], all[2], all[3], all[4]));
    metrics.put(MetricNames.KL, positions == 0 ? 0.0 : klTotal / positions);
    return new EvalResult(out, metrics);
  }

  /** Per-pair losses and rewards (B), and the loss-semantics log-probs the metrics report. */
  private record Scores(PreferenceLoss.Result result, float[] chosen, float[] rejected) {
    java.util.Map<String, Double> metrics() {
      return Metrics.pairs(
          result.losses().toFloatArray(),
          result.chosenRewards().toFloatArray(),
          result.rejectedRewards().toFloatArray(),
          chosen,
          rejected);
    }
  }

  private Scores score(
      TokenRows seqs,
      NDArray tokens,
      NDArray refTokens,
      int b,
      RunningMoments moments,
      boolean updateMoments) {
    Double ld = cfg.ldAlpha();
    NDArray policy = ld == null ? seqs.sums(tokens) : seqs.ldSums(tokens, ld);
    NDArray ref = refTokens == null ? policy.zerosLike() : seqs.sums(refTokens);
    if (cfg.type().averagesLogps()) {
      policy = seqs.perToken(policy);
      ref = seqs.perToken(ref);
    }
    String c = "0:" + b;
    String r = b + ":";
    PreferenceLoss.Logps logps =
        new PreferenceLoss.Logps(
            policy.get(c), policy.get(r), ref.get(c), ref.get(r), seqs.means(tokens).get(c));
    if (updateMoments && cfg.type() == LossType.BCO_PAIR) {
      moments.update(loss.meanReward(logps));
    }
    PreferenceLoss.Result result = loss.compute(logps, moments.mean());
    return new Scores(result, policy.get(c).toFloatArray(), policy.get(r).toFloatArray());
  }
}
