package dev.prefstream.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.EncodedExample;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** kto (with TRL's mismatched-pair KL) and apo_zero_unpaired against the PyTorch goldens. */
class GoldenUnpairedTest {

  @Test
  void unpairedLossesMatchPyTorch() throws Exception {
    JsonNode u = Golden.expected().get("unpaired");
    List<EncodedExample> examples = new ArrayList<>();
    for (JsonNode e : u.get("examples")) {
      examples.add(
          new EncodedExample(
              Golden.ints(e.get("prompt")),
              Golden.ints(e.get("completion")),
              e.get("desirable").asBoolean()));
    }
    try (CausalLm lm = CausalLm.load(Golden.dir("llama"), Device.cpu())) {
      for (JsonNode c : u.get("cases")) {
        TrainConfig cfg = Golden.recipe(c.get("case"), Recipe.EVAL_BATCH_SIZE_CONFIG, 64).train();
        try (LoraAdapter a = LoraAdapter.load(lm, Golden.dir("llama-lora"));
            DpoTrainer t = new DpoTrainer(lm, a, cfg)) {
          UnpairedEvalResult r = t.evaluateUnpaired(examples);
          assertThat(r.metrics().get("kl")).isCloseTo(c.get("kl").asDouble(), within(1e-4));
          for (int i = 0; i < examples.size(); i++) {
            UnpairedEvalResult.ExampleScore s = r.examples().get(i);
            String at = c.get("case") + " example " + i;
            assertThat(s.policyLogps())
                .as(at)
                .isCloseTo(u.get("policy").get(i).asDouble(), within(1e-3));
            assertThat(s.referenceLogps())
                .as(at)
                .isCloseTo(u.get("reference").get(i).asDouble(), within(1e-3));
            assertThat(s.loss()).as(at).isCloseTo(c.get("losses").get(i).asDouble(), within(2e-5));
            assertThat(s.reward())
                .as(at)
                .isCloseTo(c.get("rewards").get(i).asDouble(), within(2e-5));
          }
          StepResult step = t.stepUnpaired(examples.subList(0, 4));
          assertThat(step.applied()).isTrue();
          assertThatThrownBy(() -> t.step(List.of())).hasMessageContaining("stepUnpaired");
        }
      }
    }
  }
}
