package dev.prefstream.ingest;

import static dev.prefstream.ingest.Pipeline.pairwise;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.registry.SchemaRegistryException;
import dev.prefstream.schemas.serde.AvroSerde;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ingest job on a real KRaft broker and a real (Apicurio) registry, exactly-once, read back
 * read_committed. One stack and one ingest instance serve every test; each test names its records
 * with its own prefix.
 */
class IngestIT {
  static final Duration TIMEOUT = Duration.ofSeconds(60);

  @TempDir static Path dataDir;
  static EmbeddedStack stack;
  static RestSchemaRegistry registry;
  static IngestService ingest;
  static IngestConfig config;
  static Topics topics;

  @BeforeAll
  static void start() {
    stack = EmbeddedStack.start(dataDir);
    registry = new RestSchemaRegistry(stack.registryUrl());
    config =
        new IngestConfig(
            Map.of(
                CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers(),
                CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl(),
                CommonConfig.DATA_DIR_CONFIG, dataDir.toString(),
                IngestConfig.SERVED_WAIT_MS_CONFIG, 2_000));
    topics = config.topics();
    ingest = IngestService.start(config, registry);
  }

  @AfterAll
  static void stop() {
    if (ingest != null) {
      ingest.close();
    }
    if (stack != null) {
      stack.close();
    }
  }

  @Test
  void everyKindFromOurJavaProducerComesOutExactlyOnce() {
    Scenario scenario = new Scenario("java");
    scenario.produceWithJava(stack.bootstrapServers(), registry, topics);
    scenario.verify(stack.bootstrapServers(), registry, topics, TIMEOUT);
    assertThat(ingest.state()).isEqualTo(KafkaStreams.State.RUNNING);
    assertThat(ingest.deadLetterCounts())
        .containsKeys(
            "duplicate_event",
            "identical_responses",
            "invalid_model_id",
            "bad_chosen_index",
            "unknown_request",
            "bad_magic_byte",
            "unknown_schema_id",
            "truncated_header");
  }

  @Test
  void everyKindFromConfluentsPythonAvroProducerComesOutExactlyOnce() throws Exception {
    assumeTrue(
        Scenario.pythonHasConfluentAvro(),
        Scenario.PYTHON
            + " cannot import confluent_kafka.avro (apt-get install python3-confluent-kafka"
            + " python3-avro); .ci/run installs them");
    Scenario scenario = new Scenario("python");
    scenario.produceWithPython(
        stack.bootstrapServers(),
        stack.registryUrl(),
        topics,
        Files.createDirectories(dataDir.resolve("python")));
    scenario.verify(stack.bootstrapServers(), registry, topics, TIMEOUT);
    // the Python client framed its keys as Avro strings under their own subject
    assertThat(registry.versions(ConfluentAvro.subject(topics.feedback(), true))).isNotEmpty();
  }

  @Test
  void aModelsEventsMeetInTheTaskThatOwnsItWhicheverPartitionTheyArriveOn() throws Exception {
    String model = "placed";
    int owner = ByModel.partition(model, 2);
    int other = 1 - owner;
    String byModel = IngestTopology.byModelTopic(config);
    long byModelBefore = endOffsets(byModel);
    ConfluentAvro<FeedbackEvent> codec = new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    // each event twice: once on the owner's partition (processed where it is read), once on the
    // other one (through the by-model topic); whichever copy comes second is the duplicate
    int[][] placements = {{owner, other}, {other, owner}, {other, other}};
    for (int i = 0; i < placements.length; i++) {
      byte[] value = codec.encode(subject, pairwise("placed-" + i, b -> b.setModelId(model)));
      for (int partition : placements[i]) {
        produce(topics.feedback(), partition, "k", value);
      }
    }
    List<PreferencePair> pairs =
        OutputReader.read(
            stack.bootstrapServers(),
            topics.pairs(),
            new StringDeserializer(),
            AvroSerde.forValues(PreferencePair.class, registry).deserializer(),
            pp -> pp.getModelId().equals(model),
            placements.length,
            TIMEOUT);
    assertThat(pairs)
        .extracting(pp -> pp.getEventIds().get(0))
        .containsExactlyInAnyOrder("placed-0", "placed-1", "placed-2");
    List<Rejection> dead =
        OutputReader.read(
            stack.bootstrapServers(),
            topics.deadLetters(),
            new ByteArrayDeserializer(),
            AvroSerde.forValues(Rejection.class, registry).deserializer(),
            r -> model.equals(r.getModelId()),
            placements.length,
            TIMEOUT);
    assertThat(dead)
        .extracting(Rejection::getReason, Rejection::getEventId)
        .containsExactlyInAnyOrder(
            org.assertj.core.groups.Tuple.tuple("duplicate_event", "placed-0"),
            org.assertj.core.groups.Tuple.tuple("duplicate_event", "placed-1"),
            org.assertj.core.groups.Tuple.tuple("duplicate_event", "placed-2"));
    // the four copies read on the other partition went through the by-model topic (its end
    // offsets also count transaction markers, so at least four)
    assertThat(endOffsets(byModel) - byModelBefore).isGreaterThanOrEqualTo(4);
  }

