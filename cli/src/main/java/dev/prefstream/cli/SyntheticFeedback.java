package dev.prefstream.cli;

import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import java.time.Instant;
import java.util.List;
import java.util.Random;

/**
 * Synthetic pairwise feedback with a preference a small model can learn: people prefer the response
 * that speaks warmly of the topic over the one that speaks coldly of it.
 */
final class SyntheticFeedback {
  private static final List<String> TOPICS =
      List.of("tea", "rain", "jazz", "maps", "cats", "bread", "trains", "chess", "snow", "books");
  private static final List<String> WARM = List.of("love", "like", "enjoy", "adore");
  private static final List<String> COLD = List.of("hate", "dislike", "avoid", "dread");

  private final String modelId;
  private final Random random;
  private final String runId;
  private long sequence;

  SyntheticFeedback(String modelId, long seed) {
    this.modelId = modelId;
    this.random = new Random(seed);
    this.runId = Long.toHexString(System.currentTimeMillis());
  }

  FeedbackEvent next() {
    String topic = TOPICS.get(random.nextInt(TOPICS.size()));
    String warm = WARM.get(random.nextInt(WARM.size()));
    String cold = COLD.get(random.nextInt(COLD.size()));
    return FeedbackEvent.newBuilder()
        .setEventId("demo-" + runId + "-" + sequence++)
        .setModelId(modelId)
        .setOccurredAt(Instant.now())
        .setSource("prefstream-demo")
        .setKind(FeedbackKind.PAIRWISE)
        .setPrompt("What do you think of " + topic + "?")
        .setChosen("I " + warm + " " + topic + ".")
        .setRejected("I " + cold + " " + topic + ".")
        .build();
  }
}
