package dev.prefstream.trainer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
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
 * Pairwise losses over one concatenated forward (chosen rows then rejected rows), aggregating the
 * per-token log-probs as TRL does for the configured loss: sums; LD-weighted sums for the policy
 * with ld_alpha; per-token means for ipo, simpo and orpo.
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

  /** A training step's objective; bco_pair's moments are updated and kept on commit. */
  Objective forStep(
      List<EncodedPair> batch, RunningMoments moments, Consumer<RunningMoments> keep) {
    return m -> {
      SequenceBatch seqs = SequenceBatch.ofPairs(m, batch, model.config().vocabSize());
      NDArray ref = cfg.type().referenceFree() ? null : model.tokenLogps(seqs.ids(), null);
      return policy -> {
        RunningMoments next = moments.copy();
        NDArray tokens = model.tokenLogps(seqs.ids(), policy);
        Scores s = score(seqs, tokens, ref, batch.size(), next, true);
        return new Objective.Scored(
            s.result().losses().mean(), s.metrics(), () -> keep.accept(next));
      };
    };
  }

  /** Scores pairs in chunks without gradients or state changes. */
  EvalResult evaluate(List<EncodedPair> pairs, Adapter policy, RunningMoments moments, int chunk) {
    List<EvalResult.PairScore> out = new ArrayList<>();
    List<float[]> columns = new ArrayList<>(); // per chunk: losses, cr, rr, chosen, rejected
    for (int from = 0; from < pairs.size(); from += chunk) {
      List<EncodedPair> part = pairs.subList(from, Math.min(pairs.size(), from + chunk));
      int b = part.size();
      try (NDScope scope = new NDScope();
          NDManager m = model.manager().newSubManager()) {
        scope.suppressNotUsedWarning();
        SequenceBatch seqs = SequenceBatch.ofPairs(m, part, model.config().vocabSize());
        NDArray refTokens = model.tokenLogps(seqs.ids(), null);
        NDArray tokens = model.tokenLogps(seqs.ids(), policy);
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
    return new EvalResult(out, Metrics.pairs(all[0], all[1], all[2], all[3], all[4]));
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
      SequenceBatch seqs,
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
