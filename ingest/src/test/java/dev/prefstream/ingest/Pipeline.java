package dev.prefstream.ingest;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.ServedResponses;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.registry.InMemorySchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;

/** The ingest topology in a {@link TopologyTestDriver}, with helpers to feed it and read it. */
final class Pipeline implements AutoCloseable {
  static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

  final Topics topics = Topics.withDefaultPrefix();
  final InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
  final ConfluentAvro<FeedbackEvent> product =
      new ConfluentAvro<>(FeedbackEvent.class, registry, true);
  final ConfluentAvro<ServedResponses> server =
      new ConfluentAvro<>(ServedResponses.class, registry, true);
  final TopologyTestDriver driver;
  private final Path stateDir;
  private final long[] piped = new long[Sourced.Origin.values().length];
  final TestInputTopic<byte[], byte[]> feedback;
  final TestInputTopic<byte[], byte[]> served;
  final TestOutputTopic<String, PreferencePair> pairs;
  final TestOutputTopic<String, UnpairedFeedback> unpaired;
  final TestOutputTopic<byte[], Rejection> deadLetters;

  /** A pipeline with the test defaults (max 100 chars, 4 responses) and {@code overrides}. */
  Pipeline(Map<String, ?> overrides) {
    Map<String, Object> settings = new HashMap<>();
    settings.put(IngestConfig.MAX_TEXT_CHARS_CONFIG, 100);
    settings.put(IngestConfig.MAX_RESPONSES_CONFIG, 4);
    settings.putAll(overrides);
    IngestConfig config = new IngestConfig(settings);
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "ingest-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:1");
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    try {
      stateDir = Files.createTempDirectory("ingest-test-state");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    // the driver has one task and one partition per topic: every model is local to it (IngestIT
    // covers the by-model topic, on a real broker with two partitions)
    driver = new TopologyTestDriver(IngestTopology.build(config, registry, 1), props, T0);
    ByteArraySerializer bytes = new ByteArraySerializer();
    feedback = driver.createInputTopic(topics.feedback(), bytes, bytes, T0, Duration.ofMillis(1));
    served = driver.createInputTopic(topics.served(), bytes, bytes, T0, Duration.ofMillis(1));
    pairs =
        driver.createOutputTopic(
            topics.pairs(),
            Serdes.String().deserializer(),
            AvroSerde.forValues(PreferencePair.class, registry).deserializer());
    unpaired =
        driver.createOutputTopic(
            topics.unpaired(),
            Serdes.String().deserializer(),
            AvroSerde.forValues(UnpairedFeedback.class, registry).deserializer());
    deadLetters =
        driver.createOutputTopic(
            topics.deadLetters(),
            Serdes.ByteArray().deserializer(),
            AvroSerde.forValues(Rejection.class, registry).deserializer());
  }

  Pipeline() {
    this(Map.of());
  }

  /** Sends {@code event} as a product would: key = model id, value framed with its schema id. */
  void send(FeedbackEvent event) {
    raw(Sourced.Origin.FEEDBACK, utf8(event.getModelId()), encode(event));
  }

  void send(FeedbackEvent event, Instant at) {
    feedback.pipeInput(utf8(event.getModelId()), encode(event), at);
    piped[Sourced.Origin.FEEDBACK.ordinal()]++;
  }

  void serve(ServedResponses impression) {
    raw(Sourced.Origin.SERVED, utf8(impression.getRequestId()), encode(impression));
  }

  void serve(ServedResponses impression, Instant at) {
    served.pipeInput(utf8(impression.getRequestId()), encode(impression), at);
    piped[Sourced.Origin.SERVED.ordinal()]++;
  }

  /** Pipes any bytes into the feedback or served topic. */
  void raw(Sourced.Origin topic, byte[] key, byte[] value) {
    (topic == Sourced.Origin.FEEDBACK ? feedback : served).pipeInput(key, value);
    piped[topic.ordinal()]++;
  }

  /** How many records went into this input topic so far: the next record's offset. */
  long nextOffset(Sourced.Origin topic) {
    return piped[topic.ordinal()];
  }

  String topic(Sourced.Origin origin) {
    return origin == Sourced.Origin.FEEDBACK ? topics.feedback() : topics.served();
  }

