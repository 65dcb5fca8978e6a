package dev.prefstream.schemas.serde;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericEnumSymbol;
import org.apache.avro.generic.IndexedRecord;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.util.Utf8;

/**
 * Avro binary encoding of one record schema, compiled once into a tree of writers, one per field,
 * array, union and so on. Avro's {@code GenericDatumWriter} walks the schema for every value
 * instead: it dispatches on the type, resolves each union branch by name and looks up logical-type
 * conversions per field, which made encoding pairs 11% of ingest's stream threads in a JFR profile
 * (README, Performance). The bytes are the same, byte for byte (Avro specification, "Binary
 * Encoding"; {@code CompiledWriterTest} compares the two on every prefstream schema).
 *
 * <p>It knows the types prefstream's schemas use: null, boolean, int, long (plain or {@code
 * timestamp-millis} as {@link Instant}), float, double, bytes, string, enum, array, map, union and
 * record. For any other (fixed, decimal, uuid, ...) {@link #compile} returns empty and the caller
 * keeps Avro's writer. Values are read the way specific and generic records expose them: {@link
 * IndexedRecord#get}, strings as any {@link CharSequence}, bytes as {@link ByteBuffer}, enums as
 * Java enums or {@link GenericEnumSymbol}. Holds no state between writes: one serves every thread.
 */
final class CompiledWriter {
  private final Node root;

  private CompiledWriter(Node root) {
    this.root = root;
  }

  /** The writer for {@code schema}, or empty when it uses a type this class does not know. */
  static Optional<CompiledWriter> compile(Schema schema) {
    try {
      return Optional.of(new CompiledWriter(new Compiler().node(schema)));
    } catch (Unsupported e) {
      return Optional.empty();
    }
  }

  /** Appends the Avro binary encoding of {@code datum} to {@code out}. */
  void write(Object datum, Output out) {
    root.write(datum, out);
  }

  /** A growable byte array: what the encoding is appended to. */
  static final class Output {
    private byte[] bytes;
    private int size;

    Output(int capacity) {
      bytes = new byte[Math.max(16, capacity)];
    }

    int size() {
      return size;
    }

    byte[] toByteArray() {
      return Arrays.copyOf(bytes, size);
    }

    void writeByte(int b) {
      ensure(1);
      bytes[size++] = (byte) b;
    }

    void writeBytes(byte[] b, int offset, int length) {
      ensure(length);
      System.arraycopy(b, offset, bytes, size, length);
      size += length;
    }

    /** What remains in {@code b}, copied at once; its position stays where it was. */
    void writeBytes(ByteBuffer b) {
      int length = b.remaining();
      ensure(length);
      b.duplicate().get(bytes, size, length);
      size += length;
    }

    /** Big-endian, as Confluent's header frames the schema id. */
    void writeIntBigEndian(int v) {
      ensure(4);
      bytes[size++] = (byte) (v >>> 24);
      bytes[size++] = (byte) (v >>> 16);
      bytes[size++] = (byte) (v >>> 8);
      bytes[size++] = (byte) v;
    }

    /** Avro int and long: zig-zag, then a little-endian base-128 varint. */
    void writeLong(long v) {
      ensure(10);
      long n = (v << 1) ^ (v >> 63);
      while ((n & ~0x7FL) != 0) {
        bytes[size++] = (byte) ((n & 0x7F) | 0x80);
        n >>>= 7;
      }
      bytes[size++] = (byte) n;
    }

    /** Avro float and double: IEEE 754 bits, little-endian. */
    void writeFixedLittleEndian(long bits, int length) {
      ensure(length);
      for (int i = 0; i < length; i++) {
        bytes[size++] = (byte) (bits >>> (8 * i));
      }
    }

