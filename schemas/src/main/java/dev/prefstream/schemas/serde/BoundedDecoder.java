package dev.prefstream.schemas.serde;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.Decoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.util.Utf8;

/**
 * Avro binary decoding of one byte array that refuses any length or item count the remaining bytes
 * cannot hold, before anything is allocated. Avro's own reader allocates what a length prefix
 * claims (up to its system limits, which are read once per JVM and so depend on class-loading
 * order): a 30-byte record claiming a billion array items would exhaust the heap. Here a record of
 * n bytes never makes the reader allocate much more than n.
 *
 * <p>Counts are checked on the assumption that every array item and map entry takes at least one
 * byte, which holds for every schema in prefstream's contract (no arrays of null or of empty
 * records).
 */
public final class BoundedDecoder extends Decoder {
  private final BinaryDecoder binary;

  /** The decoder's own view of its buffer: available() is exactly the bytes not yet read. */
  private final InputStream remaining;

  public BoundedDecoder(byte[] bytes, int offset, int length) {
    this.binary = DecoderFactory.get().binaryDecoder(bytes, offset, length, null);
    this.remaining = binary.inputStream();
  }

  /** True when every byte has been read. */
  public boolean isEnd() throws IOException {
    return binary.isEnd();
  }

  @Override
  public void readNull() throws IOException {
    binary.readNull();
  }

  @Override
  public boolean readBoolean() throws IOException {
    return binary.readBoolean();
  }

  @Override
  public int readInt() throws IOException {
    return binary.readInt();
  }

  @Override
  public long readLong() throws IOException {
    return binary.readLong();
  }

  @Override
  public float readFloat() throws IOException {
    return binary.readFloat();
  }

  @Override
  public double readDouble() throws IOException {
    return binary.readDouble();
  }

  @Override
  public Utf8 readString(Utf8 old) throws IOException {
    int length = length("string");
    Utf8 result = old == null ? new Utf8() : old;
    result.setByteLength(length);
    binary.readFixed(result.getBytes(), 0, length);
    return result;
  }

  @Override
  public String readString() throws IOException {
    int length = length("string");
    byte[] bytes = new byte[length];
    binary.readFixed(bytes, 0, length);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  @Override
  public void skipString() throws IOException {
    binary.skipFixed(length("string"));
  }

  @Override
  public ByteBuffer readBytes(ByteBuffer old) throws IOException {
    int length = length("bytes");
    byte[] bytes = new byte[length];
    binary.readFixed(bytes, 0, length);
    return ByteBuffer.wrap(bytes);
  }

  @Override
  public void skipBytes() throws IOException {
    binary.skipFixed(length("bytes"));
  }

  @Override
  public void readFixed(byte[] bytes, int start, int length) throws IOException {
    fits(length, "fixed");
    binary.readFixed(bytes, start, length);
  }

  @Override
  public void skipFixed(int length) throws IOException {
    fits(length, "fixed");
    binary.skipFixed(length);
  }

  @Override
  public int readEnum() throws IOException {
    return binary.readEnum();
  }

  @Override
  public long readArrayStart() throws IOException {
    return items(binary.readArrayStart(), "array");
  }

  @Override
  public long arrayNext() throws IOException {
    return items(binary.arrayNext(), "array");
  }

  @Override
  public long skipArray() throws IOException {
    return items(binary.skipArray(), "array");
  }

  @Override
  public long readMapStart() throws IOException {
    return items(binary.readMapStart(), "map");
  }

  @Override
  public long mapNext() throws IOException {
    return items(binary.mapNext(), "map");
  }

  @Override
  public long skipMap() throws IOException {
    return items(binary.skipMap(), "map");
  }

  @Override
  public int readIndex() throws IOException {
    return binary.readIndex();
  }

  /** Reads a length prefix and checks that the bytes it claims are there. */
  private int length(String what) throws IOException {
    long length = binary.readLong();
    fits(length, what);
    return (int) length;
  }

  private void fits(long length, String what) throws IOException {
    int left = remaining.available();
    if (length < 0 || length > left) {
      throw new AvroRuntimeException(
          what + " of " + length + " bytes claimed with " + left + " bytes left");
    }
  }

  private long items(long count, String what) throws IOException {
    int left = remaining.available();
    if (count < 0 || count > left) {
      throw new AvroRuntimeException(
          what + " of " + count + " items claimed with " + left + " bytes left");
    }
    return count;
  }
}
