package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.TopicPartition;

/**
 * One model's records waiting for a batch, oldest first (in arrival order), with their partitions,
 * offsets and arrival times: pairs, and with an unpaired loss also thumbs up/down from the {@code
 * unpaired} topic. Each partition's records arrive in offset order, so a batch holds, per
 * partition, consecutive records of the model.
 */
final class BatchQueue {
  /** A record waiting to be trained: a pair, or an unpaired example ({@code pair} null). */
  record Pending(
      TopicPartition partition,
      long offset,
      PreferencePair pair,
      UnpairedFeedback unpaired,
      long arrivedNanos) {

    Instant occurredAt() {
      return pair != null ? pair.getOccurredAt() : unpaired.getOccurredAt();
    }
  }

  private final List<Pending> pending = new ArrayList<>();

  void add(TopicPartition partition, long offset, PreferencePair pair, long nowNanos) {
    pending.add(new Pending(partition, offset, pair, null, nowNanos));
  }

  void add(TopicPartition partition, long offset, UnpairedFeedback example, long nowNanos) {
    pending.add(new Pending(partition, offset, null, example, nowNanos));
  }

  int size() {
    return pending.size();
  }

  boolean isEmpty() {
    return pending.isEmpty();
  }

  /** True when a record of {@code partition} is waiting. */
  boolean holds(TopicPartition partition) {
    return pending.stream().anyMatch(p -> p.partition().equals(partition));
  }

  /** True when the oldest pair has waited at least {@code maxWaitNanos} (0: never). */
  boolean waitedTooLong(long nowNanos, long maxWaitNanos) {
    return maxWaitNanos > 0
        && !pending.isEmpty()
        && nowNanos - pending.get(0).arrivedNanos() >= maxWaitNanos;
  }

  /** Removes and returns the oldest {@code size} records. */
  List<Pending> take(int size) {
    List<Pending> taken = new ArrayList<>(pending.subList(0, size));
    pending.subList(0, size).clear();
    return taken;
  }
}
