package dev.prefstream.audit;

import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.TrainingBatch;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Whether each version can still be replayed: the pairs of its batches are still retained, and so
 * are those of every version between it and the nearest state replay can start from (a snapshot on
 * trainer-snapshots, a rollback's published weights, or the initial adapter), and its training
 * settings are recorded.
 */
public final class Replayability {
  private Replayability() {}

  /**
   * Version -> empty when it can be replayed, else why not; in version order.
   *
   * @param earliest the first offset each pairs partition still holds
   */
  public static Map<Long, Optional<String>> of(
      ModelHistory history, SnapshotLog snapshots, Map<TopicPartition, Long> earliest) {
    Map<Long, Optional<String>> result = new LinkedHashMap<>();
    Map<Long, Optional<String>> memo = new HashMap<>();
    for (AdapterManifest m : history.manifests()) {
      result.putIfAbsent(
          m.getVersion(), check(history, snapshots, earliest, m, memo, new HashSet<>()));
    }
    return result;
  }

  private static Optional<String> check(
      ModelHistory history,
      SnapshotLog snapshots,
      Map<TopicPartition, Long> earliest,
      AdapterManifest m,
      Map<Long, Optional<String>> memo,
      Set<Long> visiting) {
    Optional<String> known = memo.get(m.getVersion());
    if (known != null) {
      return known;
    }
    if (!visiting.add(m.getVersion())) {
      return Optional.of("its parent chain loops");
    }
    Optional<String> answer;
    if (history.isRollbackLike(m)) {
      answer = Optional.empty();
    } else if (snapshots.settings(m.getConfigHash()).isEmpty()) {
      answer =
          Optional.of(
              "no snapshot records its training settings (config hash "
                  + m.getConfigHash().substring(0, 12)
                  + "): replay needs the trainer's configuration");
    } else {
      answer = Optional.empty();
      for (TrainingBatch b : m.getBatches()) {
        for (OffsetRange r : b.getRanges()) {
          Long first = earliest.get(new TopicPartition(r.getTopic(), r.getPartition()));
          if (first == null || first > r.getFromOffset()) {
            answer =
                Optional.of(
                    "records "
                        + r.getTopic()
                        + "-"
                        + r.getPartition()
                        + "@"
                        + r.getFromOffset()
                        + " are past retention");
          }
        }
      }
      Long source = history.contentSource(m);
      if (answer.isEmpty() && source != null && !snapshots.has(source)) {
        Optional<AdapterManifest> parent = history.manifest(source);
        if (parent.isEmpty()) {
          answer = Optional.of("its parent v" + source + " is not on the adapters topic");
        } else if (!history.isRollbackLike(parent.get())) {
          Optional<String> parentAnswer =
              check(history, snapshots, earliest, parent.get(), memo, visiting);
          if (parentAnswer.isPresent()) {
            answer =
                Optional.of(
                    "no snapshot of v"
                        + source
                        + ", which cannot be replayed: "
                        + parentAnswer.get());
          }
        }
      }
    }
    memo.put(m.getVersion(), answer);
    return answer;
  }

  /** The first offset each partition of {@code topic} still holds. */
  public static Map<TopicPartition, Long> earliestOffsets(
      Map<String, Object> clientProperties, String topic) {
    Map<String, Object> props = new HashMap<>(clientProperties);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.remove(ConsumerConfig.GROUP_ID_CONFIG);
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
              .map(p -> new TopicPartition(p.topic(), p.partition()))
              .toList();
      return consumer.beginningOffsets(partitions, Duration.ofSeconds(30));
    }
  }
}
