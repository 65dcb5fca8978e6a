package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.ModelIds;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.ServedResponses;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Pure validation and normalization of decoded records: every check that needs only the record
 * itself. A valid record comes back with its texts in NFC; an invalid one with the reason code and
 * a message that names the field and the offending value.
 */
final class FeedbackRules {
  static final int MAX_ID_CHARS = 256;
  static final Set<String> CHAT_ROLES = Set.of("system", "user", "assistant", "tool");

  private final int maxTextChars;
  private final int maxResponses;

  FeedbackRules(int maxTextChars, int maxResponses) {
    this.maxTextChars = maxTextChars;
    this.maxResponses = maxResponses;
  }

  FeedbackRules(IngestConfig config) {
    this(config.maxTextChars(), config.maxResponses());
  }

  /**
   * Checks a feedback event for its kind; returns it normalized. The event is normalized in place
   * (it was just decoded, and nothing else holds it): a copy through its builder was a third of the
   * cost of reading a record.
   */
  Verdict<FeedbackEvent> feedback(FeedbackEvent event) {
    try {
      checkId("event_id", event.getEventId(), DeadLetterReason.INVALID_EVENT_ID);
      checkModelId(event.getModelId());
      String userKey = event.getUserKey();
      if (userKey != null && !userKey.isEmpty()) {
        checkId("user_key", userKey, DeadLetterReason.INVALID_USER_KEY);
      }
      FeedbackKind kind = event.getKind();
      switch (kind) {
        case PAIRWISE -> {
          event.setPrompt(prompt(kind, event.getPrompt()));
          String chosen = text(kind, "chosen", event.getChosen());
          String rejected = text(kind, "rejected", event.getRejected());
          if (chosen.equals(rejected)) {
            throw identical("chosen and rejected", chosen);
          }
          event.setChosen(chosen);
          event.setRejected(rejected);
        }
        case BINARY -> {
          event.setPrompt(prompt(kind, event.getPrompt()));
          event.setResponse(text(kind, "response", event.getResponse()));
          if (event.getLabel() == null) {
            throw missing(kind, "label (true = thumbs up, false = thumbs down)");
          }
        }
        case RANKED -> {
          event.setPrompt(prompt(kind, event.getPrompt()));
          event.setResponses(responses(kind, event.getResponses(), true));
        }
        case SERVED_CHOICE -> {
          // prompt and candidates come from the impression; the choice only points at it
          String requestId = event.getRequestId();
          if (requestId == null || requestId.isBlank()) {
            throw missing(kind, "request_id");
          }
          checkId("request_id", requestId, DeadLetterReason.INVALID_REQUEST_ID);
          Integer index = event.getChosenIndex();
          if (index == null) {
            throw missing(kind, "chosen_index");
          }
          if (index < 0 || index >= maxResponses) {
            throw new Rejected(
                DeadLetterReason.BAD_CHOSEN_INDEX,
                "chosen_index "
                    + index
                    + " can never name a served response (0 to "
                    + (maxResponses - 1)
                    + ", ingest.max.responses="
                    + maxResponses
                    + ")");
          }
        }
        case EDIT -> {
          event.setPrompt(prompt(kind, event.getPrompt()));
          String original = text(kind, "response", event.getResponse());
          String edited = text(kind, "edited", event.getEdited());
          if (original.equals(edited)) {
            throw identical("response and edited", original);
          }
          event.setResponse(original);
          event.setEdited(edited);
        }
      }
      return new Verdict.Valid<>(event);
    } catch (Rejected r) {
      return new Verdict.Problem<>(r.reason, r.getMessage());
    }
  }

  /** Checks an impression from the served topic; returns it normalized. */
  Verdict<ServedResponses> impression(ServedResponses served) {
    try {
      String requestId = served.getRequestId();
      if (requestId.isBlank()) {
        throw new Rejected(DeadLetterReason.MISSING_FIELD, "the impression's request_id is blank");
      }
      checkId("request_id", requestId, DeadLetterReason.INVALID_REQUEST_ID);
      checkModelId(served.getModelId());
      return new Verdict.Valid<>(
          ServedResponses.newBuilder(served)
              .setPrompt(prompt(null, served.getPrompt()))
              .setResponses(responses(null, served.getResponses(), false))
              .build());
    } catch (Rejected r) {
      return new Verdict.Problem<>(
          r.reason, r.getMessage() + " (impression " + abbreviate(served.getRequestId()) + ")");
    }
  }

