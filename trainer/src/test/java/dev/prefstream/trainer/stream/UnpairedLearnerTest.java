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

  private static PreferencePair pair(String thing) {
    return PreferencePair.newBuilder()
        .setPairId("ab".repeat(32))
        .setModelId("m")
        .setPrompt("What about " + thing + "?")
        .setChosen("I love " + thing + ".")
        .setRejected("I hate " + thing + ".")
        .setKind(FeedbackKind.PAIRWISE)
        .setEventIds(List.of("e1"))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .build();
  }

  private static PreferencePair pair() {
    return pair("tea");
  }

  private static UnpairedFeedback thumb(String thing, String response, boolean up) {
    return UnpairedFeedback.newBuilder()
        .setFeedbackId("cd".repeat(32))
        .setModelId("m")
        .setPrompt("What about " + thing + "?")
        .setResponse(response)
        .setDesirable(up)
        .setEventIds(List.of("e2"))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .build();
  }

  private static UnpairedFeedback thumb(String response, boolean up) {
    return thumb("tea", response, up);
  }

  private static UnpairedFeedback up(String thing) {
    return thumb(thing, "I love " + thing + ".", true);
  }

  private static UnpairedFeedback down(String thing) {
    return thumb(thing, "I hate " + thing + ".", false);
  }

  @Test
  void pairsAreTrainedAsTrlUnpairsThemChosenUpThenRejectedDown() throws Exception {
    Path model = dir.resolve("model");
    ModelInit.write(model, ModelInit.Spec.builder("llama").optSeed(3).optMaxPositions(128).build());
    try (Learner.Factory factory = DpoLearner.factory(config(model, "kto"));
        Learner fromPairs = factory.create("m");
        Learner fromThumbs = factory.create("m");
        Learner interleaved = factory.create("m");
        Learner flipped = factory.create("m")) {
      assertThat(fromPairs.problemWith(pair())).isEmpty();
      assertThat(fromPairs.problemWith(up("tea"))).isEmpty();
      byte[] before = fromPairs.stateFiles().get(AdapterFiles.WEIGHTS);

      Learner.StepReport paired = fromPairs.step(List.of(pair("tea"), pair("jazz")));
      // TRL's unpair_preference_dataset: completion = chosen + rejected, label = [T]*n + [F]*n
      Learner.StepReport unpaired =
          fromThumbs.step(List.of(), List.of(up("tea"), up("jazz"), down("tea"), down("jazz")));
      interleaved.step(List.of(), List.of(up("tea"), down("tea"), up("jazz"), down("jazz")));
      flipped.step(
          List.of(),
          List.of(
              thumb("tea", "I love tea.", false),
              thumb("jazz", "I love jazz.", false),
              thumb("tea", "I hate tea.", true),
              thumb("jazz", "I hate jazz.", true)));

      assertThat(paired.applied()).isTrue();
      assertThat(paired.metrics()).containsEntry("count/chosen", 2.0);
      assertThat(paired.metrics()).containsEntry("count/rejected", 2.0);
      byte[] afterPairs = fromPairs.stateFiles().get(AdapterFiles.WEIGHTS);
      assertThat(afterPairs).as("the step moved the adapter").isNotEqualTo(before);
      assertThat(afterPairs)
          .as("pairs = their chosen responses up, then their rejected responses down")
          .isEqualTo(fromThumbs.stateFiles().get(AdapterFiles.WEIGHTS));
      assertThat(paired.metrics()).isEqualTo(unpaired.metrics());
      assertThat(afterPairs)
          .as(
              "the order matters (KTO's KL estimate pairs each prompt with the previous completion)")
          .isNotEqualTo(interleaved.stateFiles().get(AdapterFiles.WEIGHTS));
      assertThat(afterPairs)
          .as("the labels matter: the flipped thumbs train differently")
          .isNotEqualTo(flipped.stateFiles().get(AdapterFiles.WEIGHTS));

      Map<String, Double> eval = fromPairs.evaluate(List.of(pair()), List.of(thumb("x", true)));
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