  @Test
  void aBackwardCompatibleSecondVersionRegistersAndBothVersionsAreIngested() {
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    int v1 = registry.register(subject, FeedbackEvent.getClassSchema());
    Schema v2 =
        withField(
            FeedbackEvent.getClassSchema(),
            "{\"name\":\"locale\",\"type\":[\"null\",\"string\"],\"default\":null,"
                + "\"doc\":\"BCP 47 tag of the person's language.\"}");
    assertThat(registry.testCompatibility(subject, v2).compatible()).isTrue();
    int v2Id = registry.register(subject, v2);
    assertThat(v2Id).isNotEqualTo(v1);

    FeedbackEvent old = pairwise("evolve-v1", b -> b.setModelId("evolve"));
    GenericRecord newer = asVersion(v2, pairwise("evolve-v2", b -> b.setModelId("evolve")));
    newer.put("locale", "de-CH");
    produce(
        topics.feedback(),
        "evolve",
        new ConfluentAvro<>(FeedbackEvent.class, registry, false).encode(subject, old));
    produce(topics.feedback(), "evolve", frame(v2Id, v2, newer));

    List<PreferencePair> pairs =
        OutputReader.read(
            stack.bootstrapServers(),
            topics.pairs(),
            new StringDeserializer(),
            AvroSerde.forValues(PreferencePair.class, registry).deserializer(),
            pp -> pp.getModelId().equals("evolve"),
            2,
            TIMEOUT);
    assertThat(pairs)
        .extracting(pp -> pp.getEventIds().get(0))
        .containsExactlyInAnyOrder("evolve-v1", "evolve-v2");
  }

  @Test
  void anIncompatibleChangeIsRefusedByTheRegistryWithAClearError() {
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    registry.register(subject, FeedbackEvent.getClassSchema());
    Schema required =
        withField(FeedbackEvent.getClassSchema(), "{\"name\":\"tenant\",\"type\":\"string\"}");
    assertThat(registry.testCompatibility(subject, required).compatible()).isFalse();
    assertThatThrownBy(() -> registry.register(subject, required))
        .isInstanceOfSatisfying(
            SchemaRegistryException.class,
            e -> {
              assertThat(e.httpStatus()).isEqualTo(409);
              assertThat(e.isRetriable()).isFalse();
            })
        // Apicurio: "Incompatible artifact: <subject> [AVRO] ... [tenant at /fields/16]"
        .hasMessageContaining(subject)
        .hasMessageContaining("ncompatible")
        .hasMessageContaining("tenant");
  }

