package dev.prefstream.ingest;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

/**
 * Writes Confluent-framed Avro by hand, field by field, so that tests can build exactly the broken
 * bytes they need: wrong lengths, out-of-range indexes, invalid UTF-8.
 */
final class RawAvro {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);

  /** Magic byte 0 and the schema id. */
  static RawAvro framed(int schemaId) {
    RawAvro raw = new RawAvro();
    raw.out.write(0);
    raw.out.writeBytes(ByteBuffer.allocate(4).putInt(schemaId).array());
    return raw;
  }

  /**
   * A FeedbackEvent up to and including {@code source}: event_id, model_id, occurred_at, source.
   */
  static RawAvro feedbackHead(int schemaId, String eventId) {
    return framed(schemaId)
        .string(eventId)
        .string("model-a")
        .varint(1_700_000_000_000L)
        .string("t");
  }

  /**
   * The rest of a valid PAIRWISE event after {@code source}: no user_key, kind, prompt, chosen,
   * rejected, the other optional fields null and no metadata.
   */
  RawAvro pairwiseTail() {
    return index(0) // user_key: null
        .index(0) // kind: PAIRWISE
        .index(1)
        .string("What is 2+2?") // prompt: string
        .index(1)
        .string("4") // chosen
        .index(1)
        .string("5") // rejected
        .index(0) // response
        .index(0) // label
        .index(0) // responses
        .index(0) // request_id
        .index(0) // chosen_index
        .index(0) // edited
        .varint(0); // metadata: empty map
  }

  RawAvro string(String s) {
    return utf8(s.getBytes(StandardCharsets.UTF_8));
  }

  /** A string field holding exactly these bytes, valid UTF-8 or not. */
  RawAvro utf8(byte[] bytes) {
    return io(() -> encoder.writeBytes(bytes));
  }

  RawAvro varint(long value) {
    return io(() -> encoder.writeLong(value));
  }

  RawAvro index(int value) {
    return io(() -> encoder.writeIndex(value));
  }

  RawAvro bytes(int... raw) {
    for (int b : raw) {
      out.write(b);
    }
    return this;
  }

  byte[] done() {
    return out.toByteArray();
  }

  private RawAvro io(IoAction action) {
    try {
      action.run();
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return this;
  }

  private interface IoAction {
    void run() throws IOException;
  }
}
