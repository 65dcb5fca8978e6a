package dev.prefstream.trainer.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.trainer.recipe.Recipe;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

class TrainerConfigTest {
  private static Map<String, Object> minimal() {
    Map<String, Object> m = new HashMap<>();
    m.put(TrainerConfig.MODEL_DIR_CONFIG, "/models/tiny");
    return m;
  }

  @Test
  void everyDeclaredKeyHasAValue() {
    TrainerConfig config = new TrainerConfig(minimal());
    for (String key : TrainerConfig.CONFIG.names()) {
      assertThat(config.values()).as(key).containsKey(key);
    }
    assertThat(config.getDouble(TrainerConfig.HOLDOUT_PERCENT_CONFIG)).isEqualTo(5.0);
    assertThat(config.getLong(TrainerConfig.PUBLISH_EVERY_MS_CONFIG)).isEqualTo(10_000L);
  }

  @Test
  void badValuesFailAtStartNamingKeyAndValue() {
    Map<String, Object> m = minimal();
    m.put(Recipe.LOSS_CONFIG, "dpo-ish");
    assertThatThrownBy(() -> new TrainerConfig(m))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("train.loss")
        .hasMessageContaining("dpo-ish");
    Map<String, Object> modules = minimal();
    modules.put(Recipe.LORA_TARGET_MODULES_CONFIG, "q_proj,qkv");
    assertThatThrownBy(() -> new TrainerConfig(modules))
        .hasMessageContaining("lora.target.modules")
        .hasMessageContaining("qkv");
    assertThatThrownBy(() -> new TrainerConfig(Map.of()))
        .hasMessageContaining(TrainerConfig.MODEL_DIR_CONFIG);
    Map<String, Object> batch = minimal();
    batch.put(Recipe.BATCH_SIZE_CONFIG, "0");
    assertThatThrownBy(() -> new TrainerConfig(batch)).hasMessageContaining("trainer.batch.size");
    Map<String, Object> beta = minimal();
    beta.put(Recipe.BETA_CONFIG, "-1");
    assertThatThrownBy(() -> new TrainerConfig(beta))
        .hasMessageContaining("train.beta")
        .hasMessageContaining("-1");
  }

  @Test
  void everyRecipeKeyIsATrainerKeyAndNoClippingIsAccepted() {
    assertThat(TrainerConfig.CONFIG.names()).containsAll(Recipe.CONFIG.names());
    Map<String, Object> m = minimal();
    m.put(Recipe.MAX_GRAD_NORM_CONFIG, "0");
    m.put(Recipe.LABEL_SMOOTHING_CONFIG, "0.1");
    m.put(Recipe.LOSS_CONFIG, "robust");
    TrainerConfig config = new TrainerConfig(m);
    assertThat(config.recipe().train().clips()).isFalse();
    assertThat(config.recipe().loss().labelSmoothing()).isEqualTo(0.1);
  }

  @Test
  void theConfigHashFollowsTrainingSettingsOnly() {
    String base = new TrainerConfig(minimal()).configHash();
    Map<String, Object> otherId = minimal();
    otherId.put(TrainerConfig.ID_CONFIG, "another");
    assertThat(new TrainerConfig(otherId).configHash()).isEqualTo(base);
    Map<String, Object> otherBeta = minimal();
    otherBeta.put(Recipe.BETA_CONFIG, "0.2");
    assertThat(new TrainerConfig(otherBeta).configHash()).isNotEqualTo(base).hasSize(64);
  }

  @Test
  void holdoutSplitIsAStableShare() {
    HoldoutSplit split = new HoldoutSplit(5.0);
    int held = 0;
    for (int i = 0; i < 20_000; i++) {
      String id = String.format("%08x", (long) (i * 214_748.3647)) + "0".repeat(56);
      held += split.isHeldOut(id) ? 1 : 0;
    }
    assertThat(held).isBetween(950, 1050);
    assertThat(split.isHeldOut("00000000" + "f".repeat(56))).isTrue();
    assertThat(split.isHeldOut("ffffffff" + "0".repeat(56))).isFalse();
    assertThat(new HoldoutSplit(0).isHeldOut("00000000" + "0".repeat(56))).isFalse();
  }
}
