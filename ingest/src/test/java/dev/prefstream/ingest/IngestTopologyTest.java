package dev.prefstream.ingest;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.registry.InMemorySchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class IngestTopologyTest {
  private final Topics topics = Topics.withDefaultPrefix();
  private final InMemorySchemaRegistry registry = new InMemorySchemaRegistry();
  private final ConfluentAvro<FeedbackEvent> product =
      new ConfluentAvro<>(FeedbackEvent.class, registry, true);
  private TopologyTestDriver driver;
  private TestInputTopic<byte[], byte[]> feedback;
  private TestOutputTopic<String, PreferencePair> pairs;
  private TestOutputTopic<byte[], Rejection> deadLetters;

  @BeforeEach
  void setUp() {
    IngestConfig config = new IngestConfig(Map.of(IngestConfig.MAX_TEXT_CHARS_CONFIG, 100));
    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, "ingest-test");
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:1");
    driver = new TopologyTestDriver(IngestTopology.build(config, registry), props);
    feedback =
        driver.createInputTopic(
            topics.feedback(), new ByteArraySerializer(), new ByteArraySerializer());
    pairs =
        driver.createOutputTopic(
            topics.pairs(),
            Serdes.String().deserializer(),
            AvroSerde.forValues(PreferencePair.class, registry).deserializer());
    deadLetters =
        driver.createOutputTopic(
            topics.deadLetters(),
            Serdes.ByteArray().deserializer(),
            AvroSerde.forValues(Rejection.class, registry).deserializer());
  }

  @AfterEach
  void tearDown() {
    driver.close();
  }

  @Test
  void aPairwiseEventBecomesOnePairKeyedByModel() {
    send(event("e1", b -> {}));
    List<KeyValue<String, PreferencePair>> out = pairs.readKeyValuesToList();
    assertThat(out).hasSize(1);
    PreferencePair pair = out.get(0).value;
    assertThat(out.get(0).key).isEqualTo("model-a");
    assertThat(pair.getPrompt()).isEqualTo("What is 2+2?");
    assertThat(pair.getChosen()).isEqualTo("4");
    assertThat(pair.getRejected()).isEqualTo("5");
    assertThat(pair.getEventIds()).containsExactly("e1");
    assertThat(pair.getPairId()).isEqualTo(FeedbackRules.pairId("e1", 0)).hasSize(64);
    assertThat(deadLetters.isEmpty()).isTrue();
  }

  @Test
  void chatPromptsPassThrough() {
    List<ChatMessage> chat =
        List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "2+2?"));
    send(event("e2", b -> b.setPrompt(chat)));
    assertThat(pairs.readValue().getPrompt()).isEqualTo(chat);
  }

  @Test
  void unreadableBytesAreDeadLetteredWithTheirOriginalBytesAndOffset() {
    byte[] key = "model-a".getBytes(StandardCharsets.UTF_8);
    byte[] json = "{\"event_id\":\"x\"}".getBytes(StandardCharsets.UTF_8);
    feedback.pipeInput(key, json);
    feedback.pipeInput(key, new byte[] {0, 0});
    feedback.pipeInput(key, new byte[0]);

    List<KeyValue<byte[], Rejection>> out = deadLetters.readKeyValuesToList();
    assertThat(out)
        .extracting(kv -> kv.value.getReason())
        .containsExactly(
            DeadLetterReason.BAD_MAGIC_BYTE.code(),
            DeadLetterReason.TRUNCATED_HEADER.code(),
            DeadLetterReason.EMPTY_VALUE.code());
    Rejection first = out.get(0).value;
    assertThat(out.get(0).key).isEqualTo(key);
    assertThat(first.getOriginalValue().array()).isEqualTo(json);
    assertThat(first.getSourceTopic()).isEqualTo(topics.feedback());
    assertThat(first.getSourcePartition()).isZero();
    assertThat(out).extracting(kv -> kv.value.getSourceOffset()).containsExactly(0L, 1L, 2L);
    assertThat(first.getMessage()).contains("0x7b");
    assertThat(first.getEventId()).isNull();
  }

  @Test
  void eachRuleHasItsReason() {
    send(event("m1", b -> b.setChosen(null)));
    send(event("m2", b -> b.setPrompt("  ")));
    send(event("m3", b -> b.setModelId("bad model/id")));
    send(event("m4", b -> b.setRejected("4")));
    send(event("m5", b -> b.setChosen("x".repeat(101))));
    send(event("m6", b -> b.setKind(FeedbackKind.BINARY)));
    send(event("", b -> {}));

    List<Rejection> out = deadLetters.readValuesToList();
    assertThat(out)
        .extracting(Rejection::getReason)
        .containsExactly(
            DeadLetterReason.MISSING_FIELD.code(),
            DeadLetterReason.MISSING_FIELD.code(),
            DeadLetterReason.INVALID_MODEL_ID.code(),
            DeadLetterReason.IDENTICAL_RESPONSES.code(),
            DeadLetterReason.TEXT_TOO_LONG.code(),
            DeadLetterReason.UNSUPPORTED_KIND.code(),
            DeadLetterReason.INVALID_EVENT_ID.code());
    assertThat(out.get(0).getMessage()).contains("chosen");
    assertThat(out.get(4).getMessage()).contains("101").contains("ingest.max.text.chars=100");
    assertThat(out.get(0).getEventId()).isEqualTo("m1");
    assertThat(out.get(0).getModelId()).isEqualTo("model-a");
    assertThat(pairs.isEmpty()).isTrue();
  }

  @Test
  void aPoisonPillDoesNotStopTheStream() {
    send(event("before", b -> {}));
    feedback.pipeInput("k".getBytes(StandardCharsets.UTF_8), new byte[] {0, 0, 0, 0, 9, 1, 2});
    send(event("after", b -> {}));
    assertThat(pairs.readValuesToList())
        .extracting(p -> p.getEventIds().get(0))
        .containsExactly("before", "after");
    assertThat(deadLetters.readValue().getReason())
        .isEqualTo(DeadLetterReason.UNKNOWN_SCHEMA_ID.code());
  }

  private void send(FeedbackEvent event) {
    feedback.pipeInput(
        event.getModelId().getBytes(StandardCharsets.UTF_8),
        product.encode(ConfluentAvro.subject(topics.feedback(), false), event));
  }

  static FeedbackEvent event(String id, Consumer<FeedbackEvent.Builder> change) {
    FeedbackEvent.Builder b =
        FeedbackEvent.newBuilder()
            .setEventId(id)
            .setModelId("model-a")
            .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L))
            .setSource("test")
            .setKind(FeedbackKind.PAIRWISE)
            .setPrompt("What is 2+2?")
            .setChosen("4")
            .setRejected("5");
    change.accept(b);
    return b.build();
  }
}
