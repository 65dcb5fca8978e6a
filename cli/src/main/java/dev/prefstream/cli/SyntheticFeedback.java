package dev.prefstream.cli;

import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.ServedResponses;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Synthetic feedback with a preference a small model can learn: people prefer the response that
 * speaks warmly of the topic over the one that speaks coldly of it. It comes from a few hundred
 * pseudonymous users and in every kind (pairwise, ranked, edits, thumbs up/down, choices among
 * served responses), with now and then an event ingest must refuse, so that every audit command has
 * something to show on a demo run.
 */
final class SyntheticFeedback {
  private static final List<String> TOPICS =
      List.of("tea", "rain", "jazz", "maps", "cats", "bread", "trains", "chess", "snow", "books");
  private static final List<String> WARM = List.of("love", "like", "enjoy", "adore");
  private static final List<String> COLD = List.of("hate", "dislike", "avoid", "dread");

  /** How many pseudonymous users the feedback comes from. */
  static final int USERS = 300;

  /** What to send for one piece of feedback: an impression first (for a choice), then the event. */
  record Emission(ServedResponses impression, FeedbackEvent event) {}

  private final String modelId;
  private final Random random;
  private final String runId;
  private final List<String> userKeys = new ArrayList<>();
  private long sequence;

  SyntheticFeedback(String modelId, long seed) {
    this.modelId = modelId;
    this.random = new Random(seed);
    this.runId = Long.toHexString(System.currentTimeMillis());
    for (int i = 0; i < USERS; i++) {
      // pseudonymous, as a product would send them: a digest, never a raw identity
      userKeys.add("user-" + Sha256.hex("prefstream-demo-user-" + i).substring(0, 16));
    }
  }

  /** The next pairwise event (a random user and topic), for tests that need plain pairs. */
  FeedbackEvent next() {
    return pairwise(base(), topic()).build();
  }

  /**
   * The next piece of feedback of a random kind: 50% pairwise, 15% ranked, 15% edits, 10% thumbs
   * up/down (the demo pairs opposite thumbs on one prompt), 10% choices among served responses; one
   * in a hundred repeats its responses and is dead-lettered as identical_responses.
   */
  Emission nextOfAnyKind() {
    String topic = topic();
    FeedbackEvent.Builder b = base();
    int roll = random.nextInt(100);
    if (roll == 0) {
      String same = "I " + warm() + " " + topic + ".";
      return new Emission(null, pairwise(b, topic).setChosen(same).setRejected(same).build());
    }
    if (roll < 50) {
      return new Emission(null, pairwise(b, topic).build());
    }
    String prompt = prompt(topic);
    String warm = "I " + warm() + " " + topic + ".";
    String cold = "I " + cold() + " " + topic + ".";
    if (roll < 65) {
      String middle =
          topic.substring(0, 1).toUpperCase(java.util.Locale.ROOT)
              + topic.substring(1)
              + " is fine.";
      return new Emission(
          null,
          b.setKind(FeedbackKind.RANKED)
              .setPrompt(prompt)
              .setResponses(List.of(warm, middle, cold))
              .build());
    }
    if (roll < 80) {
      return new Emission(
          null,
          b.setKind(FeedbackKind.EDIT).setPrompt(prompt).setResponse(cold).setEdited(warm).build());
    }
    if (roll < 90) {
      boolean up = random.nextBoolean();
      return new Emission(
          null,
          b.setKind(FeedbackKind.BINARY)
              .setPrompt(prompt)
              .setResponse(up ? warm : cold)
              .setLabel(up)
              .build());
    }
    String requestId = "demo-req-" + runId + "-" + sequence;
    boolean warmFirst = random.nextBoolean();
    ServedResponses impression =
        ServedResponses.newBuilder()
            .setRequestId(requestId)
            .setModelId(modelId)
            .setServedAt(b.getOccurredAt())
            .setPrompt(prompt)
            .setResponses(warmFirst ? List.of(warm, cold) : List.of(cold, warm))
            .build();
    return new Emission(
        impression,
        b.setKind(FeedbackKind.SERVED_CHOICE)
            .setRequestId(requestId)
            .setChosenIndex(warmFirst ? 0 : 1)
            .build());
  }

  private FeedbackEvent.Builder base() {
    return FeedbackEvent.newBuilder()
        .setEventId("demo-" + runId + "-" + sequence++)
        .setModelId(modelId)
        .setOccurredAt(Instant.now())
        .setSource("prefstream-demo")
        .setUserKey(userKeys.get(random.nextInt(userKeys.size())));
  }

  private FeedbackEvent.Builder pairwise(FeedbackEvent.Builder b, String topic) {
    return b.setKind(FeedbackKind.PAIRWISE)
        .setPrompt(prompt(topic))
        .setChosen("I " + warm() + " " + topic + ".")
        .setRejected("I " + cold() + " " + topic + ".");
  }

  private static String prompt(String topic) {
    return "What do you think of " + topic + "?";
  }

  private String topic() {
    return TOPICS.get(random.nextInt(TOPICS.size()));
  }

  private String warm() {
    return WARM.get(random.nextInt(WARM.size()));
  }

  private String cold() {
    return COLD.get(random.nextInt(COLD.size()));
  }
}
