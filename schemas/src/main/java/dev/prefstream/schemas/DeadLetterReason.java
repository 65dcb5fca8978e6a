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
  INVALID_EVENT_ID("invalid_event_id", "event_id is blank or longer than 256 characters"),
  INVALID_MODEL_ID("invalid_model_id", "model_id is not 1-128 of [A-Za-z0-9._-] starting alnum"),
  IDENTICAL_RESPONSES("identical_responses", "chosen and rejected are the same text"),
  TEXT_TOO_LONG("text_too_long", "a prompt or response exceeds the configured size limit"),
  UNSUPPORTED_KIND("unsupported_kind", "this kind of feedback is not handled yet");

  private final String code;
  private final String description;

  DeadLetterReason(String code, String description) {
    this.code = code;
    this.description = description;
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
