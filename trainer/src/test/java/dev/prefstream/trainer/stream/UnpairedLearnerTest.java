package dev.prefstream.trainer.stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.recipe.Recipe;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The streaming learner with an unpaired loss: a pair is trained as TRL's KTO trains paired data,
 * its chosen response a desirable example and its rejected one an undesirable example.
 */
class UnpairedLearnerTest {
  @TempDir static Path dir;

  private static TrainerConfig config(Path model, String loss) {
    Map<String, Object> m = new HashMap<>();
    m.put(TrainerConfig.MODEL_DIR_CONFIG, model.toString());
    m.put(Recipe.LOSS_CONFIG, loss);
    m.put(Recipe.MAX_LENGTH_CONFIG, 64);
    m.put(Recipe.DEVICE_CONFIG, "cpu");
    return new TrainerConfig(m);
  }

  private static PreferencePair pair() {
    return PreferencePair.newBuilder()
        .setPairId("ab".repeat(32))
        .setModelId("m")
        .setPrompt("What about tea?")
        .setChosen("I love tea.")
        .setRejected("I hate tea.")
        .setKind(FeedbackKind.PAIRWISE)
        .setEventIds(List.of("e1"))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .build();
  }

  private static UnpairedFeedback thumb(String response, boolean up) {
    return UnpairedFeedback.newBuilder()
        .setFeedbackId("cd".repeat(32))
        .setModelId("m")
        .setPrompt("What about tea?")
        .setResponse(response)
        .setDesirable(up)
        .setEventIds(List.of("e2"))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .build();
  }

  @Test
  void aPairIsTrainedAsItsChosenUpAndItsRejectedDown() throws Exception {
    Path model = dir.resolve("model");
    ModelInit.write(model, ModelInit.Spec.builder("llama").optSeed(3).optMaxPositions(128).build());
    try (Learner.Factory factory = DpoLearner.factory(config(model, "kto"));
        Learner fromPair = factory.create("m");
        Learner fromThumbs = factory.create("m");
        Learner flipped = factory.create("m")) {
      assertThat(fromPair.problemWith(pair())).isEmpty();
      assertThat(fromPair.problemWith(thumb("I love tea.", true))).isEmpty();
      byte[] before = fromPair.stateFiles().get(AdapterFiles.WEIGHTS);

      Learner.StepReport paired = fromPair.step(List.of(pair()));
      Learner.StepReport unpaired =
          fromThumbs.step(
              List.of(), List.of(thumb("I love tea.", true), thumb("I hate tea.", false)));
      flipped.step(List.of(), List.of(thumb("I love tea.", false), thumb("I hate tea.", true)));

      assertThat(paired.applied()).isTrue();
      assertThat(paired.metrics()).containsEntry("count/chosen", 1.0);
      assertThat(paired.metrics()).containsEntry("count/rejected", 1.0);
      byte[] afterPair = fromPair.stateFiles().get(AdapterFiles.WEIGHTS);
      assertThat(afterPair).as("the step moved the adapter").isNotEqualTo(before);
      assertThat(afterPair)
          .as("a pair = its chosen response up + its rejected response down, in that order")
          .isEqualTo(fromThumbs.stateFiles().get(AdapterFiles.WEIGHTS));
      assertThat(paired.metrics()).isEqualTo(unpaired.metrics());
      assertThat(afterPair)
          .as("the labels matter: the flipped thumbs train differently")
          .isNotEqualTo(flipped.stateFiles().get(AdapterFiles.WEIGHTS));

      Map<String, Double> eval = fromPair.evaluate(List.of(pair()), List.of(thumb("x", true)));
      assertThat(eval).containsKey("eval/loss").containsEntry("eval/count/chosen", 2.0);
    }
  }

  @Test
  void aPairLossLearnerTakesNoUnpairedFeedback() throws Exception {
    Path model = dir.resolve("model-pairs");
    ModelInit.write(model, ModelInit.Spec.builder("llama").optSeed(3).optMaxPositions(128).build());
    try (Learner.Factory factory = DpoLearner.factory(config(model, "sigmoid"));
        Learner learner = factory.create("m")) {
      assertThat(learner.problemWith(thumb("I love tea.", true))).isPresent();
      assertThatThrownBy(() -> learner.step(List.of(pair()), List.of(thumb("I love tea.", true))))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("unpaired");
      assertThat(learner.step(List.of(pair()), List.of()).applied()).isTrue();
    }
  }
}
