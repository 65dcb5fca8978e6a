package dev.prefstream.audit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.trainer.recipe.Recipe;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Versions trained with an unpaired loss hold records of two topics; replay reads pairs only, so it
 * refuses them by name instead of rebuilding something else.
 */
class UnpairedReplayRefusalTest {
  @Test
  void versionsOfUnpairedLossesAreRefusedNamingTheLoss() {
    for (String loss : new String[] {"kto", "apo_zero_unpaired"}) {
      assertThat(Replayer.unsupported(Map.of(Recipe.LOSS_CONFIG, loss)))
          .get()
          .asString()
          .contains(Recipe.LOSS_CONFIG + "=" + loss)
          .contains("pair losses only");
    }
  }

  @Test
  void versionsOfPairLossesAreReplayed() {
    assertThat(Replayer.unsupported(Map.of(Recipe.LOSS_CONFIG, "sigmoid"))).isEmpty();
    assertThat(Replayer.unsupported(Map.of(Recipe.LOSS_CONFIG, "ipo"))).isEmpty();
    assertThat(Replayer.unsupported(Map.of())).as("the default loss is sigmoid").isEmpty();
    assertThat(Replayer.unsupported(Map.of(Recipe.LOSS_CONFIG, "dpo-ish")))
        .get()
        .asString()
        .contains("unknown");
  }
}