    private void ensure(int more) {
      if (bytes.length - size < more) {
        bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + more));
      }
    }
  }

  private interface Node {
    void write(Object value, Output out);
  }

  /** A type or logical type this writer does not encode: the caller falls back to Avro's. */
  private static final class Unsupported extends Exception {
    Unsupported(Schema schema) {
      super(schema.toString(), null, false, false);
    }
  }

  /** Builds the nodes; a named record is compiled once, so recursive schemas terminate. */
  private static final class Compiler {
    private final Map<String, Node> records = new HashMap<>();

    Node node(Schema schema) throws Unsupported {
      LogicalType logical = schema.getLogicalType();
      if (logical != null && !(logical instanceof LogicalTypes.TimestampMillis)) {
        throw new Unsupported(schema);
      }
      return switch (schema.getType()) {
        case NULL -> (value, out) -> requireNull(value, schema);
        case BOOLEAN -> (value, out) -> out.writeByte(((Boolean) present(value, schema)) ? 1 : 0);
        case INT -> (value, out) -> out.writeLong((Integer) present(value, schema));
        case LONG -> logical == null ? CompiledWriter::writeLong : CompiledWriter::writeTimestamp;
        case FLOAT ->
            (value, out) ->
                out.writeFixedLittleEndian(
                    Float.floatToRawIntBits((Float) present(value, schema)) & 0xFFFFFFFFL, 4);
        case DOUBLE ->
            (value, out) ->
                out.writeFixedLittleEndian(
                    Double.doubleToRawLongBits((Double) present(value, schema)), 8);
        case BYTES -> (value, out) -> writeBytes((ByteBuffer) present(value, schema), out);
        case STRING -> CompiledWriter::writeString;
        case ENUM -> enumNode(schema);
        case ARRAY -> arrayNode(node(schema.getElementType()));
        case MAP -> mapNode(node(schema.getValueType()));
        case UNION -> unionNode(schema);
        case RECORD -> recordNode(schema);
        default -> throw new Unsupported(schema);
      };
    }

    private Node recordNode(Schema schema) throws Unsupported {
      Node known = records.get(schema.getFullName());
      if (known != null) {
        return known;
      }
      Node[] fields = new Node[schema.getFields().size()];
      String[] names = new String[fields.length];
      // registered before its fields compile: a field of its own type finds it
      Node self =
          (value, out) -> {
            IndexedRecord record = (IndexedRecord) present(value, schema);
            for (int i = 0; i < fields.length; i++) {
              Object field = record.get(i);
              try {
                fields[i].write(field, out);
              } catch (RuntimeException e) { // a null, a wrong class, no union branch
                throw new AvroRuntimeException(
                    "cannot write field " + names[i] + " of " + schema.getFullName() + ": " + e, e);
              }
            }
          };
      records.put(schema.getFullName(), self);
      for (int i = 0; i < fields.length; i++) {
        fields[i] = node(schema.getFields().get(i).schema());
        names[i] = schema.getFields().get(i).name();
      }
      return self;
    }

    private static Node enumNode(Schema schema) {
      return (value, out) -> {
        String symbol = value instanceof Enum<?> e ? e.name() : present(value, schema).toString();
        out.writeLong(schema.getEnumOrdinal(symbol));
      };
    }

    private static Node arrayNode(Node items) {
      return (value, out) -> {
        Collection<?> array = (Collection<?>) value;
        if (!array.isEmpty()) {
          out.writeLong(array.size());
          for (Object item : array) {
            items.write(item, out);
          }
        }
        out.writeLong(0); // end of blocks
      };
    }

    private static Node mapNode(Node values) {
      return (value, out) -> {
        Map<?, ?> map = (Map<?, ?>) value;
        if (!map.isEmpty()) {
          out.writeLong(map.size());
          for (Map.Entry<?, ?> entry : map.entrySet()) {
            writeString(entry.getKey(), out);
            values.write(entry.getValue(), out);
          }
        }
        out.writeLong(0);
      };
    }

    /**
     * A union's branch is the first whose type the value's class stands for (null, Boolean,
     * Integer, Long or Instant, ..., a record or enum by full name), as Avro resolves it.
     */
    private Node unionNode(Schema union) throws Unsupported {
      List<Schema> branches = union.getTypes();
      Node[] nodes = new Node[branches.size()];
      List<Predicate<Object>> holds = new ArrayList<>();
      for (int i = 0; i < nodes.length; i++) {
        nodes[i] = node(branches.get(i));
        holds.add(holds(branches.get(i)));
      }
      return (value, out) -> {
        for (int i = 0; i < nodes.length; i++) {
          if (holds.get(i).test(value)) {
            out.writeLong(i);
            nodes[i].write(value, out);
            return;
          }
        }
        throw new AvroRuntimeException(
            "no branch of " + union + " holds a " + (value == null ? "null" : value.getClass()));
      };
    }
  }

  /** Which values a union branch holds, decided once per branch when the union compiles. */
  private static Predicate<Object> holds(Schema branch) {
    String name = branch.getFullName();
    return switch (branch.getType()) {
      case NULL -> value -> value == null;
      case BOOLEAN -> value -> value instanceof Boolean;
      case INT -> value -> value instanceof Integer;
      // a Long is written as a plain long even to a timestamp-millis branch, as Avro resolves it
      case LONG ->
          branch.getLogicalType() == null
              ? value -> value instanceof Long
              : value -> value instanceof Long || value instanceof Instant;
      case FLOAT -> value -> value instanceof Float;
      case DOUBLE -> value -> value instanceof Double;
      case BYTES -> value -> value instanceof ByteBuffer;
      case STRING -> value -> value instanceof CharSequence;
      case ARRAY -> value -> value instanceof Collection<?>;
      case MAP -> value -> value instanceof Map<?, ?>;
      case ENUM ->
          value ->
              (value instanceof Enum<?> || value instanceof GenericEnumSymbol<?>)
                  && enumName(value).equals(name);
      case RECORD ->
          value -> value instanceof IndexedRecord r && r.getSchema().getFullName().equals(name);
      default -> value -> false;
    };
  }

  private static String enumName(Object value) {
    if (value instanceof GenericEnumSymbol<?> symbol) {
      return symbol.getSchema().getFullName();
    }
    return SpecificData.get().getSchema(((Enum<?>) value).getDeclaringClass()).getFullName();
  }

  private static Object present(Object value, Schema schema) {
    if (value == null) {
      throw new NullPointerException("null for a non-null " + schema.getType());
    }
    return value;
  }

  private static void requireNull(Object value, Schema schema) {
    if (value != null) {
      throw new AvroRuntimeException("not null for " + schema + ": " + value);
    }
  }

  private static void writeLong(Object value, Output out) {
    out.writeLong((Long) value);
  }

  private static void writeTimestamp(Object value, Output out) {
    out.writeLong(value instanceof Instant i ? i.toEpochMilli() : (Long) value);
  }

  private static void writeBytes(ByteBuffer bytes, Output out) {
    out.writeLong(bytes.remaining());
    out.writeBytes(bytes);
  }

  private static void writeString(Object value, Output out) {
    if (value instanceof Utf8 utf8) {
      out.writeLong(utf8.getByteLength());
      out.writeBytes(utf8.getBytes(), 0, utf8.getByteLength());
      return;
    }
    byte[] bytes = value.toString().getBytes(StandardCharsets.UTF_8);
    out.writeLong(bytes.length);
    out.writeBytes(bytes, 0, bytes.length);
  }
}
