package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.PartitionPosition;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.serde.WireFormatException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One model id's training on one pairs partition (pairs are keyed by model id, so a model lives on
 * exactly one partition), and with an unpaired loss also on the unpaired partition of the same
 * number (that topic is keyed by model id too: co-partitioned). It wires the pieces, each with one
 * job: the {@link BatchQueue} of pairs not yet trained, the {@link VersionDraft} of the next
 * version's lineage, the {@link Gate} with its held-out pairs, and the {@link VersionWriter} that
 * commits versions and refusals; it keeps the step and version counters and the last published
 * state to fall back on.
 */
final class ModelSession implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ModelSession.class);

  /** What a publish attempt did. */
  sealed interface Result {
    record Published(AdapterManifest manifest, List<Instant> pairOccurredAt) implements Result {}

    record Refused(VersionRefusal refusal) implements Result {}
  }

  private final String modelId;
  private final List<TopicPartition> partitions;
  private final Learner learner;
  private final TrainerConfig config;
  private final ModelMetrics metrics;
  private final BatchQueue queue = new BatchQueue();
  private final VersionDraft draft;
  private final Gate gate;
  private final VersionWriter writer;
  private Map<String, byte[]> publishedState;
  private long version;
  private long step;
  private long publishedStep;
  private long skippedBatches;
  private long lastPublishNanos = System.nanoTime();

  ModelSession(
      String modelId,
      List<TopicPartition> partitions,
      Learner learner,
      AdapterPublisher publisher,
      TrainerStateWriter stateWriter,
      TrainerConfig config,
      BaseModel baseModel) {
    this.modelId = modelId;
    this.partitions = List.copyOf(partitions);
    this.learner = learner;
    this.config = config;
    this.metrics = new ModelMetrics(modelId);
    this.draft = new VersionDraft(partitions);
    this.gate = new Gate(config);
    this.writer = new VersionWriter(modelId, publisher, stateWriter, config, baseModel);
    this.publishedState = learner.stateFiles();
  }

  /** Continues from the state committed with the last version (or refusal). */
  void restore(TrainerStateReader.Restored restored) {
    TrainerState state = restored.state();
    learner.restore(restored.files());
    publishedState = restored.files();
    gate.restore(restored.files());
    version = state.getVersion();
    step = state.getStep();
    publishedStep = step;
    skippedBatches = state.getSkippedBatches();
    metrics.currentVersion.set(version);
    for (PartitionPosition p : state.getPositions()) {
      TopicPartition tp = new TopicPartition(p.getTopic(), p.getPartition());
      if (partitions.contains(tp)) {
        draft.startAt(tp, p.getNextOffset());
      }
    }
    if (!state.getConfigHash().equals(config.configHash())) {
      log.warn(
          "{}: training settings changed since v{} (config hash {} -> {}); continuing from its"
              + " state with the new settings",
          modelId,
          version,
          state.getConfigHash().substring(0, 12),
          config.configHash().substring(0, 12));
    }
    log.info("{}: resumed at v{}, step {}", modelId, version, step);
  }

  /**
   * True when {@code offset} of {@code tp} is already part of a published version of this model.
   */
  boolean alreadyPublished(TopicPartition tp, long offset) {
    return draft.before(tp, offset);
  }

  /** A pairs record that cannot be read: a dead letter that commits with the range holding it. */
  void rejectUnreadable(
      ConsumerRecord<String, byte[]> record, WireFormatException e, TrainerListener listener) {
    reject(record, e.reason(), e.getMessage(), null);
    listener.onDeadLetter(modelId, e.reason().code());
  }

  /**
   * Takes the pair in {@code record}: held out for the gate, queued for training, or, when the
   * learner cannot use it, a dead letter.
   */
  void add(
      ConsumerRecord<String, byte[]> record,
      PreferencePair pair,
      long nowNanos,
      TrainerListener listener) {
    Optional<String> problem = learner.problemWith(pair);
    if (problem.isPresent()) {
      log.error(
          "{}: pair {} at {}-{}@{} cannot be trained: {}",
          modelId,
          pair.getPairId(),
          record.topic(),
          record.partition(),
          record.offset(),
          problem.get());
      reject(record, DeadLetterReason.UNUSABLE_PAIR, problem.get(), pair.getEventIds());
      listener.onDeadLetter(modelId, DeadLetterReason.UNUSABLE_PAIR.code());
      return;
    }
    TopicPartition tp = new TopicPartition(record.topic(), record.partition());
    draft.saw(tp, record.offset());
    if (gate.holdOut(pair)) {
      metrics.heldOutPairs.incrementAndGet();
      return;
    }
    queue.add(tp, record.offset(), pair, nowNanos);
  }

  /**
   * Takes the unpaired record (thumbs up/down) in {@code record}, as {@link #add(ConsumerRecord,
   * PreferencePair, long, TrainerListener)} takes a pair: held out, queued, or a dead letter.
   */
  void add(
      ConsumerRecord<String, byte[]> record,
      UnpairedFeedback example,
      long nowNanos,
      TrainerListener listener) {
    Optional<String> problem = learner.problemWith(example);
    if (problem.isPresent()) {
      log.error(
          "{}: unpaired record {} at {}-{}@{} cannot be trained: {}",
          modelId,
          example.getFeedbackId(),
          record.topic(),
          record.partition(),
          record.offset(),
          problem.get());
      reject(record, DeadLetterReason.UNUSABLE_PAIR, problem.get(), example.getEventIds());
      listener.onDeadLetter(modelId, DeadLetterReason.UNUSABLE_PAIR.code());
      return;
    }
    TopicPartition tp = new TopicPartition(record.topic(), record.partition());
    draft.saw(tp, record.offset());
    if (gate.holdOut(example)) {
      metrics.heldOutPairs.incrementAndGet();
      return;
    }
    queue.add(tp, record.offset(), example, nowNanos);
  }

  private void reject(
      ConsumerRecord<String, byte[]> record,
      DeadLetterReason reason,
      String message,
      List<String> eventIds) {
    draft.deadLetter(
        Rejections.of(
            record,
            reason.code(),
            message,
            modelId,
            eventIds == null || eventIds.isEmpty() ? null : eventIds.get(0)),
        System.nanoTime());
  }

  int pendingCount() {
    return queue.size();
  }

  /** True when the oldest pending pair has waited at least {@code maxWaitNanos}. */
  boolean waitedTooLong(long nowNanos, long maxWaitNanos) {
    return queue.waitedTooLong(nowNanos, maxWaitNanos);
  }

  /**
   * Trains the oldest {@code size} pending records as one batch. Its records are put in a canonical
   * order, the one the batch's ranges name: pairs by offset, then unpaired records by offset (which
   * partition's records arrived first does not matter within a batch).
   */
  void trainBatch(int size, TrainerListener listener) {
    List<BatchQueue.Pending> taken = new ArrayList<>(queue.take(size));
    taken.sort(
        Comparator.comparingInt((BatchQueue.Pending p) -> partitions.indexOf(p.partition()))
            .thenComparingLong(BatchQueue.Pending::offset));
    List<PreferencePair> pairs = new ArrayList<>();
    List<UnpairedFeedback> unpaired = new ArrayList<>();
    Map<TopicPartition, long[]> ranges = new LinkedHashMap<>();
    for (BatchQueue.Pending p : taken) {
      if (p.pair() != null) {
        pairs.add(p.pair());
      } else {
        unpaired.add(p.unpaired());
      }
      ranges.computeIfAbsent(p.partition(), k -> new long[] {p.offset(), p.offset()})[1] =
          p.offset();
    }
    long started = System.nanoTime();
    Learner.StepReport report =
        unpaired.isEmpty() ? learner.step(pairs) : learner.step(pairs, unpaired);
    Map<String, Double> stepMetrics = new TreeMap<>(report.metrics());
    stepMetrics.put(MetricNames.STEP_MS, (System.nanoTime() - started) / 1e6);
    draft.trained(
        step,
        ranges,
        taken.size(),
        report.applied(),
        stepMetrics,
        taken.stream().map(BatchQueue.Pending::occurredAt).toList());
    metrics.stepped(report.applied(), taken.size(), report.metrics());
    if (report.applied()) {
      step++;
    } else {
      skippedBatches++;
      log.warn(
          "{}: skipped the batch at {}: non-finite loss or gradient ({})",
          modelId,
          describe(ranges),
          report.metrics());
    }
    listener.onStep(modelId, step, report.applied(), taken.size(), stepMetrics);
  }

  private static String describe(Map<TopicPartition, long[]> ranges) {
    List<String> parts = new ArrayList<>();
    ranges.forEach((tp, r) -> parts.add(tp + " offsets " + r[0] + "-" + r[1]));
    return String.join(", ", parts);
  }

  /** True when a version is due: enough batches, or enough time with at least one batch. */
  boolean publishDue(long nowNanos) {
    if (!draft.hasBatches()) {
      return false;
    }
    long everyMs = config.getLong(TrainerConfig.PUBLISH_EVERY_MS_CONFIG);
    return draft.batchCount() >= config.getInt(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG)
        || (everyMs > 0 && nowNanos - lastPublishNanos >= everyMs * 1_000_000);
  }

  /**
   * The first offset of {@code tp} this session still needs re-read after a crash: empty when
   * everything it consumed there is (or, {@code afterPublishing}, is about to be) accounted for by
   * a committed record.
   */
  OptionalLong holdBack(TopicPartition tp, boolean afterPublishing) {
    return draft.holdBack(tp, afterPublishing, queue.holds(tp));
  }

  /**
   * Publishes the batches trained since the last version as a new version, or, when the candidate
   * has non-finite weights or fails the gate, records a refusal and goes back to the last published
   * state. Either way one transaction also commits the trainer state and {@code offsets}.
   */
  Result publishOrRefuse(
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group,
      List<Rejection> partitionDeadLetters) {
    Learner.Snapshot candidate = learner.adapter();
    Map<String, Double> evaluation = gate.evaluate(learner);
    Map<String, Double> allMetrics = new LinkedHashMap<>(draft.meanMetrics());
    allMetrics.putAll(evaluation);
    Optional<Gate.Refusal> refusal =
        candidate.finite()
            ? gate.verdict(evaluation)
            : Optional.of(
                new Gate.Refusal(
                    "non_finite_weights", "the candidate adapter has NaN or Inf weights"));
    Result result;
    if (refusal.isEmpty()) {
      Map<String, byte[]> state = learner.stateFiles();
      AdapterManifest manifest =
          writer.publish(
              version + 1,
              draft,
              candidate,
              allMetrics,
              new VersionWriter.Commit(
                  step, skippedBatches, gate.with(state), offsets, group, partitionDeadLetters));
      version++;
      publishedStep = step;
      publishedState = state;
      metrics.versionsPublished.incrementAndGet();
      metrics.currentVersion.set(version);
      result = new Result.Published(manifest, draft.occurredAt());
    } else {
      learner.restore(publishedState);
      step = publishedStep;
      VersionRefusal refused =
          writer.refuse(
              version,
              draft,
              refusal.get(),
              allMetrics,
              new VersionWriter.Commit(
                  step,
                  skippedBatches,
                  gate.with(publishedState),
                  offsets,
                  group,
                  partitionDeadLetters));
      metrics.versionsRefused.incrementAndGet();
      result = new Result.Refused(refused);
    }
    draft.next();
    lastPublishNanos = System.nanoTime();
    return result;
  }

  /**
   * True when nothing is left to train or publish but dead letters that have waited {@code
   * waitNanos}: they commit on their own ({@link #commitDeadLetters}), so a model whose pairs are
   * all unusable does not hold its partition back.
   */
  boolean deadLettersDue(long nowNanos, long waitNanos) {
    return !draft.hasBatches() && queue.isEmpty() && draft.deadLettersWaited(nowNanos, waitNanos);
  }

  /**
   * Commits what this session has besides batches (its dead letters, {@code partitionDeadLetters})
   * with the unchanged state and {@code offsets}, in one transaction without a version. The
   * held-out pairs in the range stay held out.
   */
  void commitDeadLetters(
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group,
      List<Rejection> partitionDeadLetters) {
    if (draft.hasBatches() || !queue.isEmpty()) {
      throw new IllegalStateException(modelId + " has pairs to train or publish first");
    }
    draft.sealWithoutBatches();
    writer.commitDeadLetters(
        version,
        draft,
        new VersionWriter.Commit(
            step, skippedBatches, gate.with(publishedState), offsets, group, partitionDeadLetters));
    draft.next();
  }

  /** True when {@link #commitDeadLetters} may run now (nothing to train or publish first). */
  boolean canCommitDeadLetters() {
    return !draft.hasBatches() && queue.isEmpty() && draft.started();
  }

  String modelId() {
    return modelId;
  }

  /** The model's input partitions: its pairs partition, then (unpaired loss) its unpaired one. */
  List<TopicPartition> partitions() {
    return partitions;
  }

  /** True when {@code tp} is one of this model's input partitions. */
  boolean owns(TopicPartition tp) {
    return partitions.contains(tp);
  }

  long version() {
    return version;
  }

  @Override
  public void close() {
    try (metrics;
        learner) {
      writer.close();
    }
  }
}
