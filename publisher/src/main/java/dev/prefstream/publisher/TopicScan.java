package dev.prefstream.publisher;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads a whole topic once (read_committed unless said otherwise), from the beginning to its end at
 * the time of the call.
 */
public final class TopicScan {
  private static final Duration TIMEOUT = Duration.ofSeconds(30);

  private TopicScan() {}

  /** Calls {@code each} for every committed record, partition by partition in offset order. */
  public static void readAll(
      Map<String, Object> clientProperties,
      String topic,
      Consumer<ConsumerRecord<String, byte[]>> each) {
    readAll(clientProperties, topic, "read_committed", each);
  }

  /**
   * As {@link #readAll}, read_uncommitted: every record as written, those of open and aborted
   * transactions too; it never waits for a transaction to end.
   */
  public static void readAllAsWritten(
      Map<String, Object> clientProperties,
      String topic,
      Consumer<ConsumerRecord<String, byte[]>> each) {
    readAll(clientProperties, topic, "read_uncommitted", each);
  }

  private static void readAll(
      Map<String, Object> clientProperties,
      String topic,
      String isolation,
      Consumer<ConsumerRecord<String, byte[]>> each) {
    Map<String, Object> props = new HashMap<>(clientProperties);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 << 20);
    props.remove(ConsumerConfig.GROUP_ID_CONFIG);
    try (KafkaConsumer<String, byte[]> consumer =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic, TIMEOUT).stream()
              .map(p -> new TopicPartition(p.topic(), p.partition()))
              .toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      // up to the high watermark, not the last stable offset a read_committed consumer reports:
      // a transaction of another producer still open on the partition would otherwise hide
      // records committed after it began (a version number read that way can be reused)
      Map<TopicPartition, Long> end = highWatermarks(props, partitions);
      while (partitions.stream().anyMatch(tp -> consumer.position(tp, TIMEOUT) < end.get(tp))) {
        consumer.poll(Duration.ofMillis(500)).forEach(each);
      }
    }
  }

  private static Map<TopicPartition, Long> highWatermarks(
      Map<String, Object> props, List<TopicPartition> partitions) {
    Map<String, Object> uncommitted = new HashMap<>(props);
    uncommitted.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    try (KafkaConsumer<String, byte[]> consumer =
        new KafkaConsumer<>(uncommitted, new StringDeserializer(), new ByteArrayDeserializer())) {
      return consumer.endOffsets(partitions, TIMEOUT);
    }
  }
}
