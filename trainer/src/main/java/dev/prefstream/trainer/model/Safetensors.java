package dev.prefstream.trainer.model;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON
 * header mapping each tensor name to its dtype, shape and byte range, then the raw little-endian
 * data. Reads F32, F16 and BF16 into float32 (converted in Java: DJL 0.36 aborts on bf16 arrays);
 * writes F32 deterministically (sorted names, fixed metadata {"format":"pt"}).
 */
public final class Safetensors {

  /** One tensor's header entry; {@code begin}/{@code end} are offsets into the data section. */
  public record Entry(String name, String dtype, long[] shape, long begin, long end) {
    public long elements() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  /** A float32 tensor to write. */
  public record Tensor(long[] shape, float[] data) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final List<String> READABLE = List.of("F32", "F16", "BF16");

  private final String source;
  private final Map<String, Entry> entries;
  private final Map<String, String> metadata = new TreeMap<>();
  private final long dataStart;
  private final Reader reader;

  private interface Reader {
    ByteBuffer read(long offset, int length) throws IOException;
  }

  private Safetensors(String source, Reader reader) throws IOException {
    this.source = source;
    this.reader = reader;
    long headerLength = reader.read(0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    if (headerLength <= 0 || headerLength > 100_000_000) {
      throw new IOException(
          source + ": not a safetensors file (header length " + headerLength + ")");
    }
    ByteBuffer header = reader.read(8, (int) headerLength);
    byte[] bytes = new byte[header.remaining()];
    header.get(bytes);
    Map<String, Object> raw =
        JSON.readValue(bytes, new TypeReference<LinkedHashMap<String, Object>>() {});
    this.entries = new TreeMap<>();
    for (Map.Entry<String, Object> e : raw.entrySet()) {
      if (e.getKey().equals("__metadata__")) {
        if (e.getValue() instanceof Map<?, ?> meta) {
          meta.forEach((k, v) -> metadata.put(String.valueOf(k), String.valueOf(v)));
        }
        continue;
      }
      @SuppressWarnings("unchecked")
      Map<String, Object> info = (Map<String, Object>) e.getValue();
      List<?> shape = (List<?>) info.get("shape");
      List<?> offsets = (List<?>) info.get("data_offsets");
      long[] dims = shape.stream().mapToLong(x -> ((Number) x).longValue()).toArray();
      entries.put(
          e.getKey(),
          new Entry(
              e.getKey(),
              (String) info.get("dtype"),
              dims,
              ((Number) offsets.get(0)).longValue(),
              ((Number) offsets.get(1)).longValue()));
    }
    this.dataStart = 8 + headerLength;
  }

  public static Safetensors open(Path file) throws IOException {
    return new Safetensors(
        file.toString(),
        (offset, length) -> {
          try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate(length);
            while (buf.hasRemaining()) {
              if (ch.read(buf, offset + buf.position()) < 0) {
                throw new IOException(file + ": truncated at byte " + (offset + buf.position()));
              }
            }
            return buf.flip();
          }
        });
  }

  public static Safetensors of(byte[] bytes, String source) throws IOException {
    return new Safetensors(
        source,
        (offset, length) -> {
          if (offset + length > bytes.length) {
            throw new IOException(source + ": truncated, needs byte " + (offset + length));
          }
          return ByteBuffer.wrap(bytes, (int) offset, length).slice();
        });
  }

  public String source() {
    return source;
  }

  /** The header's __metadata__ (string to string). */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** Entries by name, sorted. */
  public Map<String, Entry> entries() {
    return entries;
  }

  /** The tensor {@code name} as float32, checking that its shape is {@code expected}. */
  public float[] floats(String name, long... expected) throws IOException {
    Entry e = entries.get(name);
    if (e == null) {
      throw new IOException(source + ": missing tensor " + name);
    }
    if (expected.length > 0 && !Arrays.equals(e.shape(), expected)) {
      throw new IOException(
          source
              + ": tensor "
              + name
              + " has shape "
              + Arrays.toString(e.shape())
              + ", expected "
              + Arrays.toString(expected));
    }
    if (!READABLE.contains(e.dtype())) {
      throw new IOException(
          source + ": tensor " + name + " has dtype " + e.dtype() + "; readable: " + READABLE);
    }
    int n = Math.toIntExact(e.elements());
    int width = e.dtype().equals("F32") ? 4 : 2;
    if (e.end() - e.begin() != (long) n * width) {
      throw new IOException(
          source + ": tensor " + name + " byte range does not match shape and dtype " + e.dtype());
    }
    ByteBuffer b =
        reader
            .read(dataStart + e.begin(), Math.toIntExact(e.end() - e.begin()))
            .order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[n];
    switch (e.dtype()) {
      case "F32" -> b.asFloatBuffer().get(out);
      case "BF16" -> {
        for (int i = 0; i < n; i++) {
          out[i] = Float.intBitsToFloat((b.getShort() & 0xffff) << 16);
        }
      }
      default -> {
        for (int i = 0; i < n; i++) {
          out[i] = halfToFloat(b.getShort());
        }
      }
    }
    return out;
  }

