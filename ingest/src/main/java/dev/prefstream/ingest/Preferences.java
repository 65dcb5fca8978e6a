package dev.prefstream.ingest;

import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.ServedResponses;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * How each kind of valid, normalized feedback becomes training data. Pure functions; every id they
 * mint is a hash of the source event ids, so a replay mints the same ones.
 */
final class Preferences {
  private Preferences() {}

  /**
   * Hex sha-256 of {@code eventId#index}: stable across replays, drives the trainer's held-out
   * split. {@code index} tells apart the pairs one event yields.
   */
  static String pairId(String eventId, int index) {
    return sha256(eventId + "#" + index);
  }

  /** PAIRWISE: the one pair the event states. */
  static List<PreferencePair> pairwise(FeedbackEvent event) {
    return List.of(
        pair(event, pairId(event.getEventId(), 0), event.getChosen(), event.getRejected()));
  }

  /** EDIT: the person's edited version is preferred over the response they edited. */
  static List<PreferencePair> edit(FeedbackEvent event) {
    return List.of(
        pair(event, pairId(event.getEventId(), 0), event.getEdited(), event.getResponse()));
  }

  /**
   * RANKED (best first): each response over every later one, or over the next one only. The index
   * in the pair id is {@code i * n + j} for responses i over j, the same in either mode.
   */
  static List<PreferencePair> ranked(FeedbackEvent event, IngestConfig.RankedPairs mode) {
    List<String> responses = event.getResponses();
    int n = responses.size();
    List<PreferencePair> pairs = new ArrayList<>();
    for (int i = 0; i < n - 1; i++) {
      int last = mode == IngestConfig.RankedPairs.ADJACENT ? i + 1 : n - 1;
      for (int j = i + 1; j <= last; j++) {
        pairs.add(
            pair(event, pairId(event.getEventId(), i * n + j), responses.get(i), responses.get(j)));
      }
    }
    return pairs;
  }

  /**
   * SERVED_CHOICE joined with its impression: the chosen candidate over each other one (candidates
   * with the very same text are skipped). The index in the pair id is the other candidate's. Empty
   * when every other candidate has the chosen text.
   */
  static List<PreferencePair> choice(FeedbackEvent event, ServedResponses impression) {
    List<String> candidates = impression.getResponses();
    int chosenIndex = event.getChosenIndex();
    String chosen = candidates.get(chosenIndex);
    List<PreferencePair> pairs = new ArrayList<>();
    for (int j = 0; j < candidates.size(); j++) {
      if (j != chosenIndex && !candidates.get(j).equals(chosen)) {
        pairs.add(
            pair(
                event,
                impression.getPrompt(),
                pairId(event.getEventId(), j),
                chosen,
                candidates.get(j),
                List.of(event.getEventId(), impression.getRequestId()),
                event.getOccurredAt(),
                userKeys(event)));
      }
    }
    return pairs;
  }

  /** BINARY: the rated response as it is, for KTO-style losses. */
  static UnpairedFeedback unpaired(FeedbackEvent event) {
    return new UnpairedFeedback(
        pairId(event.getEventId(), 0),
        event.getModelId(),
        event.getPrompt(),
        event.getResponse(),
        event.getLabel(),
        List.of(event.getEventId()),
        event.getSource(),
        event.getOccurredAt(),
        userKeys(event));
  }

  /**
   * Two BINARY events on the same prompt, a thumbs up and a thumbs down: the up's response is
   * preferred. The id hashes both event ids (up first), so it does not depend on which came first.
   */
  static PreferencePair binary(FeedbackEvent up, FeedbackEvent down) {
    // event ids never contain control characters, so NUL separates them unambiguously
    String both = up.getEventId() + "\u0000" + down.getEventId();
    Instant later =
        up.getOccurredAt().isAfter(down.getOccurredAt())
            ? up.getOccurredAt()
            : down.getOccurredAt();
    return pair(
        up,
        up.getPrompt(),
        pairId(both, 0),
        up.getResponse(),
        down.getResponse(),
        List.of(up.getEventId(), down.getEventId()),
        later,
        userKeys(up, down));
  }

  private static PreferencePair pair(
      FeedbackEvent event, String pairId, String chosen, String rejected) {
    return pair(
        event,
        event.getPrompt(),
        pairId,
        chosen,
        rejected,
        List.of(event.getEventId()),
        event.getOccurredAt(),
        userKeys(event));
  }

  /**
   * The constructor rather than the generated builder, which copies the schema's field list and
   * checks every field again (3% of ingest's stream threads in a profile): the event was validated,
   * and a missing field still fails when the pair is encoded, naming the field.
   */
  private static PreferencePair pair(
      FeedbackEvent event,
      Object prompt,
      String pairId,
      String chosen,
      String rejected,
      List<String> eventIds,
      Instant occurredAt,
      List<String> userKeys) {
    return new PreferencePair(
        pairId,
        event.getModelId(),
        prompt,
        chosen,
        rejected,
        event.getKind() == null ? FeedbackKind.PAIRWISE : event.getKind(),
        eventIds,
        event.getSource(),
        occurredAt,
        userKeys);
  }

  /** The distinct user keys of {@code events}, in order: what audit forget looks pairs up by. */
  static List<String> userKeys(FeedbackEvent... events) {
    List<String> keys = new ArrayList<>();
    for (FeedbackEvent event : events) {
      String key = event.getUserKey();
      if (key != null && !key.isEmpty() && !keys.contains(key)) {
        keys.add(key);
      }
    }
    return keys;
  }

  /** Hex sha-256 of the UTF-8 bytes of {@code text}. */
  static String sha256(String text) {
    return Sha256.hex(text);
  }
}
