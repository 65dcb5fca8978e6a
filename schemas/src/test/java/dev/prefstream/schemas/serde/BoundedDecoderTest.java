package dev.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.junit.jupiter.api.Test;

class BoundedDecoderTest {
  private static final Schema SCHEMA =
      new Schema.Parser()
          .parse(
              "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                  + "{\"name\":\"s\",\"type\":\"string\"},"
                  + "{\"name\":\"b\",\"type\":\"bytes\"},"
                  + "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
                  + "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}}]}");

  @Test
  void readsWhatAvroWrites() throws IOException {
    GenericRecord record = new GenericData.Record(SCHEMA);
    record.put("s", "h\u00e9llo");
    record.put("b", java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}));
    record.put("a", List.of("x", "yz"));
    record.put("m", java.util.Map.of("k", 7L));
    byte[] bytes = write(record);
    BoundedDecoder decoder = new BoundedDecoder(bytes, 0, bytes.length);
    GenericRecord read = new GenericDatumReader<GenericRecord>(SCHEMA).read(null, decoder);
    assertThat(read.get("s").toString()).isEqualTo("h\u00e9llo");
    assertThat(read.get("a").toString()).isEqualTo("[x, yz]");
    assertThat(((java.nio.ByteBuffer) read.get("b")).remaining()).isEqualTo(3);
    assertThat(decoder.isEnd()).isTrue();
  }

  @Test
  void refusesLengthsAndCountsTheBytesCannotHold() {
    // string claiming a gigabyte
    assertRefused(varint(1L << 30), "string of 1073741824 bytes claimed with 0 bytes left");
    // empty string, empty bytes, then an array claiming a billion items
    byte[] billion = concat(varint(0), varint(0), varint(1_000_000_000L), new byte[] {2, 'x'});
    assertRefused(billion, "array of 1000000000 items claimed with 2 bytes left");
    // a negative length
    assertRefused(varint(-4), "string of -4 bytes claimed");
  }

  private static void assertRefused(byte[] bytes, String message) {
    BoundedDecoder decoder = new BoundedDecoder(bytes, 0, bytes.length);
    assertThatThrownBy(() -> new GenericDatumReader<GenericRecord>(SCHEMA).read(null, decoder))
        .isInstanceOf(AvroRuntimeException.class)
        .hasMessageContaining(message);
  }

  private static byte[] write(GenericRecord record) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(SCHEMA).write(record, encoder);
    encoder.flush();
    return out.toByteArray();
  }

  private static byte[] varint(long value) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    try {
      encoder.writeLong(value);
      encoder.flush();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
