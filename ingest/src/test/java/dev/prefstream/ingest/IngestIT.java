package dev.prefstream.ingest;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The ingest job on a real broker and registry, exactly-once, read back read_committed. */
class IngestIT {
  @TempDir Path dataDir;

  @Test
  void feedbackBecomesPairsAndDeadLettersOnARealBroker() throws Exception {
    try (EmbeddedStack stack = EmbeddedStack.start(dataDir)) {
      IngestConfig config =
          new IngestConfig(
              Map.of(
                  CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers(),
                  CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl(),
                  CommonConfig.DATA_DIR_CONFIG, dataDir.toString()));
      RestSchemaRegistry registry = new RestSchemaRegistry(stack.registryUrl());
      Topics topics = config.topics();
      try (IngestService ingest = IngestService.start(config, registry)) {
        ConfluentAvro<FeedbackEvent> product =
            new ConfluentAvro<>(FeedbackEvent.class, registry, true);
        try (KafkaProducer<byte[], byte[]> producer =
            new KafkaProducer<>(
                Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers()),
                new ByteArraySerializer(),
                new ByteArraySerializer())) {
          for (int i = 0; i < 20; i++) {
            FeedbackEvent e = Pipeline.pairwise("e" + i);
            producer.send(
                new ProducerRecord<>(
                    topics.feedback(),
                    key("model-a"),
                    product.encode(ConfluentAvro.subject(topics.feedback(), false), e)));
            if (i % 5 == 0) {
              producer.send(
                  new ProducerRecord<>(topics.feedback(), key("model-a"), new byte[] {1}));
            }
          }
        }
        List<ConsumerRecord<String, PreferencePair>> pairs =
            readCommitted(
                stack,
                topics.pairs(),
                new StringDeserializer(),
                AvroSerde.forValues(PreferencePair.class, registry).deserializer(),
                20);
        List<ConsumerRecord<byte[], Rejection>> dead =
            readCommitted(
                stack,
                topics.deadLetters(),
                new ByteArrayDeserializer(),
                AvroSerde.forValues(Rejection.class, registry).deserializer(),
                4);
        assertThat(ingest.state()).isEqualTo(KafkaStreams.State.RUNNING);
        assertThat(pairs)
            .extracting(r -> r.value().getEventIds().get(0))
            .containsExactlyInAnyOrderElementsOf(
                java.util.stream.IntStream.range(0, 20).mapToObj(i -> "e" + i).toList());
        assertThat(pairs).allSatisfy(r -> assertThat(r.key()).isEqualTo("model-a"));
        assertThat(dead)
            .hasSize(4)
            .allSatisfy(
                r ->
                    assertThat(r.value().getReason())
                        .isEqualTo(DeadLetterReason.TRUNCATED_HEADER.code()));
      }
    }
  }

  private static byte[] key(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static <K, V> List<ConsumerRecord<K, V>> readCommitted(
      EmbeddedStack stack, String topic, Deserializer<K> kd, Deserializer<V> vd, int expected) {
    try (KafkaConsumer<K, V> consumer =
        new KafkaConsumer<>(
            Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                stack.bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG,
                "it-" + topic,
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG,
                "earliest",
                ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed"),
            kd,
            vd)) {
      consumer.subscribe(List.of(topic));
      List<ConsumerRecord<K, V>> out = new ArrayList<>();
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (out.size() < expected && System.nanoTime() < deadline) {
        consumer.poll(Duration.ofMillis(200)).forEach(out::add);
      }
      // anything beyond what was expected would be a duplicate: look a little longer
      consumer.poll(Duration.ofSeconds(1)).forEach(out::add);
      return out;
    }
  }
}
