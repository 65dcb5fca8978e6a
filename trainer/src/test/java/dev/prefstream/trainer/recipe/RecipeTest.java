package dev.prefstream.trainer.recipe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.trainer.loss.LossType;
import java.util.List;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

class RecipeTest {

  @Test
  void everySettingReachesTheMathItShapes() {
    Recipe r =
        Recipe.of(
            Recipe.LOSS_CONFIG, "robust",
            Recipe.BETA_CONFIG, "0.3",
            Recipe.LABEL_SMOOTHING_CONFIG, "0.2",
            Recipe.SIMPO_GAMMA_CONFIG, "1.5",
            Recipe.LD_ALPHA_CONFIG, "0.7",
            Recipe.PREF_FTX_CONFIG, "0.4",
            Recipe.LR_CONFIG, "1e-3",
            Recipe.ADAM_BETA1_CONFIG, "0.8",
            Recipe.ADAM_BETA2_CONFIG, "0.99",
            Recipe.ADAM_EPS_CONFIG, "1e-6",
            Recipe.WEIGHT_DECAY_CONFIG, "0.05",
            Recipe.MAX_GRAD_NORM_CONFIG, "0",
            Recipe.SEED_CONFIG, "9",
            Recipe.LORA_R_CONFIG, "16",
            Recipe.LORA_ALPHA_CONFIG, "32",
            Recipe.LORA_DROPOUT_CONFIG, "0.1",
            Recipe.LORA_USE_RSLORA_CONFIG, "true",
            Recipe.LORA_TARGET_MODULES_CONFIG, "up_proj,q_proj");
    assertThat(r.loss().type()).isEqualTo(LossType.ROBUST);
    assertThat(r.loss().beta()).isEqualTo(0.3);
    assertThat(r.loss().labelSmoothing()).isEqualTo(0.2);
    assertThat(r.loss().simpoGamma()).isEqualTo(1.5);
    assertThat(r.loss().ldAlpha()).isEqualTo(0.7);
    assertThat(r.loss().prefFtx()).isEqualTo(0.4);
    assertThat(r.train().learningRate()).isEqualTo(1e-3);
    assertThat(r.train().beta1()).isEqualTo(0.8);
    assertThat(r.train().beta2()).isEqualTo(0.99);
    assertThat(r.train().eps()).isEqualTo(1e-6);
    assertThat(r.train().weightDecay()).isEqualTo(0.05);
    assertThat(r.train().clips()).as("max grad norm 0 disables clipping").isFalse();
    assertThat(r.train().seed()).isEqualTo(9);
    assertThat(r.lora().r()).isEqualTo(16);
    assertThat(r.lora().scale()).isEqualTo(32 / Math.sqrt(16));
    assertThat(r.lora().dropout()).isEqualTo(0.1);
    assertThat(r.lora().targetModules()).containsExactly("q_proj", "up_proj");
  }

  @Test
  void badValuesFailNamingTheKeyAndTheValue() {
    assertInvalid(Recipe.BETA_CONFIG, "0");
    assertInvalid(Recipe.BETA_CONFIG, "-1");
    assertInvalid(Recipe.LORA_ALPHA_CONFIG, "0");
    assertInvalid(Recipe.LORA_R_CONFIG, "0");
    assertInvalid(Recipe.LORA_DROPOUT_CONFIG, "1.0");
    assertInvalid(Recipe.LR_CONFIG, "NaN");
    assertInvalid(Recipe.ADAM_BETA2_CONFIG, "1");
    assertInvalid(Recipe.LOSS_CONFIG, "dpo");
    assertInvalid(Recipe.LORA_TARGET_MODULES_CONFIG, "lm_head");
    assertInvalid(Recipe.DEVICE_CONFIG, "tpu");
  }

  @Test
  void crossFieldRulesNameBothValues() {
    assertThatThrownBy(
            () -> Recipe.of(Recipe.LOSS_CONFIG, "robust", Recipe.LABEL_SMOOTHING_CONFIG, "0.5"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(Recipe.LABEL_SMOOTHING_CONFIG)
        .hasMessageContaining("0.5")
        .hasMessageContaining("robust");
    assertThatThrownBy(() -> Recipe.of(Recipe.LOSS_CONFIG, "kto", Recipe.LD_ALPHA_CONFIG, "0.5"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(Recipe.LD_ALPHA_CONFIG)
        .hasMessageContaining("kto");
  }

  @Test
  void theConfigHashCoversWhatShapesTheNumbersOnly() {
    String base = Recipe.defaults().configHash();
    assertThat(Recipe.of(Recipe.LABEL_SMOOTHING_CONFIG, "0.1").configHash()).isNotEqualTo(base);
    assertThat(Recipe.of(Recipe.LORA_USE_RSLORA_CONFIG, "true").configHash()).isNotEqualTo(base);
    assertThat(Recipe.of(Recipe.DEVICE_CONFIG, "cpu").configHash()).isEqualTo(base);
    assertThat(Recipe.of("bootstrap.servers", "127.0.0.1:1").configHash()).isEqualTo(base);
  }

  private static void assertInvalid(String key, String value) {
    assertThatThrownBy(() -> Recipe.of(key, value))
        .as(key + "=" + value)
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(key)
        .hasMessageContaining(value);
  }

  @Test
  void everyKeyHasADocAndADefault() {
    for (var key : Recipe.CONFIG.configKeys().values()) {
      assertThat(key.documentation).as(key.name).isNotBlank();
      assertThat(key.hasDefault()).as(key.name).isTrue();
    }
    assertThat(List.copyOf(Recipe.CONFIG.names()))
        .contains(Recipe.LOSS_KEYS.toArray(String[]::new));
  }
}
