package dev.prefstream.schemas;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Creates the topics of the catalogue that do not exist yet; leaves existing ones alone. */
public final class TopicAdmin {
  private static final Logger log = LoggerFactory.getLogger(TopicAdmin.class);

  private TopicAdmin() {}

  /**
   * Waits until every partition of {@code topics} has a leader that hosts it. Producing to a topic
   * the broker has created but not yet led loses records of an idempotent producer: the first
   * request fails with NOT_LEADER_OR_FOLLOWER, a second one lands, and every retry of the first
   * then fails with OUT_OF_ORDER_SEQUENCE_NUMBER until delivery.timeout.ms drops it (KAFKA-15591; a
   * CI run lost the first 17 records of a test this way). A leader in the metadata is not enough: a
   * broker publishes the new metadata before its replica manager creates the partition, so this
   * also lists every partition's end offset, which only the hosting leader answers.
   */
  public static void awaitLeaders(Admin admin, List<String> topics)
      throws InterruptedException, ExecutionException, TimeoutException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!topics.isEmpty()) {
      Map<TopicPartition, OffsetSpec> led = ledPartitions(admin, topics);
      if (led != null) {
        // the admin client retries NOT_LEADER_OR_FOLLOWER itself, until the leader hosts them
        admin.listOffsets(led).all().get(30, TimeUnit.SECONDS);
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new TimeoutException(
            "topics " + topics + " have partitions without a leader after 30 s");
      }
      Thread.sleep(50);
    }
  }

  /** Every partition of {@code topics}, or null while one has no leader in the metadata. */
  private static Map<TopicPartition, OffsetSpec> ledPartitions(Admin admin, List<String> topics)
      throws InterruptedException, ExecutionException, TimeoutException {
    Map<TopicPartition, OffsetSpec> partitions = new HashMap<>();
    try {
      for (TopicDescription d :
          admin.describeTopics(topics).allTopicNames().get(30, TimeUnit.SECONDS).values()) {
        for (TopicPartitionInfo p : d.partitions()) {
          if (p.leader() == null || p.leader().isEmpty()) {
            return null;
          }
          partitions.put(new TopicPartition(d.name(), p.partition()), OffsetSpec.latest());
        }
      }
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
        throw e;
      }
      return null; // the broker answering describe has not seen the new topic's metadata yet
    }
    return partitions;
  }

  /**
   * Creates missing topics.
   *
   * @param replicationFactor -1 for the broker's {@code default.replication.factor}
   * @return the names created now
   */
  public static List<String> ensure(
      Admin admin, Collection<Topics.TopicSpec> specs, short replicationFactor) {
    try {
      Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
      List<NewTopic> missing = new ArrayList<>();
      for (Topics.TopicSpec spec : specs) {
        if (!existing.contains(spec.name())) {
          Optional<Short> rf =
              replicationFactor > 0 ? Optional.of(replicationFactor) : Optional.empty();
          missing.add(
              new NewTopic(spec.name(), Optional.of(spec.partitions()), rf)
                  .configs(spec.configs()));
        }
      }
      if (missing.isEmpty()) {
        return List.of();
      }
      List<String> created = new ArrayList<>();
      for (var entry : admin.createTopics(missing).values().entrySet()) {
        try {
          entry.getValue().get(30, TimeUnit.SECONDS);
          created.add(entry.getKey());
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw new IllegalStateException(
                "cannot create topic " + entry.getKey() + ": " + e.getCause().getMessage(),
                e.getCause());
          }
        }
      }
      awaitLeaders(admin, created);
      log.info("created topics {}", created);
      return created;
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("cannot list or create topics: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    }
  }
}
