package dev.prefstream.schemas.serde;

import org.apache.kafka.common.errors.SerializationException;

/**
 * A record's bytes are not a valid Confluent-framed Avro value for the expected type. Permanent:
 * the same bytes will fail the same way, so such records belong in the dead-letter topic under
 * {@link #reason()}.
 */
public final class WireFormatException extends SerializationException {
  private static final long serialVersionUID = 1L;

  /** Why a record could not be read; the codes are part of the dead-letter contract. */
  public enum Reason {
    /** Null or zero-length value. */
    EMPTY_VALUE("empty_value"),
    /** Shorter than the 5-byte header. */
    TRUNCATED_HEADER("truncated_header"),
    /** First byte is not 0: not Confluent wire format. */
    BAD_MAGIC_BYTE("bad_magic_byte"),
    /** The registry does not know the schema id. */
    UNKNOWN_SCHEMA_ID("unknown_schema_id"),
    /** The writer's schema cannot be read as the expected type. */
    SCHEMA_MISMATCH("schema_mismatch"),
    /** The Avro body is truncated or malformed. */
    CORRUPT_AVRO("corrupt_avro"),
    /** Bytes left over after a complete record. */
    TRAILING_BYTES("trailing_bytes");

    private final String code;

    Reason(String code) {
      this.code = code;
    }

    /** The snake_case code written to dead letters. */
    public String code() {
      return code;
    }
  }

  private final Reason reason;
  private final int schemaId;

  public WireFormatException(Reason reason, int schemaId, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
    this.schemaId = schemaId;
  }

  public Reason reason() {
    return reason;
  }

  /** The schema id from the header, or -1 when the header could not be read. */
  public int schemaId() {
    return schemaId;
  }
}
