package dev.prefstream.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.model.Safetensors;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Gradients of every loss, global-norm clipping and two AdamW steps against torch.autograd,
 * torch.nn.utils.clip_grad_norm_ and torch.optim.AdamW (tools/golden/make_golden.py).
 */
class GoldenTrainTest {

  static CausalLm lm;
  static JsonNode m;
  static List<EncodedPair> pairs;

  @BeforeAll
  static void load() throws Exception {
    lm = CausalLm.load(Golden.dir("llama"), Device.cpu());
    m = Golden.expected().path("models").path("llama");
    pairs = Golden.pairs(m.get("pairs"));
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  @Test
  void lossAndGradientNormOfEveryLossMatchAutograd() throws Exception {
    for (JsonNode g : m.get("grads")) {
      try (LoraAdapter a = LoraAdapter.load(lm, Golden.dir("llama-lora"));
          DpoTrainer t =
              new DpoTrainer(lm, a, Golden.recipe(g.get("case"), Recipe.LR_CONFIG, 0).train())) {
        StepResult r = t.step(pairs.subList(0, 3));
        double loss0 = g.get("loss").asDouble();
        double norm = g.get("grad_norm").asDouble();
        assertThat(r.applied()).isTrue();
        assertThat(r.loss())
            .as("loss " + g.get("case"))
            .isCloseTo(loss0, within(2e-5 * Math.abs(loss0) + 1e-6));
        assertThat(r.gradNorm())
            .as("grad norm " + g.get("case"))
            .isCloseTo(norm, within(2e-4 * norm + 1e-6));
      }
    }
  }

  @Test
  void twoClippedAdamWStepsMatchTorch() throws Exception {
    JsonNode train = m.get("train");
    TrainConfig cfg =
        Recipe.of(
                Recipe.BETA_CONFIG, train.get("beta").asDouble(),
                Recipe.LR_CONFIG, train.get("lr").asDouble(),
                Recipe.WEIGHT_DECAY_CONFIG, train.get("weight_decay").asDouble(),
                Recipe.MAX_GRAD_NORM_CONFIG, train.get("max_grad_norm").asDouble())
            .train();
    try (LoraAdapter a = LoraAdapter.load(lm, Golden.dir("llama-lora"));
        DpoTrainer t = new DpoTrainer(lm, a, cfg)) {
      for (int s = 0; s < 2; s++) {
        List<EncodedPair> batch = new ArrayList<>();
        for (JsonNode i : train.get("batches").get(s)) {
          batch.add(pairs.get(i.asInt()));
        }
        StepResult r = t.step(batch);
        JsonNode e = train.get("steps").get(s);
        assertThat(r.step()).isEqualTo(s + 1);
        assertThat(r.loss()).isCloseTo(e.get("loss").asDouble(), within(2e-5));
        assertThat(r.gradNorm()).isCloseTo(e.get("grad_norm").asDouble(), within(2e-4));
      }
      Safetensors expected = Safetensors.open(Golden.dir("llama-train-expected.safetensors"));
      Safetensors actual = Safetensors.of(a.safetensors(), "trained");
      assertThat(actual.entries().keySet()).isEqualTo(expected.entries().keySet());
      float[] initial = null;
      Safetensors start = Safetensors.open(Golden.dir("llama-lora/adapter_model.safetensors"));
      for (String name : expected.entries().keySet()) {
        float[] want = expected.floats(name);
        float[] got = actual.floats(name);
        initial = start.floats(name);
        for (int i = 0; i < want.length; i++) {
          // Adam normalizes each gradient element, so an element near float32 noise can move by
          // a fraction of lr either way; a wrong formula is off by the order of lr (1e-2)
          assertThat((double) got[i]).as(name + "[" + i + "]").isCloseTo(want[i], within(5e-5));
          // two steps of lr 0.01 moved it: the comparison is not vacuous
          assertThat(Math.abs(got[i] - initial[i])).as(name + " moved").isGreaterThan(1e-4f);
        }
      }
    }
  }
}
