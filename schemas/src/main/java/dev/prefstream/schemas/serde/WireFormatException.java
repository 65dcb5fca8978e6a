package dev.prefstream.schemas.serde;

import dev.prefstream.schemas.DeadLetterReason;
import org.apache.kafka.common.errors.SerializationException;

/**
 * A record's bytes are not a valid Confluent-framed Avro value for the expected type. Permanent:
 * the same bytes will fail the same way, so such records belong in the dead-letter topic under
 * {@link #reason()}.
 */
public final class WireFormatException extends SerializationException {
  private static final long serialVersionUID = 1L;

  private final DeadLetterReason reason;
  private final int schemaId;

  public WireFormatException(
      DeadLetterReason reason, int schemaId, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
    this.schemaId = schemaId;
  }

  public DeadLetterReason reason() {
    return reason;
  }

  /** The schema id from the header, or -1 when the header could not be read. */
  public int schemaId() {
    return schemaId;
  }
}
