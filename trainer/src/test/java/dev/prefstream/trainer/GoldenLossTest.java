package dev.prefstream.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Log-probabilities, every loss and its rewards on tiny Llama (GQA), Qwen2 (GQA 4:1, q/k/v bias,
 * tied embeddings, rsLoRA) and Mistral (head_dim != hidden/heads, sliding window) models with
 * non-zero LoRA adapters, against the independent PyTorch implementation.
 */
class GoldenLossTest {

  static final double REL = 2e-5;

  static void close(double actual, double expected, String what) {
    assertThat(actual).as(what).isCloseTo(expected, within(REL * Math.abs(expected) + 2e-5));
  }

  @ParameterizedTest
  @ValueSource(strings = {"llama", "qwen2", "mistral"})
  void logpsAndEveryLossMatchPyTorch(String name) throws Exception {
    JsonNode m = Golden.expected().path("models").path(name);
    List<EncodedPair> pairs = Golden.pairs(m.get("pairs"));
    try (CausalLm lm = CausalLm.load(Golden.dir(name), Device.cpu());
        LoraAdapter adapter = LoraAdapter.load(lm, Golden.dir(name + "-lora"))) {
      for (JsonNode c : m.get("losses")) {
        TrainConfig cfg = Golden.recipe(c.get("case"), Recipe.EVAL_BATCH_SIZE_CONFIG, 2).train();
        try (DpoTrainer t = new DpoTrainer(lm, adapter, cfg)) {
          EvalResult r = t.evaluate(pairs);
          for (int i = 0; i < pairs.size(); i++) {
            EvalResult.PairScore s = r.pairs().get(i);
            JsonNode lp = m.get("logps").get(i);
            String at = name + " pair " + i + " " + c.get("case");
            close(s.policyChosenLogps(), lp.get("policy_chosen").asDouble(), at + " policy chosen");
            close(
                s.policyRejectedLogps(), lp.get("policy_rejected").asDouble(), at + " policy rej");
            close(
                s.referenceChosenLogps(),
                lp.get("reference_chosen").asDouble(),
                at + " ref chosen");
            close(
                s.referenceRejectedLogps(),
                lp.get("reference_rejected").asDouble(),
                at + " ref rej");
            close(s.loss(), c.get("losses").get(i).asDouble(), at + " loss");
            close(
                s.chosenReward(), c.get("chosen_rewards").get(i).asDouble(), at + " chosen reward");
            close(
                s.rejectedReward(),
                c.get("rejected_rewards").get(i).asDouble(),
                at + " rej reward");
          }
          double[] losses = Golden.doubles(c.get("losses"));
          close(
              r.metrics().get("loss"),
              java.util.Arrays.stream(losses).average().orElseThrow(),
              "loss");
          double[] lc = Golden.doubles(c.get("logps_chosen"));
          close(
              r.metrics().get("logps/chosen"),
              java.util.Arrays.stream(lc).average().orElseThrow(),
              "logps/chosen " + c.get("case"));
        }
      }
    }
  }
}
