package dev.prefstream.ingest;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Deletes by-model records that ingest has consumed and committed, as Kafka Streams does for its
 * own repartition topics (every 30 s, {@code repartition.purge.interval.ms}'s default): the topic
 * never expires records by time, so nothing unconsumed is ever lost, and nothing consumed stays. A
 * failed round is logged and tried again at the next one.
 */
final class ByModelPurger implements AutoCloseable {
  static final long INTERVAL_MS = 30_000;
  private static final Logger log = LoggerFactory.getLogger(ByModelPurger.class);

  private final Admin admin;
  private final String groupId;
  private final String topic;
  private final ScheduledExecutorService timer;
  private final Map<TopicPartition, Long> purged = new HashMap<>();

  ByModelPurger(Map<String, Object> client, String groupId, String topic) {
    this.admin = Admin.create(client);
    this.groupId = groupId;
    this.topic = topic;
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "ingest-by-model-purger");
              t.setDaemon(true);
              return t;
            });
    timer.scheduleWithFixedDelay(this::purge, INTERVAL_MS, INTERVAL_MS, TimeUnit.MILLISECONDS);
  }

  /** Deletes every record before the group's committed offset on each by-model partition. */
  void purge() {
    try {
      Map<TopicPartition, OffsetAndMetadata> committed =
          admin
              .listConsumerGroupOffsets(groupId)
              .partitionsToOffsetAndMetadata()
              .get(30, TimeUnit.SECONDS);
      Map<TopicPartition, RecordsToDelete> delete = new HashMap<>();
      committed.forEach(
          (tp, offset) -> {
            if (tp.topic().equals(topic)
                && offset != null
                && offset.offset() > purged.getOrDefault(tp, 0L)) {
              delete.put(tp, RecordsToDelete.beforeOffset(offset.offset()));
            }
          });
      if (!delete.isEmpty()) {
        admin.deleteRecords(delete).all().get(30, TimeUnit.SECONDS);
        delete.forEach((tp, r) -> purged.put(tp, r.beforeOffset()));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (Exception e) {
      log.warn(
          "could not delete consumed records of {} (tried again later): {}", topic, e.toString());
    }
  }

  @Override
  public void close() {
    timer.shutdownNow();
    try {
      timer.awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    admin.close();
  }
}