  private Object prompt(FeedbackKind kind, Object prompt) {
    if (prompt == null) {
      throw missing(kind, "prompt");
    }
    if (prompt instanceof String text) {
      String normalized = text(kind, "prompt", text);
      return normalized;
    }
    List<?> messages = (List<?>) prompt;
    if (messages.isEmpty()) {
      throw missing(kind, "prompt (a chat prompt needs at least one message)");
    }
    List<ChatMessage> normalized = new ArrayList<>(messages.size());
    int total = 0;
    boolean anyContent = false;
    for (int i = 0; i < messages.size(); i++) {
      ChatMessage message = (ChatMessage) messages.get(i);
      String role = message.getRole();
      if (!CHAT_ROLES.contains(role)) {
        throw new Rejected(
            DeadLetterReason.INVALID_PROMPT,
            "prompt["
                + i
                + "].role is '"
                + abbreviate(role)
                + "'; use one of system, user, assistant, tool");
      }
      String content = checkedText("prompt[" + i + "].content", message.getContent());
      anyContent |= !content.isBlank();
      total += content.length();
      normalized.add(new ChatMessage(role, content));
    }
    if (!anyContent) {
      throw missing(kind, "prompt (every chat message is blank)");
    }
    checkLength("prompt", total);
    return normalized;
  }

  private List<String> responses(FeedbackKind kind, List<String> responses, boolean distinct) {
    if (responses == null) {
      throw missing(kind, "responses");
    }
    if (responses.size() < 2) {
      throw new Rejected(
          DeadLetterReason.TOO_FEW_RESPONSES,
          responses.size() + " response(s); at least 2 are needed to prefer one over another");
    }
    if (responses.size() > maxResponses) {
      throw new Rejected(
          DeadLetterReason.TOO_MANY_RESPONSES,
          responses.size() + " responses exceed ingest.max.responses=" + maxResponses);
    }
    List<String> normalized = new ArrayList<>(responses.size());
    Map<String, Integer> seen = new HashMap<>();
    for (int i = 0; i < responses.size(); i++) {
      String response = text(kind, "responses[" + i + "]", responses.get(i));
      Integer earlier = seen.putIfAbsent(response, i);
      if (distinct && earlier != null) {
        throw identical("responses[" + earlier + "] and responses[" + i + "]", response);
      }
      normalized.add(response);
    }
    return normalized;
  }

  /** A required, non-blank text: checked, normalized and within the size limit. */
  private String text(FeedbackKind kind, String field, String value) {
    if (value == null || value.isBlank()) {
      throw missing(kind, field);
    }
    String normalized = checkedText(field, value);
    checkLength(field, normalized.length());
    return normalized;
  }

  private static String checkedText(String field, String value) {
    String problem = Texts.problem(value);
    if (problem != null) {
      throw new Rejected(DeadLetterReason.INVALID_TEXT, field + " has " + problem);
    }
    return Texts.nfc(value);
  }

  private void checkLength(String field, int chars) {
    if (chars > maxTextChars) {
      throw new Rejected(
          DeadLetterReason.TEXT_TOO_LONG,
          field
              + " has "
              + chars
              + " chars (after NFC), more than ingest.max.text.chars="
              + maxTextChars);
    }
  }

  private static void checkId(String field, String id, DeadLetterReason reason) {
    if (id.isBlank() || id.length() > MAX_ID_CHARS) {
      throw new Rejected(
          reason,
          field + " must be 1-" + MAX_ID_CHARS + " non-blank characters, got " + id.length());
    }
    String problem = Texts.idProblem(id);
    if (problem != null) {
      throw new Rejected(reason, field + " '" + abbreviate(id) + "' has " + problem);
    }
  }

  private static void checkModelId(String modelId) {
    String problem = ModelIds.problem(modelId);
    if (problem != null) {
      throw new Rejected(DeadLetterReason.INVALID_MODEL_ID, "model_id: " + problem);
    }
  }

  private static Rejected missing(FeedbackKind kind, String field) {
    return new Rejected(
        DeadLetterReason.MISSING_FIELD,
        (kind == null ? "an impression" : kind + " feedback") + " needs " + field);
  }

  private static Rejected identical(String what, String text) {
    return new Rejected(
        DeadLetterReason.IDENTICAL_RESPONSES,
        what + " are the same " + text.length() + "-char text '" + abbreviate(text) + "'");
  }

  static String abbreviate(String s) {
    return Texts.abbreviate(s);
  }

  /** Control flow inside the rules only: never escapes this class. */
  private static final class Rejected extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient DeadLetterReason reason;

    Rejected(DeadLetterReason reason, String message) {
      super(message, null, false, false);
      this.reason = reason;
    }
  }
}
