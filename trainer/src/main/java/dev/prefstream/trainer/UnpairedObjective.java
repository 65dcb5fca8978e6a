package dev.prefstream.trainer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.loss.UnpairedLoss;
import dev.prefstream.trainer.model.Adapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.tokenize.EncodedExample;
import java.util.ArrayList;
import java.util.List;

/**
 * KTO-style losses over single examples. The KL estimate uses TRL's mismatched pairs: example i's
 * prompt with example i-1's completion (example 0 takes the last one), scored by policy and
 * reference without gradients.
 */
final class UnpairedObjective {

  private final CausalLm model;
  private final UnpairedLoss loss;

  UnpairedObjective(CausalLm model, LossConfig cfg) {
    this.model = model;
    this.loss = new UnpairedLoss(cfg);
  }

  /** Inputs of one batch: the examples, the mismatched KL rows, and the labels. */
  private record Batch(
      SequenceBatch examples, SequenceBatch mismatched, NDArray desirable, float[] labels) {}

  private Batch batch(NDManager m, List<EncodedExample> examples) {
    int vocab = model.config().vocabSize();
    List<int[]> prompts = new ArrayList<>();
    List<int[]> completions = new ArrayList<>();
    List<int[]> shifted = new ArrayList<>();
    float[] labels = new float[examples.size()];
    for (int i = 0; i < examples.size(); i++) {
      prompts.add(examples.get(i).promptIds());
      completions.add(examples.get(i).completionIds());
      shifted.add(examples.get((i + examples.size() - 1) % examples.size()).completionIds());
      labels[i] = examples.get(i).desirable() ? 1f : 0f;
    }
    SequenceBatch kl = loss.needsKl() ? SequenceBatch.of(m, prompts, shifted, vocab) : null;
    return new Batch(
        SequenceBatch.of(m, prompts, completions, vocab), kl, m.create(labels), labels);
  }

  /** The KL estimate (0 when the loss needs none): policy and reference on mismatched rows. */
  private double kl(Batch b, Adapter policy) {
    if (b.mismatched() == null) {
      return 0;
    }
    SequenceBatch s = b.mismatched();
    return UnpairedLoss.kl(
        s.sums(model.tokenLogps(s.ids(), policy)).toFloatArray(),
        s.sums(model.tokenLogps(s.ids(), null)).toFloatArray());
  }

  Objective forStep(List<EncodedExample> examples, Adapter currentPolicy) {
    return m -> {
      Batch b = batch(m, examples);
      double kl = kl(b, currentPolicy);
      NDArray ref = b.examples().sums(model.tokenLogps(b.examples().ids(), null));
      return policy -> {
        NDArray pol = b.examples().sums(model.tokenLogps(b.examples().ids(), policy));
        UnpairedLoss.Result r = loss.compute(pol, ref, b.desirable(), kl);
        return new Objective.Scored(
            r.losses().mean(),
            Metrics.unpaired(
                r.losses().toFloatArray(),
                r.rewards().toFloatArray(),
                pol.toFloatArray(),
                b.labels(),
                kl),
            () -> {});
      };
    };
  }

  UnpairedEvalResult evaluate(List<EncodedExample> examples, Adapter policy, int chunk) {
    List<UnpairedEvalResult.ExampleScore> out = new ArrayList<>();
    List<float[]> columns = new ArrayList<>(); // per chunk: losses, rewards, logps, labels
    double klSum = 0;
    int chunks = 0;
    for (int from = 0; from < examples.size(); from += chunk) {
      List<EncodedExample> part = examples.subList(from, Math.min(examples.size(), from + chunk));
      try (NDScope scope = new NDScope();
          NDManager m = model.manager().newSubManager()) {
        scope.suppressNotUsedWarning();
        Batch b = batch(m, part);
        double kl = kl(b, policy);
        NDArray pol = b.examples().sums(model.tokenLogps(b.examples().ids(), policy));
        NDArray ref = b.examples().sums(model.tokenLogps(b.examples().ids(), null));
        UnpairedLoss.Result r = loss.compute(pol, ref, b.desirable(), kl);
        float[] p = pol.toFloatArray();
        float[] q = ref.toFloatArray();
        float[] l = r.losses().toFloatArray();
        float[] w = r.rewards().toFloatArray();
        for (int i = 0; i < part.size(); i++) {
          out.add(
              new UnpairedEvalResult.ExampleScore(p[i], q[i], l[i], w[i], part.get(i).desirable()));
        }
        columns.addAll(List.of(l, w, p, b.labels()));
        klSum += kl;
        chunks++;
      }
    }
    return new UnpairedEvalResult(
        out,
        Metrics.unpaired(
            Metrics.concat(columns, 0, 4),
            Metrics.concat(columns, 1, 4),
            Metrics.concat(columns, 2, 4),
            Metrics.concat(columns, 3, 4),
            chunks == 0 ? 0 : klSum / chunks));
  }
}