  @Test
  void poisonPillsAndOddSchemaIdsNeverStopTheStream() {
    List<byte[]> pills = new ArrayList<>();
    pills.add(new byte[] {0, 0, 0, 0, 0, 1}); // schema id 0
    pills.add(new byte[] {0, 0x7f, (byte) 0xff, (byte) 0xff, (byte) 0xff, 1}); // id 2^31-1
    pills.add(new byte[] {0, (byte) 0x80, 0, 0, 0, 1}); // the most negative id
    pills.add(new byte[] {0, 0, 0, 0, 1}); // header only: id 1 with no body
    ConfluentAvro<FeedbackEvent> codec = new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    for (int i = 0; i < pills.size(); i++) {
      produce(topics.feedback(), "pill-" + i, pills.get(i));
      produce(
          topics.feedback(),
          "pill",
          codec.encode(subject, pairwise("pill-good-" + i, b -> b.setModelId("pill"))));
    }
    List<PreferencePair> pairs =
        OutputReader.read(
            stack.bootstrapServers(),
            topics.pairs(),
            new StringDeserializer(),
            AvroSerde.forValues(PreferencePair.class, registry).deserializer(),
            pp -> pp.getModelId().equals("pill"),
            pills.size(),
            TIMEOUT);
    assertThat(pairs).hasSize(pills.size());
    List<Rejection> dead =
        OutputReader.read(
            stack.bootstrapServers(),
            topics.deadLetters(),
            new ByteArrayDeserializer(),
            AvroSerde.forValues(Rejection.class, registry).deserializer(),
            r ->
                r.getOriginalKey() != null
                    && new String(bytes(r.getOriginalKey()), StandardCharsets.UTF_8)
                        .startsWith("pill-"),
            pills.size(),
            TIMEOUT);
    assertThat(dead).hasSize(pills.size());
    for (Rejection r : dead) {
      int i =
          Integer.parseInt(
              new String(bytes(r.getOriginalKey()), StandardCharsets.UTF_8).substring(5));
      assertThat(bytes(r.getOriginalValue())).isEqualTo(pills.get(i));
      assertThat(r.getSourceTopic()).isEqualTo(topics.feedback());
      assertThat(r.getReason()).isIn("unknown_schema_id", "corrupt_avro");
    }
    assertThat(ingest.state()).isEqualTo(KafkaStreams.State.RUNNING);
  }

  @Test
  void recordsAtTheBrokersSizeLimitAreDeadLetteredWhole() {
    // as large as a default producer and topic allow; the dead letter adds metadata around it
    int size = 1_048_400;
    byte[] garbage = new byte[size];
    java.util.Arrays.fill(garbage, (byte) 'g');
    ConfluentAvro<FeedbackEvent> codec = new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    int text = size - 200;
    byte[] tooLong = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      int chars = text;
      tooLong =
          codec.encode(
              subject,
              pairwise("huge-text", b -> b.setModelId("huge").setChosen("x".repeat(chars))));
      text += size - tooLong.length;
    }
    produce(topics.feedback(), "huge-garbage", garbage);
    produce(topics.feedback(), "huge-text", tooLong);
    produce(
        topics.feedback(),
        "huge",
        codec.encode(subject, pairwise("huge-after", b -> b.setModelId("huge"))));

