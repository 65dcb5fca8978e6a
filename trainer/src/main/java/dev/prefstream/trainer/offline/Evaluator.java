package dev.prefstream.trainer.offline;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.trainer.EvalResult;
import dev.prefstream.trainer.Scorer;
import dev.prefstream.trainer.UnpairedEvalResult;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.EncodedExample;
import dev.prefstream.trainer.tokenize.EncodedPair;
import dev.prefstream.trainer.tokenize.PairEncoder;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Scores a preference file: per pair the response token ids exactly as scored, the summed log-probs
 * of policy (base + adapter, or the base alone without one) and reference (base), and the pair's
 * loss; then TRL's summary metrics. Unpaired losses score examples instead.
 */
public final class Evaluator {

  /**
   * @param adapterDir a PEFT adapter directory, or null to score the base model as policy
   * @param recipe the loss, max length, pairs per forward pass (train.eval.batch.size), device
   */
  public record Options(Path modelDir, Path adapterDir, Path dataFile, Recipe recipe) {}

  /** The encoded inputs and their scores; exactly one of the two result kinds is set. */
  public record Report(
      LossConfig loss,
      List<EncodedPair> pairs,
      EvalResult pairScores,
      List<EncodedExample> examples,
      UnpairedEvalResult exampleScores) {

    public Map<String, Double> metrics() {
      return pairScores != null ? pairScores.metrics() : exampleScores.metrics();
    }
  }

  private Evaluator() {}

  public static Report run(Options o) throws IOException {
    boolean unpaired = o.recipe().loss().type().unpaired();
    try (CausalLm lm = CausalLm.load(o.modelDir(), o.recipe().device());
        PairEncoder enc =
            PairEncoder.load(
                o.modelDir(), o.recipe().maxLength(), o.recipe().chatTemplateKwargs());
        LoraAdapter adapter =
            o.adapterDir() == null ? null : LoraAdapter.load(lm, o.adapterDir())) {
      Dataset data = Dataset.encode(PreferenceFile.read(o.dataFile()), enc, unpaired);
      var policy = adapter == null ? null : adapter.adapter();
      if (unpaired) {
        return new Report(
            o.recipe().loss(),
            null,
            null,
            data.examples(),
            Scorer.evaluateUnpaired(
                lm,
                policy,
                o.recipe().loss(),
                data.examples(),
                o.recipe().train().evalBatchSize()));
      }
      return new Report(
          o.recipe().loss(),
          data.pairs(),
          Scorer.evaluate(
              lm, policy, o.recipe().loss(), data.pairs(), o.recipe().train().evalBatchSize()),
          null,
          null);
    }
  }

  /** One JSON object per pair (or example) with its index, then {"summary": {...}}. */
  public static void writeJson(Report r, PrintWriter out) throws IOException {
    ObjectMapper json = new ObjectMapper();
    if (r.pairScores() != null) {
      for (int i = 0; i < r.pairs().size(); i++) {
        EncodedPair p = r.pairs().get(i);
        EvalResult.PairScore s = r.pairScores().pairs().get(i);
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("index", i);
        o.put("prompt_ids", p.promptIds());
        o.put("chosen_ids", p.chosenIds());
        o.put("rejected_ids", p.rejectedIds());
        o.put("policy_chosen_logps", s.policyChosenLogps());
        o.put("policy_rejected_logps", s.policyRejectedLogps());
        o.put("reference_chosen_logps", s.referenceChosenLogps());
        o.put("reference_rejected_logps", s.referenceRejectedLogps());
        o.put(MetricNames.LOSS, s.loss());
        o.put("chosen_reward", s.chosenReward());
        o.put("rejected_reward", s.rejectedReward());
        out.println(json.writeValueAsString(o));
      }
    } else {
      for (int i = 0; i < r.examples().size(); i++) {
        EncodedExample e = r.examples().get(i);
        UnpairedEvalResult.ExampleScore s = r.exampleScores().examples().get(i);
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("index", i);
        o.put("prompt_ids", e.promptIds());
        o.put("completion_ids", e.completionIds());
        o.put("label", e.desirable());
        o.put("policy_logps", s.policyLogps());
        o.put("reference_logps", s.referenceLogps());
        o.put(MetricNames.LOSS, s.loss());
        o.put("reward", s.reward());
        out.println(json.writeValueAsString(o));
      }
    }
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("loss_type", r.loss().type().trlName());
    summary.put("beta", r.loss().beta());
    summary.put("count", r.pairs() != null ? r.pairs().size() : r.examples().size());
    summary.putAll(r.metrics());
    out.println(json.writeValueAsString(Map.of("summary", summary)));
    out.flush();
  }

  /** A readable table. */
  public static void writeTable(Report r, PrintWriter out) {
    if (r.pairScores() != null) {
      out.printf(
          Locale.ROOT,
          "%5s %6s %6s %6s %12s %12s %12s %12s %10s%n",
          "index",
          "prompt",
          "chosen",
          "reject",
          "pol.chosen",
          "pol.reject",
          "ref.chosen",
          "ref.reject",
          MetricNames.LOSS);
      for (int i = 0; i < r.pairs().size(); i++) {
        EncodedPair p = r.pairs().get(i);
        EvalResult.PairScore s = r.pairScores().pairs().get(i);
        out.printf(
            Locale.ROOT,
            "%5d %6d %6d %6d %12.4f %12.4f %12.4f %12.4f %10.5f%n",
            i,
            p.promptIds().length,
            p.chosenIds().length,
            p.rejectedIds().length,
            s.policyChosenLogps(),
            s.policyRejectedLogps(),
            s.referenceChosenLogps(),
            s.referenceRejectedLogps(),
            s.loss());
      }
    } else {
      out.printf(
          Locale.ROOT,
          "%5s %6s %6s %5s %12s %12s %10s%n",
          "index",
          "prompt",
          "compl",
          "label",
          "policy",
          "reference",
          MetricNames.LOSS);
      for (int i = 0; i < r.examples().size(); i++) {
        EncodedExample e = r.examples().get(i);
        UnpairedEvalResult.ExampleScore s = r.exampleScores().examples().get(i);
        out.printf(
            Locale.ROOT,
            "%5d %6d %6d %5s %12.4f %12.4f %10.5f%n",
            i,
            e.promptIds().length,
            e.completionIds().length,
            e.desirable(),
            s.policyLogps(),
            s.referenceLogps(),
            s.loss());
      }
    }
    out.printf(Locale.ROOT, "%nloss %s, beta %s%n", r.loss().type().trlName(), r.loss().beta());
    r.metrics().forEach((k, v) -> out.printf(Locale.ROOT, "  %-20s %.6f%n", k, v));
    out.flush();
  }
}
