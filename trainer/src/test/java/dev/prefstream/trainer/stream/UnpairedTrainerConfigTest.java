package dev.prefstream.trainer.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.trainer.recipe.Recipe;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** The streaming trainer takes unpaired losses, and refuses what cannot work with them. */
class UnpairedTrainerConfigTest {
  private static Map<String, Object> kto() {
    Map<String, Object> m = new HashMap<>();
    m.put(TrainerConfig.MODEL_DIR_CONFIG, "/models/tiny");
    m.put(Recipe.LOSS_CONFIG, "kto");
    return m;
  }

  @Test
  void unpairedLossesAreAcceptedAndReadTheUnpairedTopic() {
    assertThat(new TrainerConfig(kto()).unpairedInput()).isTrue();
    Map<String, Object> apo = kto();
    apo.put(Recipe.LOSS_CONFIG, "apo_zero_unpaired");
    assertThat(new TrainerConfig(apo).unpairedInput()).isTrue();
    Map<String, Object> range = kto();
    range.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName());
    assertThat(new TrainerConfig(range).unpairedInput()).isTrue();
    Map<String, Object> sigmoid = kto();
    sigmoid.put(Recipe.LOSS_CONFIG, "sigmoid");
    assertThat(new TrainerConfig(sigmoid).unpairedInput())
        .as("a pair loss does not read unpaired")
        .isFalse();
  }

  @Test
  void theGateOnAnUnpairedLossFailsAtStartNamingTheKey() {
    Map<String, Object> accuracy = kto();
    accuracy.put(TrainerConfig.GATE_MIN_ACCURACY_CONFIG, "0.6");
    assertThatThrownBy(() -> new TrainerConfig(accuracy))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(TrainerConfig.GATE_MIN_ACCURACY_CONFIG)
        .hasMessageContaining("0.6")
        .hasMessageContaining("kto");
    Map<String, Object> kl = kto();
    kl.put(TrainerConfig.GATE_MAX_KL_CONFIG, "0.5");
    assertThatThrownBy(() -> new TrainerConfig(kl))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(TrainerConfig.GATE_MAX_KL_CONFIG)
        .hasMessageContaining("0.5");
    // the same gate with a pair loss is fine
    Map<String, Object> pairs = kto();
    pairs.put(Recipe.LOSS_CONFIG, "sigmoid");
    pairs.put(TrainerConfig.GATE_MIN_ACCURACY_CONFIG, "0.6");
    assertThat(new TrainerConfig(pairs).getDouble(TrainerConfig.GATE_MIN_ACCURACY_CONFIG))
        .isEqualTo(0.6);
  }

  @Test
  void anAssignorThatSplitsAModelsPartitionsFailsAtStartNamingTheKey() {
    Map<String, Object> sticky = kto();
    sticky.put(
        ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
        CooperativeStickyAssignor.class.getName());
    assertThatThrownBy(() -> new TrainerConfig(sticky))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG)
        .hasMessageContaining("CooperativeStickyAssignor");
  }
}
