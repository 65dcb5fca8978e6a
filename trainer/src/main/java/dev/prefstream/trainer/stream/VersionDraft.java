package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainingBatch;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.apache.kafka.common.TopicPartition;

/**
 * The next version's lineage while it is being trained: its range {@code [from, trainedThrough)} on
 * the model's partition, the batches in it, their metrics, the occurrence times of the pairs it
 * trained, and the dead letters found in it. A version (or a refusal) takes the range, and the next
 * draft starts at its end: a model's versions and refusals tile its partition.
 */
final class VersionDraft {
  private final TopicPartition partition;
  private final List<TrainingBatch> batches = new ArrayList<>();
  private final List<Instant> occurredAt = new ArrayList<>();
  private final List<Rejection> deadLetters = new ArrayList<>();
  private final Map<String, double[]> metricSums = new TreeMap<>();
  private long from = -1;
  private long trainedThrough = -1;
  private long lastSeen = -1;
  private long firstDeadLetterNanos;
  private int pairs;
  private int applied;

  VersionDraft(TopicPartition partition) {
    this.partition = partition;
  }

  /** Continues after a restore: the next version starts at {@code nextOffset}. */
  void startAt(long nextOffset) {
    from = nextOffset;
  }

  /** True when {@code offset} lies before this draft: already in a committed version. */
  boolean before(long offset) {
    return from >= 0 && offset < from;
  }

  /** Notes that a record at {@code offset} is this draft's (the first one fixes its start). */
  void saw(long offset) {
    if (from < 0) {
      from = offset;
    }
    lastSeen = Math.max(lastSeen, offset);
  }

  void deadLetter(Rejection rejection, long nowNanos) {
    saw(rejection.getSourceOffset());
    if (deadLetters.isEmpty()) {
      firstDeadLetterNanos = nowNanos;
    }
    deadLetters.add(rejection);
  }

  /** True when dead letters wait for a commit and the oldest has waited {@code waitNanos}. */
  boolean deadLettersWaited(long nowNanos, long waitNanos) {
    return !deadLetters.isEmpty() && nowNanos - firstDeadLetterNanos >= waitNanos;
  }

  /**
   * Closes a draft without batches (its records were all dead letters or held out): its range ends
   * after the last record it saw, so a commit of it takes every dead letter.
   */
  void sealWithoutBatches() {
    if (!batches.isEmpty()) {
      throw new IllegalStateException("the draft has " + batches.size() + " batches to publish");
    }
    trainedThrough = Math.max(from, lastSeen + 1);
  }

  /** Records a trained batch of offsets {@code first..last}. */
  void trained(
      long step,
      long first,
      long last,
      int size,
      boolean wasApplied,
      Map<String, Double> stepMetrics,
      List<Instant> pairsOccurredAt) {
    batches.add(
        new TrainingBatch(
            step,
            List.of(new OffsetRange(partition.topic(), partition.partition(), first, last + 1)),
            wasApplied ? size : 0,
            wasApplied ? BatchStatus.APPLIED : BatchStatus.SKIPPED_NON_FINITE));
    trainedThrough = last + 1;
    if (wasApplied) {
      applied++;
      pairs += size;
      occurredAt.addAll(pairsOccurredAt);
      stepMetrics.forEach((k, v) -> metricSums.computeIfAbsent(k, x -> new double[1])[0] += v);
    }
  }

  /** True once the draft knows where it starts (a record seen, or a restored position). */
  boolean started() {
    return from >= 0;
  }

  boolean hasBatches() {
    return !batches.isEmpty();
  }

  int batchCount() {
    return batches.size();
  }

  List<TrainingBatch> batches() {
    return new ArrayList<>(batches);
  }

  int pairs() {
    return pairs;
  }

  long trainedThrough() {
    return trainedThrough;
  }

  List<Instant> occurredAt() {
    return List.copyOf(occurredAt);
  }

  /** The mean of every step metric over the applied batches. */
  Map<String, Double> meanMetrics() {
    Map<String, Double> means = new LinkedHashMap<>();
    metricSums.forEach((k, sum) -> means.put(k, sum[0] / Math.max(1, applied)));
    return means;
  }

  /** The range a version of this draft covers. */
  List<OffsetRange> lineage() {
    return List.of(new OffsetRange(partition.topic(), partition.partition(), from, trainedThrough));
  }

  /** Removes and returns the dead letters inside the trained range: they commit with it. */
  List<Rejection> takeDeadLettersInRange() {
    List<Rejection> inRange =
        deadLetters.stream().filter(r -> r.getSourceOffset() < trainedThrough).toList();
    deadLetters.removeAll(inRange);
    if (!deadLetters.isEmpty()) {
      firstDeadLetterNanos = System.nanoTime();
    }
    return inRange;
  }

  /**
   * The first offset still needed after a crash: empty when everything seen is (or, {@code
   * afterPublishing}, is about to be) in a committed record.
   */
  OptionalLong holdBack(boolean afterPublishing, boolean pendingPairs) {
    if (afterPublishing) {
      boolean left =
          pendingPairs || deadLetters.stream().anyMatch(r -> r.getSourceOffset() >= trainedThrough);
      return left ? OptionalLong.of(trainedThrough) : OptionalLong.empty();
    }
    return !pendingPairs && batches.isEmpty() && deadLetters.isEmpty()
        ? OptionalLong.empty()
        : OptionalLong.of(from);
  }

  /** Starts the next draft where this one's trained range ends. */
  void next() {
    from = trainedThrough;
    batches.clear();
    metricSums.clear();
    occurredAt.clear();
    pairs = 0;
    applied = 0;
  }
}
