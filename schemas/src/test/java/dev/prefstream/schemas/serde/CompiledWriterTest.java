package dev.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.ServedResponses;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.TrainerStateRecord;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.avro.VersionRefusal;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Random;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DatumWriter;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.avro.util.RandomData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The compiled writer against Avro's own writers, which are the reference: random values of every
 * prefstream record type must encode to the very same bytes.
 */
class CompiledWriterTest {
  private static final List<Class<? extends SpecificRecord>> TYPES =
      List.of(
          AdapterChunk.class,
          AdapterManifest.class,
          AdapterRecord.class,
          ChatMessage.class,
          FeedbackEvent.class,
          PreferencePair.class,
          Rejection.class,
          ServedResponses.class,
          TrainerState.class,
          TrainerStateRecord.class,
          UnpairedFeedback.class,
          VersionRefusal.class);

  /**
   * Random generic values (Avro's RandomData: every union branch, empty and long arrays and maps),
   * and the same read back as specific records (Instant timestamps, Java enums, String): for each,
   * the compiled writer must write exactly the bytes Avro's writer writes for that object (a map's
   * entries in its own iteration order, which differs between the two forms).
   */
  @ParameterizedTest
  @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
  void writesWhatAvroWritesForEveryPrefstreamType(int index) {
    Class<? extends SpecificRecord> type = TYPES.get(index);
    Schema schema = SpecificData.get().getSchema(type);
    CompiledWriter compiled = CompiledWriter.compile(schema).orElseThrow();
    SpecificDatumReader<Object> reader = new SpecificDatumReader<>(schema);
    int checked = 0;
    for (Object generic : new RandomData(GenericData.get(), schema, 200, 42L + index)) {
      byte[] avro = avro(new GenericDatumWriter<>(schema), generic);
      assertThat(compiled(compiled, generic)).as("generic %s", generic).isEqualTo(avro);
      Object specific = read(reader, avro);
      assertThat(specific).isInstanceOf(type);
      byte[] fromSpecific = compiled(compiled, specific);
      assertThat(fromSpecific)
          .as("specific %s", specific)
          .isEqualTo(avro(new SpecificDatumWriter<>(schema), specific));
      assertThat(read(reader, fromSpecific)).isEqualTo(specific);
      checked++;
    }
    assertThat(checked).isEqualTo(200);
  }

  @Test
  void multiByteTextChatPromptsAndEmptyArrays() {
    PreferencePair pair =
        new PreferencePair(
            "ü-pair \uD83D\uDE00",
            "model",
            List.of(new ChatMessage("system", "Sei gründlich."), new ChatMessage("user", "日本語")),
            "",
            "x".repeat(300),
            FeedbackKind.RANKED,
            List.of("e1", "e2"),
            "app",
            Instant.ofEpochMilli(-1),
            List.of());
    Schema schema = pair.getSchema();
    assertThat(compiled(CompiledWriter.compile(schema).orElseThrow(), pair))
        .isEqualTo(avro(new SpecificDatumWriter<>(schema), pair));
  }

  @Test
  void bytesAreWhatRemainsInTheBufferWhichKeepsItsPosition() {
    byte[] data = new byte[100_000];
    new Random(7).nextBytes(data);
    ByteBuffer buffer = ByteBuffer.wrap(data);
    buffer.position(3);
    AdapterChunk chunk = new AdapterChunk("m", 4L, "adapter_model.safetensors", 0, 1, buffer);
    Schema schema = chunk.getSchema();
    byte[] avro = avro(new SpecificDatumWriter<>(schema), chunk);
    assertThat(buffer.position()).isEqualTo(3);
    assertThat(compiled(CompiledWriter.compile(schema).orElseThrow(), chunk)).isEqualTo(avro);
    assertThat(buffer.position()).isEqualTo(3);
  }

  @Test
  void aMissingRequiredFieldNamesTheField() {
    PreferencePair pair = new PreferencePair();
    pair.setPairId("p");
    pair.setModelId("m");
    pair.setPrompt("hello");
    CompiledWriter compiled = CompiledWriter.compile(pair.getSchema()).orElseThrow();
    assertThatThrownBy(() -> compiled(compiled, pair))
        .isInstanceOf(AvroRuntimeException.class)
        .hasMessageContaining("field chosen of dev.prefstream.schemas.avro.PreferencePair");
  }

  @Test
  void aValueNoUnionBranchHoldsIsRefused() {
    PreferencePair pair = new PreferencePair();
    pair.setPairId("p");
    pair.setModelId("m");
    pair.setPrompt(42L); // a string or a list of chat messages
    CompiledWriter compiled = CompiledWriter.compile(pair.getSchema()).orElseThrow();
    assertThatThrownBy(() -> compiled(compiled, pair))
        .isInstanceOf(AvroRuntimeException.class)
        .hasMessageContaining("field prompt")
        .hasMessageContaining("java.lang.Long");
  }

  @Test
  void typesItDoesNotKnowAreLeftToAvro() {
    Schema fixed =
        SchemaBuilder.record("r")
            .fields()
            .name("f")
            .type()
            .fixed("f16")
            .size(16)
            .noDefault()
            .endRecord();
    Schema decimal =
        SchemaBuilder.record("d")
            .fields()
            .name("amount")
            .type(
                org.apache.avro.LogicalTypes.decimal(9, 2)
                    .addToSchema(Schema.create(Schema.Type.BYTES)))
            .noDefault()
            .endRecord();
    assertThat(CompiledWriter.compile(fixed)).isEmpty();
    assertThat(CompiledWriter.compile(decimal)).isEmpty();
  }

  private static byte[] compiled(CompiledWriter writer, Object datum) {
    CompiledWriter.Output out = new CompiledWriter.Output(1);
    writer.write(datum, out);
    return out.toByteArray();
  }

  private static byte[] avro(DatumWriter<Object> writer, Object datum) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(bytes, null);
    try {
      writer.write(datum, encoder);
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  private static Object read(SpecificDatumReader<Object> reader, byte[] bytes) {
    try {
      return reader.read(null, DecoderFactory.get().binaryDecoder(bytes, null));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