  /** IEEE 754 binary16 to binary32 (subnormals, infinities and NaN included). */
  static float halfToFloat(short h) {
    int bits = h & 0xffff;
    int sign = (bits & 0x8000) << 16;
    int exp = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exp == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
    }
    if (exp == 0) {
      float value = mantissa * 0x1p-24f;
      return sign == 0 ? value : -value;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mantissa << 13));
  }

  /**
   * Serializes F32 tensors: names sorted, metadata {"format":"pt"}, header padded with spaces to a
   * multiple of 8 bytes. Equal tensors give equal bytes.
   */
  public static byte[] write(SortedMap<String, Tensor> tensors) {
    return write(tensors, new TreeMap<>());
  }

  /** As {@link #write(SortedMap)}, with extra string metadata (sorted, beside "format"). */
  public static byte[] write(
      SortedMap<String, Tensor> tensors, SortedMap<String, String> metadata) {
    SortedMap<String, long[]> shapes = new TreeMap<>();
    long bytes = 0;
    for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
      Tensor t = e.getValue();
      long n = elements(t.shape());
      if (n != t.data().length) {
        throw new IllegalArgumentException(
            "tensor "
                + e.getKey()
                + " shape "
                + Arrays.toString(t.shape())
                + " has "
                + n
                + " elements but "
                + t.data().length
                + " values");
      }
      shapes.put(e.getKey(), t.shape());
      bytes += 4L * n;
    }
    byte[] head = header(shapes, metadata);
    ByteArrayOutputStream out = new ByteArrayOutputStream(Math.toIntExact(head.length + bytes));
    out.writeBytes(head);
    for (Tensor t : tensors.values()) {
      ByteBuffer data = ByteBuffer.allocate(4 * t.data().length).order(ByteOrder.LITTLE_ENDIAN);
      data.asFloatBuffer().put(t.data());
      out.writeBytes(data.array());
    }
    return out.toByteArray();
  }

  /**
   * Everything before the data of F32 tensors with these shapes: the 8-byte header length and the
   * JSON header (names sorted, data in name order, metadata {"format":"pt"} plus {@code metadata}),
   * padded with spaces to a multiple of 8 bytes. With it a writer can stream the data of files
   * larger than a Java array (2^31 bytes): tensor {@code name} starts {@link #dataOffsets} bytes
   * after it.
   */
  static byte[] header(SortedMap<String, long[]> shapes, SortedMap<String, String> metadata) {
    Map<String, Object> header = new LinkedHashMap<>();
    SortedMap<String, String> meta = new TreeMap<>(metadata);
    meta.put("format", "pt");
    header.put("__metadata__", meta);
    Map<String, Long> offsets = dataOffsets(shapes);
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      long offset = offsets.get(e.getKey());
      Map<String, Object> info = new LinkedHashMap<>();
      info.put("dtype", "F32");
      info.put("shape", e.getValue());
      info.put("data_offsets", new long[] {offset, offset + 4L * elements(e.getValue())});
      header.put(e.getKey(), info);
    }
    byte[] json;
    try {
      json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(padded);
    out.put(json);
    while (out.hasRemaining()) {
      out.put((byte) ' ');
    }
    return out.array();
  }

  /** Where each tensor's F32 data starts after the header: tensors laid out in name order. */
  static Map<String, Long> dataOffsets(SortedMap<String, long[]> shapes) {
    Map<String, Long> offsets = new LinkedHashMap<>();
    long offset = 0;
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      offsets.put(e.getKey(), offset);
      offset += 4L * elements(e.getValue());
    }
    return offsets;
  }

  private static long elements(long[] shape) {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }
}
