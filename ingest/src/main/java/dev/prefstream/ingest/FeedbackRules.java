package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Pattern;

/** Pure validation and conversion of decoded feedback events into preference pairs. */
final class FeedbackRules {
  static final Pattern MODEL_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  static final int MAX_EVENT_ID_CHARS = 256;

  private final int maxTextChars;

  FeedbackRules(int maxTextChars) {
    this.maxTextChars = maxTextChars;
  }

  Verdict apply(FeedbackEvent event) {
    String eventId = event.getEventId();
    String modelId = event.getModelId();
    if (eventId.isBlank() || eventId.length() > MAX_EVENT_ID_CHARS) {
      return reject(
          DeadLetterReason.INVALID_EVENT_ID,
          "event_id must be 1-" + MAX_EVENT_ID_CHARS + " characters, got " + eventId.length(),
          event);
    }
    if (!MODEL_ID.matcher(modelId).matches()) {
      return reject(
          DeadLetterReason.INVALID_MODEL_ID,
          "model_id '" + abbreviate(modelId) + "' does not match " + MODEL_ID.pattern(),
          event);
    }
    if (event.getKind() != FeedbackKind.PAIRWISE) {
      return reject(
          DeadLetterReason.UNSUPPORTED_KIND,
          "feedback kind " + event.getKind() + " is not handled yet (PAIRWISE is)",
          event);
    }
    return pairwise(event);
  }

  private Verdict pairwise(FeedbackEvent event) {
    Object prompt = event.getPrompt();
    String chosen = event.getChosen();
    String rejected = event.getRejected();
    String missing =
        isBlankPrompt(prompt)
            ? "prompt"
            : isBlank(chosen) ? "chosen" : isBlank(rejected) ? "rejected" : null;
    if (missing != null) {
      return reject(DeadLetterReason.MISSING_FIELD, "PAIRWISE feedback needs " + missing, event);
    }
    int longest = Math.max(promptChars(prompt), Math.max(chosen.length(), rejected.length()));
    if (longest > maxTextChars) {
      return reject(
          DeadLetterReason.TEXT_TOO_LONG,
          "a text of " + longest + " chars exceeds ingest.max.text.chars=" + maxTextChars,
          event);
    }
    if (chosen.equals(rejected)) {
      return reject(
          DeadLetterReason.IDENTICAL_RESPONSES,
          "chosen and rejected are the same " + chosen.length() + "-char text",
          event);
    }
    PreferencePair pair =
        PreferencePair.newBuilder()
            .setPairId(pairId(event.getEventId(), 0))
            .setModelId(event.getModelId())
            .setPrompt(prompt)
            .setChosen(chosen)
            .setRejected(rejected)
            .setKind(event.getKind())
            .setEventIds(List.of(event.getEventId()))
            .setSource(event.getSource())
            .setOccurredAt(event.getOccurredAt())
            .build();
    return new Verdict.Pairs(List.of(pair));
  }

  /** Hex sha-256 of {@code eventId#index}: stable across replays, drives the held-out split. */
  static String pairId(String eventId, int index) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      return HexFormat.of()
          .formatHex(sha.digest((eventId + "#" + index).getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }

  private static Verdict reject(DeadLetterReason reason, String message, FeedbackEvent event) {
    return new Verdict.Problem(reason, message);
  }

  private static boolean isBlank(String s) {
    return s == null || s.isBlank();
  }

  private static boolean isBlankPrompt(Object prompt) {
    if (prompt instanceof String text) {
      return text.isBlank();
    }
    if (prompt instanceof List<?> messages) {
      return messages.isEmpty();
    }
    return true;
  }

  private static int promptChars(Object prompt) {
    if (prompt instanceof List<?> messages) {
      int total = 0;
      for (Object m : messages) {
        total += ((ChatMessage) m).getContent().length();
      }
      return total;
    }
    return ((String) prompt).length();
  }

  private static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }
}
