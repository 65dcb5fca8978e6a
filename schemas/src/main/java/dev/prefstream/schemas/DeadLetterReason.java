package dev.prefstream.schemas;

import java.util.Arrays;

/**
 * Why a record went to the dead-letter topic. The {@link #code()} strings are a contract: they are
 * written to {@code Rejection.reason}, counted in metrics and listed in the README.
 */
public enum DeadLetterReason {
  // the bytes are not a readable record
  EMPTY_VALUE("empty_value", "the value is null or empty"),
  TRUNCATED_HEADER("truncated_header", "shorter than the 5-byte Confluent header"),
  BAD_MAGIC_BYTE("bad_magic_byte", "first byte is not 0: not Confluent wire format"),
  UNKNOWN_SCHEMA_ID("unknown_schema_id", "the schema id is not in the registry"),
  SCHEMA_MISMATCH("schema_mismatch", "the writer's schema cannot be read as the expected type"),
  CORRUPT_AVRO("corrupt_avro", "the Avro body is truncated or malformed"),
  TRAILING_BYTES("trailing_bytes", "bytes left over after a complete record"),
  // the record is readable but not usable
  MISSING_FIELD("missing_field", "a field this kind of feedback needs is null or blank"),
  INVALID_EVENT_ID(
      "invalid_event_id",
      "event_id is blank, longer than 256 characters or has control characters"),
  INVALID_MODEL_ID("invalid_model_id", "model_id is not 1-128 of [A-Za-z0-9._-] starting alnum"),
  INVALID_REQUEST_ID(
      "invalid_request_id",
      "request_id is blank, longer than 256 characters or has control characters"),
  INVALID_USER_KEY(
      "invalid_user_key", "user_key is longer than 256 characters or has control characters"),
  INVALID_TEXT(
      "invalid_text",
      "a text has control characters, U+FFFD (bytes that were not valid UTF-8) or noncharacters"),
  INVALID_PROMPT(
      "invalid_prompt", "a chat message's role is not one of system, user, assistant, tool"),
  TEXT_TOO_LONG("text_too_long", "a prompt or response exceeds the configured size limit"),
  IDENTICAL_RESPONSES(
      "identical_responses",
      "the responses to compare are the same text (after NFC normalization)"),
  TOO_FEW_RESPONSES(
      "too_few_responses", "a ranked list or an impression has fewer than 2 responses"),
  TOO_MANY_RESPONSES(
      "too_many_responses", "a ranked list or an impression has more responses than configured"),
  BAD_CHOSEN_INDEX(
      "bad_chosen_index", "chosen_index is negative or not below the impression's response count"),
  UNSUPPORTED_KIND(
      "unsupported_kind", "the writer's schema has a feedback kind this version does not handle"),
  // the record is valid but not wanted
  DUPLICATE_EVENT(
      "duplicate_event", "the event_id was already ingested for this model within the retention"),
  RATE_LIMITED(
      "rate_limited", "the user_key sent more events for this model than the window allows"),
  UNKNOWN_REQUEST(
      "unknown_request",
      "a choice's impression did not arrive on the served topic while it waited"),
  // the trainer cannot use a pair
  UNUSABLE_PAIR(
      "unusable_pair",
      "the trainer cannot tokenize the pair (or, with an unpaired loss, the unpaired record) for"
          + " its base model (e.g. chat messages for a model without a chat template)",
      false),
  MODEL_NOT_TRAINED(
      "model_not_trained",
      "the trainer that owns the pairs (or unpaired) partition does not train this model id"
          + " (excluded by trainer.model.ids, over trainer.max.models, or keyed to a second"
          + " partition)",
      false);

  private final String code;
  private final String description;
  private final boolean fromIngest;

  DeadLetterReason(String code, String description) {
    this(code, description, true);
  }

  DeadLetterReason(String code, String description, boolean fromIngest) {
    this.code = code;
    this.description = description;
    this.fromIngest = fromIngest;
  }

  /** False for the reasons only the trainer gives (it reads pairs, not feedback). */
  public boolean fromIngest() {
    return fromIngest;
  }

  /** The snake_case code written to dead letters. */
  public String code() {
    return code;
  }

  public String description() {
    return description;
  }

  /** The reason with this code; throws naming the known codes when there is none. */
  public static DeadLetterReason ofCode(String code) {
    return Arrays.stream(values())
        .filter(r -> r.code.equals(code))
        .findFirst()
        .orElseThrow(
            () ->
                new IllegalArgumentException(
                    "unknown dead-letter reason '"
                        + code
                        + "', known: "
                        + Arrays.stream(values()).map(DeadLetterReason::code).toList()));
  }
}
