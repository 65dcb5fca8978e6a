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
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.serde.WireFormatException;
import java.time.Instant;
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
 * exactly one partition). It wires the pieces, each with one job: the {@link BatchQueue} of pairs
 * not yet trained, the {@link VersionDraft} of the next version's lineage, the {@link Gate} with
 * its held-out pairs, and the {@link VersionWriter} that commits versions and refusals; it keeps
 * the step and version counters and the last published state to fall back on.
 */
final class ModelSession implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ModelSession.class);

  /** What a publish attempt did. */
  sealed interface Result {
    record Published(AdapterManifest manifest, List<Instant> pairOccurredAt) implements Result {}

    record Refused(VersionRefusal refusal) implements Result {}
  }

  private final String modelId;
  private final TopicPartition partition;
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
      TopicPartition partition,
      Learner learner,
      AdapterPublisher publisher,
      TrainerStateWriter stateWriter,
      TrainerConfig config,
      BaseModel baseModel) {
    this.modelId = modelId;
    this.partition = partition;
    this.learner = learner;
    this.config = config;
    this.metrics = new ModelMetrics(modelId);
    this.draft = new VersionDraft(partition);
    this.gate = new Gate(config);
    this.writer = new VersionWriter(modelId, partition, publisher, stateWriter, config, baseModel);
    this.publishedState = learner.stateFiles();
  }

  /** Continues from the state committed with the last version (or refusal). */
  void restore(TrainerStateReader.Restored restored) {
    TrainerState state = restored.state();
    learner.restore(restored.files());
    publishedState = restored.files();
    gate.restore(restored.files().get(Gate.HELD_OUT_FILE));
    version = state.getVersion();
    step = state.getStep();
    publishedStep = step;
    skippedBatches = state.getSkippedBatches();
    metrics.currentVersion.set(version);
    for (PartitionPosition p : state.getPositions()) {
      if (p.getTopic().equals(partition.topic()) && p.getPartition() == partition.partition()) {
        draft.startAt(p.getNextOffset());
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

  /** True when {@code offset} is already part of a published version of this model. */
  boolean alreadyPublished(long offset) {
    return draft.before(offset);
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
          "{}: pair {} at {}@{} cannot be trained: {}",
          modelId,
          pair.getPairId(),
          partition,
          record.offset(),
          problem.get());
      reject(record, DeadLetterReason.UNUSABLE_PAIR, problem.get(), pair.getEventIds());
      listener.onDeadLetter(modelId, DeadLetterReason.UNUSABLE_PAIR.code());
      return;
    }
    draft.saw(record.offset());
    if (gate.holdOut(pair)) {
      metrics.heldOutPairs.incrementAndGet();
      return;
    }
    queue.add(record.offset(), pair, nowNanos);
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

  /** Trains the oldest {@code size} pending pairs as one batch. */
  void trainBatch(int size, TrainerListener listener) {
    List<BatchQueue.Pending> taken = queue.take(size);
    List<PreferencePair> pairs = taken.stream().map(BatchQueue.Pending::pair).toList();
    long started = System.nanoTime();
    Learner.StepReport report = learner.step(pairs);
    Map<String, Double> stepMetrics = new TreeMap<>(report.metrics());
    stepMetrics.put(MetricNames.STEP_MS, (System.nanoTime() - started) / 1e6);
    long first = taken.get(0).offset();
    long last = taken.get(taken.size() - 1).offset();
    draft.trained(
        step,
        first,
        last,
        pairs.size(),
        report.applied(),
        stepMetrics,
        pairs.stream().map(PreferencePair::getOccurredAt).toList());
    metrics.stepped(report.applied(), pairs.size(), report.metrics());
    if (report.applied()) {
      step++;
    } else {
      skippedBatches++;
      log.warn(
          "{}: skipped the batch at offsets {}-{} of {}: non-finite loss or gradient ({})",
          modelId,
          first,
          last,
          partition,
          report.metrics());
    }
    listener.onStep(modelId, step, report.applied(), pairs.size(), stepMetrics);
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
   * The first offset this session still needs re-read after a crash: empty when everything it
   * consumed is (or, {@code afterPublishing}, is about to be) accounted for by a committed record.
   */
  OptionalLong holdBack(boolean afterPublishing) {
    return draft.holdBack(afterPublishing, !queue.isEmpty());
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

  TopicPartition partition() {
    return partition;
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