    List<Rejection> dead =
        OutputReader.read(
            stack.bootstrapServers(),
            topics.deadLetters(),
            new ByteArrayDeserializer(),
            AvroSerde.forValues(Rejection.class, registry).deserializer(),
            r ->
                r.getOriginalKey() != null
                    && new String(bytes(r.getOriginalKey()), StandardCharsets.UTF_8)
                        .startsWith("huge-"),
            2,
            TIMEOUT);
    assertThat(dead)
        .extracting(Rejection::getReason)
        .containsExactlyInAnyOrder("bad_magic_byte", "text_too_long");
    byte[] expectedText = tooLong;
    assertThat(dead)
        .extracting(r -> bytes(r.getOriginalValue()).length)
        .containsExactlyInAnyOrder(garbage.length, expectedText.length);
    assertThat(
            OutputReader.read(
                stack.bootstrapServers(),
                topics.pairs(),
                new StringDeserializer(),
                AvroSerde.forValues(PreferencePair.class, registry).deserializer(),
                pp -> pp.getModelId().equals("huge"),
                1,
                TIMEOUT))
        .extracting(pp -> pp.getEventIds().get(0))
        .containsExactly("huge-after");
    assertThat(ingest.state()).isEqualTo(KafkaStreams.State.RUNNING);
  }

  /**
   * The rate limiter reads its counts from memory; after a restart they must come back from the
   * store's changelog: two events of a user before the restart and two after, with a limit of
   * three, leave the fourth rate-limited.
   */
  @Test
  void rateLimitCountsSurviveARestart() {
    Map<String, Object> settings = new java.util.HashMap<>(config.originals());
    settings.put(CommonConfig.TOPIC_PREFIX_CONFIG, "restart.");
    settings.put(IngestConfig.APPLICATION_ID_CONFIG, "restart-ingest");
    settings.put(CommonConfig.DATA_DIR_CONFIG, dataDir.resolve("restart").toString());
    settings.put(IngestConfig.RATE_LIMIT_EVENTS_CONFIG, 3);
    settings.put(IngestConfig.RATE_LIMIT_WINDOW_MS_CONFIG, 3_600_000L);
    IngestConfig restarting = new IngestConfig(settings);
    Topics mine = restarting.topics();
    ConfluentAvro<FeedbackEvent> codec = new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    String subject = ConfluentAvro.subject(mine.feedback(), false);
    long at = System.currentTimeMillis(); // one timestamp: all four in one window
    List<PreferencePair> pairs = new ArrayList<>();
    for (int round = 0; round < 2; round++) {
      try (IngestService restarted = IngestService.start(restarting, registry);
          KafkaProducer<byte[], byte[]> producer =
              new KafkaProducer<>(
                  Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers()),
                  new ByteArraySerializer(),
                  new ByteArraySerializer())) {
        for (int i = 2 * round; i < 2 * round + 2; i++) {
          byte[] value =
              codec.encode(
                  subject, pairwise("flood-" + i, b -> b.setModelId("m").setUserKey("u1")));
          producer.send(
              new ProducerRecord<>(
                  mine.feedback(), null, at, "m".getBytes(StandardCharsets.UTF_8), value));
        }
        producer.flush();
        pairs =
            OutputReader.read(
                stack.bootstrapServers(),
                mine.pairs(),
                new StringDeserializer(),
                AvroSerde.forValues(PreferencePair.class, registry).deserializer(),
                pp -> true,
                round == 0 ? 2 : 3,
                TIMEOUT);
      }
    }
    assertThat(pairs)
        .extracting(pp -> pp.getEventIds().get(0))
        .containsExactlyInAnyOrder("flood-0", "flood-1", "flood-2");
    List<Rejection> dead =
        OutputReader.read(
            stack.bootstrapServers(),
            mine.deadLetters(),
            new ByteArrayDeserializer(),
            AvroSerde.forValues(Rejection.class, registry).deserializer(),
            r -> true,
            1,
            TIMEOUT);
    assertThat(dead)
        .extracting(Rejection::getReason, Rejection::getEventId)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("rate_limited", "flood-3"));
  }

  // ---- helpers

  private static void produce(String topic, String key, byte[] value) {
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers()),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), value));
    }
  }

  private static void produce(String topic, int partition, String key, byte[] value) {
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers()),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      producer.send(
          new ProducerRecord<>(topic, partition, key.getBytes(StandardCharsets.UTF_8), value));
    }
  }

  /** The sum of the end offsets of {@code topic}'s partitions. */
  private static long endOffsets(String topic) {
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(
            Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers()),
            new ByteArrayDeserializer(),
            new ByteArrayDeserializer())) {
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic).stream()
              .map(p -> new TopicPartition(topic, p.partition()))
              .toList();
      return consumer.endOffsets(partitions).values().stream().mapToLong(Long::longValue).sum();
    }
  }

  /** {@code schema} with one more field, given as JSON. */
  static Schema withField(Schema schema, String fieldJson) {
    String json = schema.toString();
    int lastBracket = json.lastIndexOf(']');
    return new Schema.Parser()
        .parse(json.substring(0, lastBracket) + "," + fieldJson + json.substring(lastBracket));
  }

  /** {@code event} as a generic record of another version of its schema. */
  static GenericRecord asVersion(Schema version, FeedbackEvent event) {
    GenericRecord record = new GenericData.Record(version);
    for (Schema.Field field : FeedbackEvent.getClassSchema().getFields()) {
      Object value = event.get(field.pos());
      if (value instanceof java.time.Instant instant) {
        value = instant.toEpochMilli();
      } else if (value instanceof Enum<?> e) {
        value = new GenericData.EnumSymbol(version.getField(field.name()).schema(), e.name());
      }
      record.put(field.name(), value);
    }
    return record;
  }

  static byte[] frame(int id, Schema schema, GenericRecord record) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.writeBytes(ByteBuffer.allocate(4).putInt(id).array());
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    try {
      new GenericDatumWriter<GenericRecord>(schema).write(record, encoder);
      encoder.flush();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  static byte[] bytes(ByteBuffer buffer) {
    ByteBuffer copy = buffer.duplicate();
    byte[] out = new byte[copy.remaining()];
    copy.get(out);
    return out;
  }
}
