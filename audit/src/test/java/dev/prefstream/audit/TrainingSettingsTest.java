package dev.prefstream.audit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.stream.TrainerConfig;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Replay rebuilds the trainer's configuration from the settings recorded with its state: they must
 * parse back to the same training settings (same config hash), lists and unset keys included.
 */
class TrainingSettingsTest {
  @Test
  void recordedSettingsParseBackToTheSameConfigHash() {
    Map<String, Object> original = new HashMap<>();
    original.put(TrainerConfig.MODEL_DIR_CONFIG, "/models/a");
    original.put(Recipe.LORA_TARGET_MODULES_CONFIG, "q_proj,v_proj");
    original.put(Recipe.BETA_CONFIG, "0.25");
    original.put(Recipe.LR_CONFIG, 3e-4);
    original.put(Recipe.LORA_USE_RSLORA_CONFIG, true);
    original.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 12.5);
    TrainerConfig config = new TrainerConfig(original);
    Map<String, String> recorded = config.trainingSettings();
    assertThat(recorded)
        .containsEntry(Recipe.LORA_TARGET_MODULES_CONFIG, "q_proj,v_proj")
        .containsEntry(TrainerConfig.HOLDOUT_PERCENT_CONFIG, "12.5")
        .doesNotContainKey(TrainerConfig.MODEL_DIR_CONFIG)
        .doesNotContainKey(TrainerConfig.ID_CONFIG);

    Map<String, Object> rebuilt = new HashMap<>(recorded);
    rebuilt.put(TrainerConfig.MODEL_DIR_CONFIG, "/elsewhere");
    TrainerConfig again = new TrainerConfig(rebuilt);
    assertThat(again.configHash()).isEqualTo(config.configHash());
    assertThat(again.recipe().lora()).isEqualTo(config.recipe().lora());

    Map<String, Object> other = new HashMap<>(original);
    other.put(Recipe.BETA_CONFIG, "0.3");
    assertThat(new TrainerConfig(other).trainingSettings()).isNotEqualTo(recorded);
  }
}
