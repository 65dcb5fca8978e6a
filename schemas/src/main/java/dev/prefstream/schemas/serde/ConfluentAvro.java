package dev.prefstream.schemas.serde;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.registry.SchemaRegistryException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;

/**
 * Confluent's wire format for one Avro record type: magic byte 0, the 4-byte big-endian schema id,
 * then the Avro binary body (not Avro's single-object encoding). Readers resolve the writer's
 * schema (fetched by id, cached) against the expected type's schema, so older and newer compatible
 * writers are read alike.
 */
public final class ConfluentAvro<T extends SpecificRecord> {
  /** The first byte of every framed value. */
  public static final byte MAGIC_BYTE = 0;

  /** Magic byte + schema id. */
  public static final int HEADER_BYTES = 5;

  static {
    // Corrupt lengths must fail as data errors, not as multi-gigabyte allocations. decode() checks
    // every length against the bytes left (BoundedDecoder); these limits guard Avro's other paths,
    // but only if no Avro class read them first (once per JVM). A user's own -D settings win.
    setIfAbsent("org.apache.avro.limits.collectionItems.maxLength", "1000000");
    setIfAbsent("org.apache.avro.limits.string.maxLength", Integer.toString(64 << 20));
    setIfAbsent("org.apache.avro.limits.bytes.maxLength", Integer.toString(64 << 20));
  }

  private final Class<T> type;
  private final Schema schema;
  private final SchemaRegistry registry;
  private final boolean autoRegister;
  private final Map<String, Integer> idBySubject = new ConcurrentHashMap<>();
  private final Map<Integer, DatumReader<T>> readerByWriterId = new ConcurrentHashMap<>();

  /**
   * The type's schema compiled ({@link CompiledWriter}), or Avro's writer for a schema it does not
   * know. Neither holds state between writes: one serves every thread.
   */
  private final CompiledWriter compiled;

  private final SpecificDatumWriter<T> writer;

  /** The size of the last value written: where the next one's buffer starts (races are benign). */
  private int lastSize = 256;

  /**
   * @param autoRegister register the type's schema on first write; when false, the schema must
   *     already be registered under the subject (the production setting for products)
   */
  public ConfluentAvro(Class<T> type, SchemaRegistry registry, boolean autoRegister) {
    this.type = type;
    this.schema = SpecificData.get().getSchema(type);
    this.compiled = CompiledWriter.compile(schema).orElse(null);
    this.writer = new SpecificDatumWriter<>(schema);
    this.registry = registry;
    this.autoRegister = autoRegister;
  }

  public Schema schema() {
    return schema;
  }

  /** Confluent's TopicNameStrategy: {@code <topic>-value} or {@code <topic>-key}. */
  public static String subject(String topic, boolean isKey) {
    return topic + (isKey ? "-key" : "-value");
  }

  /** Frames {@code record} for {@code subject}, registering the schema on first use if allowed. */
  public byte[] encode(String subject, T record) {
    int id =
        idBySubject.computeIfAbsent(
            subject, s -> autoRegister ? registry.register(s, schema) : registry.idOf(s, schema));
    if (compiled == null) {
      return encodeWithAvro(id, record);
    }
    CompiledWriter.Output out = new CompiledWriter.Output(lastSize + 64);
    out.writeByte(MAGIC_BYTE);
    out.writeIntBigEndian(id);
    compiled.write(record, out);
    lastSize = out.size();
    return out.toByteArray();
  }

  private byte[] encodeWithAvro(int id, T record) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(256);
    out.write(MAGIC_BYTE);
    out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    try {
      writer.write(record, encoder);
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode " + type.getSimpleName(), e);
    }
    return out.toByteArray();
  }

  /**
   * Reads a framed value.
   *
   * @throws WireFormatException for bytes that will never decode (dead-letter them)
   * @throws SchemaRegistryException when the registry cannot be reached (retry later)
   */
  public T decode(byte[] bytes) {
    if (bytes == null || bytes.length == 0) {
      throw new WireFormatException(
          DeadLetterReason.EMPTY_VALUE, -1, "empty value: expected a framed Avro record", null);
    }
    if (bytes.length < HEADER_BYTES) {
      throw new WireFormatException(
          DeadLetterReason.TRUNCATED_HEADER,
          -1,
          bytes.length + " bytes: the Confluent header alone takes " + HEADER_BYTES,
          null);
    }
    if (bytes[0] != MAGIC_BYTE) {
      throw new WireFormatException(
          DeadLetterReason.BAD_MAGIC_BYTE,
          -1,
          String.format("first byte is 0x%02x, Confluent wire format starts with 0x00", bytes[0]),
          null);
    }
    int id = ByteBuffer.wrap(bytes, 1, 4).getInt();
    DatumReader<T> reader = readerFor(id);
    BoundedDecoder decoder = new BoundedDecoder(bytes, HEADER_BYTES, bytes.length - HEADER_BYTES);
    T record;
    try {
      record = reader.read(null, decoder);
    } catch (IOException
        | AvroRuntimeException
        | IndexOutOfBoundsException
        | NegativeArraySizeException
        | ClassCastException
        | UnsupportedOperationException e) {
      throw new WireFormatException(
          DeadLetterReason.CORRUPT_AVRO,
          id,
          "cannot decode " + type.getSimpleName() + " written with schema id " + id + ": " + e,
          e);
    }
    try {
      if (!decoder.isEnd()) {
        throw new WireFormatException(
            DeadLetterReason.TRAILING_BYTES,
            id,
            "bytes left after a complete " + type.getSimpleName() + " (schema id " + id + ")",
            null);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return record;
  }

  private DatumReader<T> readerFor(int id) {
    DatumReader<T> cached = readerByWriterId.get(id);
    if (cached != null) {
      return cached;
    }
    Schema writer;
    try {
      writer = registry.schemaById(id);
    } catch (SchemaRegistryException e) {
      if (e.isNotFound()) {
        throw new WireFormatException(
            DeadLetterReason.UNKNOWN_SCHEMA_ID,
            id,
            "schema id " + id + " is not in the registry",
            e);
      }
      throw e;
    }
    SchemaCompatibility.SchemaPairCompatibility compatibility =
        SchemaCompatibility.checkReaderWriterCompatibility(schema, writer);
    if (compatibility.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
      throw new WireFormatException(
          DeadLetterReason.SCHEMA_MISMATCH,
          id,
          "schema id "
              + id
              + " ("
              + writer.getFullName()
              + ") cannot be read as "
              + schema.getFullName()
              + ": "
              + compatibility.getDescription(),
          null);
    }
    DatumReader<T> reader = new SpecificDatumReader<>(writer, schema);
    readerByWriterId.put(id, reader);
    return reader;
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}