  byte[] encode(FeedbackEvent event) {
    return product.encode(ConfluentAvro.subject(topics.feedback(), false), event);
  }

  byte[] encode(ServedResponses impression) {
    return server.encode(ConfluentAvro.subject(topics.served(), false), impression);
  }

  List<PreferencePair> pairs() {
    return pairs.readValuesToList();
  }

  List<KeyValue<String, PreferencePair>> keyedPairs() {
    return pairs.readKeyValuesToList();
  }

  List<UnpairedFeedback> unpaired() {
    return unpaired.readValuesToList();
  }

  List<Rejection> deadLetters() {
    return deadLetters.readValuesToList();
  }

  List<String> reasons() {
    return deadLetters().stream().map(Rejection::getReason).toList();
  }

  /** Dead-letter counts per reason from the topology's metrics. */
  Map<String, Long> counters() {
    return IngestService.deadLetterCounts(driver.metrics());
  }

  @Override
  public void close() {
    driver.close();
    try (Stream<Path> files = Files.walk(stateDir)) {
      files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] utf8(String s) {
    return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
  }

  // ---- events of every kind, valid unless changed

  static FeedbackEvent pairwise(String id) {
    return pairwise(id, b -> {});
  }

  static FeedbackEvent pairwise(String id, Consumer<FeedbackEvent.Builder> change) {
    return event(
        id,
        b -> {
          b.setKind(FeedbackKind.PAIRWISE).setPrompt("What is 2+2?").setChosen("4");
          b.setRejected("5");
          change.accept(b);
        });
  }

  static FeedbackEvent binary(String id, boolean up, String response) {
    return binary(id, up, response, b -> {});
  }

  static FeedbackEvent binary(
      String id, boolean up, String response, Consumer<FeedbackEvent.Builder> change) {
    return event(
        id,
        b -> {
          b.setKind(FeedbackKind.BINARY).setPrompt("Name a color.").setResponse(response);
          b.setLabel(up);
          change.accept(b);
        });
  }

  static FeedbackEvent ranked(String id, List<String> responses) {
    return ranked(id, responses, b -> {});
  }

  static FeedbackEvent ranked(
      String id, List<String> responses, Consumer<FeedbackEvent.Builder> change) {
    return event(
        id,
        b -> {
          b.setKind(FeedbackKind.RANKED).setPrompt("Rank these.").setResponses(responses);
          change.accept(b);
        });
  }

  static FeedbackEvent choice(String id, String requestId, int index) {
    return choice(id, requestId, index, b -> {});
  }

  static FeedbackEvent choice(
      String id, String requestId, int index, Consumer<FeedbackEvent.Builder> change) {
    return event(
        id,
        b -> {
          b.setKind(FeedbackKind.SERVED_CHOICE).setRequestId(requestId).setChosenIndex(index);
          change.accept(b);
        });
  }

  static FeedbackEvent edit(String id, String original, String edited) {
    return edit(id, original, edited, b -> {});
  }

  static FeedbackEvent edit(
      String id, String original, String edited, Consumer<FeedbackEvent.Builder> change) {
    return event(
        id,
        b -> {
          b.setKind(FeedbackKind.EDIT).setPrompt("Fix my sentence.").setResponse(original);
          b.setEdited(edited);
          change.accept(b);
        });
  }

  static FeedbackEvent event(String id, Consumer<FeedbackEvent.Builder> change) {
    FeedbackEvent.Builder b =
        FeedbackEvent.newBuilder()
            .setEventId(id)
            .setModelId("model-a")
            .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L))
            .setSource("test");
    change.accept(b);
    return b.build();
  }

  static ServedResponses impression(String requestId, List<String> responses) {
    return impression(requestId, responses, b -> {});
  }

  static ServedResponses impression(
      String requestId, List<String> responses, Consumer<ServedResponses.Builder> change) {
    ServedResponses.Builder b =
        ServedResponses.newBuilder()
            .setRequestId(requestId)
            .setModelId("model-a")
            .setServedAt(Instant.ofEpochMilli(1_700_000_000_000L))
            .setPrompt(List.of(new ChatMessage("user", "Tell me a joke.")))
            .setResponses(responses);
    change.accept(b);
    return b.build();
  }
}
