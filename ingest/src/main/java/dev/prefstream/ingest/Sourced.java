package dev.prefstream.ingest;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * An input record exactly as it arrived: which topic it came from, where, and its original key and
 * value bytes. Ingest carries records in this form through its repartition topic and its state
 * stores, so that a record rejected late (a duplicate, a choice whose impression never came) still
 * reaches the dead letters whole, with the offset it was read from.
 */
record Sourced(Origin origin, String topic, int partition, long offset, byte[] key, byte[] value) {

  /** Which input topic, and so which Avro type the value should hold. */
  enum Origin {
    /** {@code FeedbackEvent} from the feedback topic. */
    FEEDBACK,
    /** {@code ServedResponses} from the served topic. */
    SERVED
  }

  private static final byte FORMAT_VERSION = 1;

  /** The binary form used on the repartition topic and in state stores. */
  static Serde<Sourced> serde() {
    return Serdes.serdeFrom(serializer(), deserializer());
  }

  static Serializer<Sourced> serializer() {
    return (topic, sourced) -> sourced == null ? null : sourced.toBytes();
  }

  static Deserializer<Sourced> deserializer() {
    return (topic, bytes) -> bytes == null ? null : fromBytes(bytes);
  }

  byte[] toBytes() {
    ByteArrayOutputStream buffer =
        new ByteArrayOutputStream(
            32 + topic.length() + length(key) + Math.max(0, length(value)) + 8);
    try (DataOutputStream out = new DataOutputStream(buffer)) {
      write(out);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot happen: writing to memory", e);
    }
    return buffer.toByteArray();
  }

  void write(DataOutputStream out) throws IOException {
    out.writeByte(FORMAT_VERSION);
    out.writeByte(origin.ordinal());
    out.writeUTF(topic);
    out.writeInt(partition);
    out.writeLong(offset);
    writeBytes(out, key);
    writeBytes(out, value);
  }

  static Sourced fromBytes(byte[] bytes) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
      return read(in);
    } catch (IOException e) {
      throw new IllegalStateException(
          "ingest's internal record format is unreadable (" + bytes.length + " bytes): " + e, e);
    }
  }

  static Sourced read(DataInputStream in) throws IOException {
    byte version = in.readByte();
    if (version != FORMAT_VERSION) {
      throw new IOException("unknown internal format version " + version);
    }
    Origin origin = Origin.values()[in.readByte()];
    String topic = in.readUTF();
    int partition = in.readInt();
    long offset = in.readLong();
    byte[] key = readBytes(in);
    byte[] value = readBytes(in);
    return new Sourced(origin, topic, partition, offset, key, value);
  }

  /** Where the record was read from, for messages: {@code topic/partition@offset}. */
  String coordinates() {
    return topic + "/" + partition + "@" + offset;
  }

  private static int length(byte[] bytes) {
    return bytes == null ? 0 : bytes.length;
  }

  private static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
    if (bytes == null) {
      out.writeInt(-1);
    } else {
      out.writeInt(bytes.length);
      out.write(bytes);
    }
  }

  private static byte[] readBytes(DataInputStream in) throws IOException {
    int length = in.readInt();
    if (length < 0) {
      return null;
    }
    byte[] bytes = new byte[length];
    in.readFully(bytes);
    return bytes;
  }
}
