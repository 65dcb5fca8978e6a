package dev.prefstream.schemas.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.embedded.EmbeddedRegistry;
import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Our registry client and wire format against a real registry (Apicurio's Confluent API). */
class RestSchemaRegistryIT {
  @TempDir static Path dataDir;
  static EmbeddedRegistry server;
  static RestSchemaRegistry registry;

  @BeforeAll
  static void start() {
    server = EmbeddedRegistry.start(dataDir, 0 + freePort());
    registry = new RestSchemaRegistry(server.url());
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  @Test
  void registersIdempotentlyAndLooksUpByIdAndSubject() {
    Schema schema = FeedbackEvent.getClassSchema();
    int id = registry.register("t1-value", schema);
    assertThat(new RestSchemaRegistry(server.url()).register("t1-value", schema)).isEqualTo(id);
    assertThat(new RestSchemaRegistry(server.url()).schemaById(id)).isEqualTo(schema);
    assertThat(registry.idOf("t1-value", schema)).isEqualTo(id);
    assertThat(registry.versions("t1-value")).containsExactly(1);
    SchemaRegistry.SubjectVersion latest = registry.latest("t1-value");
    assertThat(latest.version()).isEqualTo(1);
    assertThat(latest.id()).isEqualTo(id);
    assertThat(latest.schema()).isEqualTo(schema);
  }

  /**
   * Clients registering one new subject at once (producers starting together): Apicurio answers a
   * create that lost the race with 409 "already exists"; every client still gets the one id.
   */
  @Test
  void concurrentRegistrationsOfANewSubjectAllGetItsId() throws Exception {
    Schema schema = FeedbackEvent.getClassSchema();
    for (int round = 0; round < 5; round++) {
      String subject = "race-" + round + "-value";
      int clients = 8;
      java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
      java.util.concurrent.ExecutorService pool =
          java.util.concurrent.Executors.newFixedThreadPool(clients);
      try {
        java.util.List<java.util.concurrent.Future<Integer>> ids = new java.util.ArrayList<>();
        for (int c = 0; c < clients; c++) {
          RestSchemaRegistry client = new RestSchemaRegistry(server.url());
          ids.add(
              pool.submit(
                  () -> {
                    go.await();
                    return client.register(subject, schema);
                  }));
        }
        go.countDown();
        java.util.Set<Integer> distinct = new java.util.HashSet<>();
        for (var id : ids) {
          distinct.add(id.get(1, java.util.concurrent.TimeUnit.MINUTES));
        }
        // one id for all (Apicurio may record the same schema as a second version of the subject
        // when two creates race: same content, same id, harmless to the wire format)
        assertThat(distinct).as(subject).hasSize(1);
        assertThat(registry.idOf(subject, schema))
            .as(subject)
            .isEqualTo(distinct.iterator().next());
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Test
  void unknownSubjectIsAPermanentNotFound() {
    assertThatThrownBy(() -> registry.versions("no-such-subject"))
        .isInstanceOfSatisfying(
            SchemaRegistryException.class,
            e -> {
              assertThat(e.isNotFound()).isTrue();
              assertThat(e.isRetriable()).isFalse();
              assertThat(e.getMessage()).contains("no-such-subject");
            });
  }

  @Test
  void aDeletedSubjectIsGoneForGoodAndCanBeRegisteredAfresh() {
    Schema schema = FeedbackEvent.getClassSchema();
    registry.register("gone-value", schema);
    registry.deleteSubject("gone-value");
    assertThatThrownBy(() -> registry.versions("gone-value"))
        .isInstanceOfSatisfying(
            SchemaRegistryException.class, e -> assertThat(e.isNotFound()).isTrue());
    registry.deleteSubject("gone-value"); // not there: no error
    registry.deleteSubject("never-there-value");
    // registering again is not answered from the client's cache: the subject exists again
    registry.register("gone-value", schema);
    assertThat(registry.versions("gone-value")).hasSize(1);
  }

  @Test
  void backwardCompatibleEvolutionIsAcceptedAndBreakingChangeRefused() {
    registry.register("t2-value", FeedbackEvent.getClassSchema());
    Schema v2 = withOptionalField(FeedbackEvent.getClassSchema(), "locale");
    assertThat(registry.testCompatibility("t2-value", v2).compatible()).isTrue();
    registry.register("t2-value", v2);
    assertThat(registry.versions("t2-value")).containsExactly(1, 2);

    Schema breaking = withRequiredField(v2, "tenant");
    assertThat(registry.testCompatibility("t2-value", breaking).compatible()).isFalse();
    assertThatThrownBy(() -> registry.register("t2-value", breaking))
        .isInstanceOfSatisfying(
            SchemaRegistryException.class,
            e -> {
              assertThat(e.httpStatus()).isEqualTo(409);
              assertThat(e.isRetriable()).isFalse();
            });
  }

  @Test
  void roundTripAndReadingANewerWriter() throws Exception {
    ConfluentAvro<FeedbackEvent> codec = new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    FeedbackEvent event = event("e-1");
    byte[] framed = codec.encode("t3-value", event);
    assertThat(framed[0]).isEqualTo((byte) 0);
    assertThat(ByteBuffer.wrap(framed, 1, 4).getInt())
        .isEqualTo(registry.idOf("t3-value", FeedbackEvent.getClassSchema()));
    assertThat(codec.decode(framed)).isEqualTo(event);

    // a product already on v2 of the schema (one more optional field) is still read
    Schema v2 = withOptionalField(FeedbackEvent.getClassSchema(), "locale");
    int v2id = registry.register("t3-value", v2);
    GenericRecord newer = new GenericData.Record(v2);
    for (Schema.Field f : FeedbackEvent.getClassSchema().getFields()) {
      newer.put(f.name(), GenericData.get().deepCopy(f.schema(), event.get(f.name())));
    }
    newer.put("occurred_at", event.getOccurredAt().toEpochMilli());
    newer.put("kind", new GenericData.EnumSymbol(v2.getField("kind").schema(), "PAIRWISE"));
    newer.put("locale", "de-CH");
    assertThat(codec.decode(frame(v2id, v2, newer))).isEqualTo(event);
  }

  @Test
  void badBodiesHaveReasons() throws Exception {
    ConfluentAvro<FeedbackEvent> codec = new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    byte[] good = codec.encode("t4-value", event("e-2"));

    assertReason(codec, Arrays.copyOf(good, good.length - 3), DeadLetterReason.CORRUPT_AVRO);
    byte[] longer = Arrays.copyOf(good, good.length + 2);
    assertReason(codec, longer, DeadLetterReason.TRAILING_BYTES);
    byte[] unknownId = good.clone();
    ByteBuffer.wrap(unknownId, 1, 4).putInt(987_654);
    assertReason(codec, unknownId, DeadLetterReason.UNKNOWN_SCHEMA_ID);
    byte[] hugeString = good.clone();
    // event_id's length varint: a 10-byte zig-zag garbage length
    for (int i = 5; i < Math.min(hugeString.length, 15); i++) {
      hugeString[i] = (byte) 0xFF;
    }
    assertReason(codec, hugeString, DeadLetterReason.CORRUPT_AVRO);

    Schema other =
        new Schema.Parser()
            .parse(
                "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[{\"name\":\"n\",\"type\":\"int\"}]}");
    int otherId = registry.register("t4-other-value", other);
    GenericRecord rec = new GenericData.Record(other);
    rec.put("n", 7);
    assertReason(codec, frame(otherId, other, rec), DeadLetterReason.SCHEMA_MISMATCH);
  }

  static FeedbackEvent event(String id) {
    return FeedbackEvent.newBuilder()
        .setEventId(id)
        .setModelId("m")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .setSource("test")
        .setKind(FeedbackKind.PAIRWISE)
        .setPrompt("2+2?")
        .setChosen("4")
        .setRejected("5")
        .setMetadata(Map.of("k", "v"))
        .build();
  }

  private static void assertReason(
      ConfluentAvro<FeedbackEvent> codec, byte[] bytes, DeadLetterReason r) {
    assertThatThrownBy(() -> codec.decode(bytes))
        .isInstanceOfSatisfying(
            WireFormatException.class, e -> assertThat(e.reason()).isEqualTo(r));
  }

  private static byte[] frame(int id, Schema schema, GenericRecord record) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
    BinaryEncoder enc = EncoderFactory.get().directBinaryEncoder(out, null);
    new GenericDatumWriter<GenericRecord>(schema).write(record, enc);
    enc.flush();
    return out.toByteArray();
  }

  private static Schema withOptionalField(Schema base, String name) {
    return withField(base, name, "[\"null\",\"string\"]", true);
  }

  private static Schema withRequiredField(Schema base, String name) {
    return withField(base, name, "\"string\"", false);
  }

  private static Schema withField(Schema base, String name, String type, boolean nullDefault) {
    String json = base.toString();
    String field =
        "{\"name\":\""
            + name
            + "\",\"type\":"
            + type
            + (nullDefault ? ",\"default\":null" : "")
            + "}";
    int end = json.lastIndexOf("]}");
    return new Schema.Parser().parse(json.substring(0, end) + "," + field + json.substring(end));
  }

  private static int freePort() {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      return s.getLocalPort();
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
