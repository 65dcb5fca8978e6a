package dev.prefstream.ingest;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Deserializer;

/** Reads a topic from the beginning, read_committed, as a downstream consumer would. */
final class OutputReader {
  private OutputReader() {}

  /**
   * The values of {@code topic} that {@code mine} selects, once at least {@code expected} of them
   * arrived (or the timeout passed), plus whatever else arrives in the next second: a duplicate
   * would show up there.
   */
  static <K, V> List<V> read(
      String bootstrap,
      String topic,
      Deserializer<K> keys,
      Deserializer<V> values,
      Predicate<V> mine,
      int expected,
      Duration timeout) {
    try (KafkaConsumer<K, V> consumer =
        new KafkaConsumer<>(
            Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrap,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                false),
            keys,
            values)) {
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic).stream()
              .map(p -> new TopicPartition(topic, p.partition()))
              .collect(Collectors.toList());
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      List<V> out = new ArrayList<>();
      long deadline = System.nanoTime() + timeout.toNanos();
      while (out.size() < expected && System.nanoTime() < deadline) {
        collect(consumer.poll(Duration.ofMillis(200)), mine, out);
      }
      long settle = System.nanoTime() + Duration.ofSeconds(1).toNanos();
      while (System.nanoTime() < settle) {
        collect(consumer.poll(Duration.ofMillis(200)), mine, out);
      }
      return out;
    }
  }

  private static <K, V> void collect(
      Iterable<ConsumerRecord<K, V>> records, Predicate<V> mine, List<V> out) {
    for (ConsumerRecord<K, V> record : records) {
      if (mine.test(record.value())) {
        out.add(record.value());
      }
    }
  }
}
