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
 * The next version's lineage while it is being trained: per input partition of the model (its
 * {@code pairs} partition, and with an unpaired loss its {@code unpaired} partition of the same
 * number) a range {@code [from, trainedThrough)}, the batches in them, their metrics, the
 * occurrence times of the records it trained, and the dead letters found in it. A version (or a
 * refusal) takes the ranges, and the next draft starts at their ends: a model's versions and
 * refusals tile each of its partitions.
 */
final class VersionDraft {
  /** One input partition's part of the draft. */
  private static final class Span {
    long from = -1;
    long trainedThrough = -1;
    long lastSeen = -1;

    boolean started() {
      return from >= 0;
    }

    void startAt(long offset) {
      from = offset;
      trainedThrough = Math.max(trainedThrough, offset);
    }
  }

  private final Map<TopicPartition, Span> spans = new LinkedHashMap<>();
  private final List<TrainingBatch> batches = new ArrayList<>();
  private final List<Instant> occurredAt = new ArrayList<>();
  private final List<Rejection> deadLetters = new ArrayList<>();
  private final Map<String, double[]> metricSums = new TreeMap<>();
  private long firstDeadLetterNanos;
  private int records;

  /**
   * @param partitions the model's input partitions, the lineage's order
   */
  VersionDraft(List<TopicPartition> partitions) {
    for (TopicPartition tp : partitions) {
      spans.put(tp, new Span());
    }
  }

  private Span span(TopicPartition tp) {
    Span span = spans.get(tp);
    if (span == null) {
      throw new IllegalArgumentException(tp + " is not an input of this model: " + spans.keySet());
    }
    return span;
  }

  /** Continues after a restore: the next version starts at {@code nextOffset} of {@code tp}. */
  void startAt(TopicPartition tp, long nextOffset) {
    span(tp).startAt(nextOffset);
  }

  /** True when {@code offset} of {@code tp} lies before this draft: in a committed version. */
  boolean before(TopicPartition tp, long offset) {
    Span span = span(tp);
    return span.started() && offset < span.from;
  }

  /** Notes that a record at {@code offset} is this draft's (the first one fixes its start). */
  void saw(TopicPartition tp, long offset) {
    Span span = span(tp);
    if (!span.started()) {
      span.startAt(offset);
    }
    span.lastSeen = Math.max(span.lastSeen, offset);
  }

  void deadLetter(Rejection rejection, long nowNanos) {
    saw(source(rejection), rejection.getSourceOffset());
    if (deadLetters.isEmpty()) {
      firstDeadLetterNanos = nowNanos;
    }
    deadLetters.add(rejection);
  }

  private static TopicPartition source(Rejection rejection) {
    return new TopicPartition(rejection.getSourceTopic(), rejection.getSourcePartition());
  }

  /** True when dead letters wait for a commit and the oldest has waited {@code waitNanos}. */
  boolean deadLettersWaited(long nowNanos, long waitNanos) {
    return !deadLetters.isEmpty() && nowNanos - firstDeadLetterNanos >= waitNanos;
  }

  /**
   * Closes a draft without batches (its records were all dead letters or held out): its ranges end
   * after the last record they saw, so a commit of it takes every dead letter.
   */
  void sealWithoutBatches() {
    if (!batches.isEmpty()) {
      throw new IllegalStateException("the draft has " + batches.size() + " batches to publish");
    }
    for (Span span : spans.values()) {
      if (span.started()) {
        span.trainedThrough = Math.max(span.from, span.lastSeen + 1);
      }
    }
  }

  /**
   * Records a trained batch: per partition the offsets {@code [first, last]} of its records ({@code
   * ranges}, each {@code long[]{first, last}}), {@code size} records in all.
   */
  void trained(
      long step,
      Map<TopicPartition, long[]> ranges,
      int size,
      boolean wasApplied,
      Map<String, Double> stepMetrics,
      List<Instant> recordsOccurredAt) {
    List<OffsetRange> batchRanges = new ArrayList<>();
    for (Map.Entry<TopicPartition, Span> e : spans.entrySet()) {
      long[] range = ranges.get(e.getKey());
      if (range != null) {
        TopicPartition tp = e.getKey();
        batchRanges.add(new OffsetRange(tp.topic(), tp.partition(), range[0], range[1] + 1));
        e.getValue().trainedThrough = range[1] + 1;
      }
    }
    batches.add(
        new TrainingBatch(
            step,
            batchRanges,
            wasApplied ? size : 0,
            wasApplied ? BatchStatus.APPLIED : BatchStatus.SKIPPED_NON_FINITE));
    if (wasApplied) {
      records += size;
      occurredAt.addAll(recordsOccurredAt);
      stepMetrics.forEach(
          (k, v) -> {
            double[] sum = metricSums.computeIfAbsent(k, x -> new double[2]);
            sum[0] += v;
            sum[1]++;
          });
    }
  }

  /** True once the draft knows where it starts (a record seen, or a restored position). */
  boolean started() {
    return spans.values().stream().anyMatch(Span::started);
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

  /** Records trained into this draft (a pair counts once, also when split into two examples). */
  int pairs() {
    return records;
  }

  /** Where the next version starts, per started partition: the trainer state's positions. */
  Map<TopicPartition, Long> trainedThrough() {
    Map<TopicPartition, Long> ends = new LinkedHashMap<>();
    spans.forEach(
        (tp, span) -> {
          if (span.started()) {
            ends.put(tp, span.trainedThrough);
          }
        });
    return ends;
  }

  List<Instant> occurredAt() {
    return List.copyOf(occurredAt);
  }

  /**
   * The mean of every step metric over the applied batches that have it (KTO's rewards/chosen, for
   * one, only batches with a desirable example have).
   */
  Map<String, Double> meanMetrics() {
    Map<String, Double> means = new LinkedHashMap<>();
    metricSums.forEach((k, sum) -> means.put(k, sum[0] / Math.max(1, sum[1])));
    return means;
  }

  /**
   * The ranges a version of this draft covers, one per partition it advanced on (a partition
   * without new records in this version has no range).
   */
  List<OffsetRange> lineage() {
    List<OffsetRange> lineage = new ArrayList<>();
    spans.forEach(
        (tp, span) -> {
          if (span.started() && span.trainedThrough > span.from) {
            lineage.add(
                new OffsetRange(tp.topic(), tp.partition(), span.from, span.trainedThrough));
          }
        });
    if (lineage.isEmpty()) {
      // a draft sealed on nothing new: keep the first started partition's (empty) position
      spans.forEach(
          (tp, span) -> {
            if (lineage.isEmpty() && span.started()) {
              lineage.add(new OffsetRange(tp.topic(), tp.partition(), span.from, span.from));
            }
          });
    }
    return lineage;
  }

  /** Removes and returns the dead letters inside the trained ranges: they commit with them. */
  List<Rejection> takeDeadLettersInRange() {
    List<Rejection> inRange =
        deadLetters.stream()
            .filter(r -> r.getSourceOffset() < span(source(r)).trainedThrough)
            .toList();
    deadLetters.removeAll(inRange);
    if (!deadLetters.isEmpty()) {
      firstDeadLetterNanos = System.nanoTime();
    }
    return inRange;
  }

  /**
   * The first offset of {@code tp} still needed after a crash: empty when everything seen there is
   * (or, {@code afterPublishing}, is about to be) in a committed record.
   *
   * @param pending true when records of {@code tp} wait in the batch queue
   */
  OptionalLong holdBack(TopicPartition tp, boolean afterPublishing, boolean pending) {
    Span span = span(tp);
    if (!span.started()) {
      return OptionalLong.empty();
    }
    boolean letters =
        deadLetters.stream()
            .anyMatch(
                r ->
                    source(r).equals(tp)
                        && (!afterPublishing || r.getSourceOffset() >= span.trainedThrough));
    if (afterPublishing) {
      return pending || letters ? OptionalLong.of(span.trainedThrough) : OptionalLong.empty();
    }
    // any trained batch, of either partition, holds every started range back until it publishes
    return !pending && batches.isEmpty() && !letters
        ? OptionalLong.empty()
        : OptionalLong.of(span.from);
  }

  /** Starts the next draft where this one's trained ranges end. */
  void next() {
    for (Span span : spans.values()) {
      if (span.started()) {
        span.from = span.trainedThrough;
      }
    }
    batches.clear();
    metricSums.clear();
    occurredAt.clear();
    records = 0;
  }
}
