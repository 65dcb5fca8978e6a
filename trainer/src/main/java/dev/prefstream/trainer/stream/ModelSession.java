package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PartitionPosition;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.TrainingBatch;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.serde.WireFormatException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
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
 * exactly one partition): pairs not yet trained, batches trained since the last version, held-out
 * pairs for the gate, and {@link #nextOffset}, where the next version's lineage starts.
 *
 * <p>A model's versions and refusals tile its partition: each covers {@code [from, to)} and the
 * next starts at its {@code to}. Records of other models inside a range belong to those models.
 */
final class ModelSession implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ModelSession.class);

  private record Pending(long offset, PreferencePair pair, long arrivedNanos) {}

  /** What a publish attempt did. */
  sealed interface Result {
    record Published(AdapterManifest manifest, List<Instant> pairOccurredAt) implements Result {}

    record Refused(VersionRefusal refusal) implements Result {}
  }

  private final String modelId;
  private final TopicPartition partition;
  private final Learner learner;
  private final AdapterPublisher publisher;
  private final TrainerStateWriter stateWriter;
  private final TrainerConfig config;
  private final BaseModel baseModel;
  private final HoldoutSplit holdout;
  private final ModelMetrics metrics;
  private final List<Pending> pending = new ArrayList<>();
  private final List<TrainingBatch> batches = new ArrayList<>();
  private final List<Instant> trainedOccurredAt = new ArrayList<>();
  private final Deque<PreferencePair> heldOut = new ArrayDeque<>();
  private final List<Rejection> deadLetters = new ArrayList<>();
  private final Map<String, double[]> metricSums = new TreeMap<>();
  private Map<String, byte[]> publishedState;
  private long version;
  private long step;
  private long publishedStep;
  private long skippedBatches;
  private long nextOffset = -1;
  private long trainedThrough = -1;
  private int pairsSincePublish;
  private int appliedSincePublish;
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
    this.publisher = publisher;
    this.stateWriter = stateWriter;
    this.config = config;
    this.baseModel = baseModel;
    this.holdout = new HoldoutSplit(config.getDouble(TrainerConfig.HOLDOUT_PERCENT_CONFIG));
    this.metrics = new ModelMetrics(modelId);
    this.publishedState = learner.stateFiles();
  }

  /** Continues from the state committed with the last version (or refusal). */
  void restore(TrainerStateReader.Restored restored) {
    TrainerState state = restored.state();
    learner.restore(restored.files());
    publishedState = restored.files();
    version = state.getVersion();
    step = state.getStep();
    publishedStep = step;
    skippedBatches = state.getSkippedBatches();
    metrics.currentVersion.set(version);
    for (PartitionPosition p : state.getPositions()) {
      if (p.getTopic().equals(partition.topic()) && p.getPartition() == partition.partition()) {
        nextOffset = p.getNextOffset();
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
    log.info("{}: resumed at v{}, step {}, offset {}", modelId, version, step, nextOffset);
  }

  /** True when {@code offset} is already part of a published version of this model. */
  boolean alreadyPublished(long offset) {
    return nextOffset >= 0 && offset < nextOffset;
  }

  private void add(long offset, PreferencePair pair, long nowNanos) {
    if (nextOffset < 0) {
      nextOffset = offset;
    }
    if (holdout.isHeldOut(pair.getPairId())) {
      heldOut.addLast(pair);
      metrics.heldOutPairs.incrementAndGet();
      while (heldOut.size() > config.getInt(TrainerConfig.HOLDOUT_MAX_PAIRS_CONFIG)) {
        heldOut.removeFirst();
      }
      return;
    }
    pending.add(new Pending(offset, pair, nowNanos));
  }

  /** A pairs record that cannot be read: a dead letter that commits with the range holding it. */
  void rejectUnreadable(ConsumerRecord<String, byte[]> record, WireFormatException e) {
    reject(record, e.reason(), e.getMessage(), null);
  }

  /**
   * Takes the pair in {@code record}: held out for the gate, queued for training, or, when the
   * learner cannot use it, a dead letter.
   */
  void add(ConsumerRecord<String, byte[]> record, PreferencePair pair, long nowNanos) {
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
      return;
    }
    add(record.offset(), pair, nowNanos);
  }

  private void reject(
      ConsumerRecord<String, byte[]> record,
      DeadLetterReason reason,
      String message,
      List<String> eventIds) {
    if (nextOffset < 0) {
      nextOffset = record.offset();
    }
    deadLetters.add(
        Rejection.newBuilder()
            .setReason(reason.code())
            .setMessage(message)
            .setEventId(eventIds == null || eventIds.isEmpty() ? null : eventIds.get(0))
            .setSourceTopic(record.topic())
            .setSourcePartition(record.partition())
            .setSourceOffset(record.offset())
            .setOriginalKey(
                record.key() == null
                    ? null
                    : ByteBuffer.wrap(record.key().getBytes(StandardCharsets.UTF_8)))
            .setOriginalValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
            .setModelId(modelId)
            .setRejectedAt(Instant.now())
            .setStage("trainer")
            .build());
  }

  int pendingCount() {
    return pending.size();
  }

  /** True when the oldest pending pair has waited at least {@code maxWaitNanos}. */
  boolean waitedTooLong(long nowNanos, long maxWaitNanos) {
    return maxWaitNanos > 0
        && !pending.isEmpty()
        && nowNanos - pending.get(0).arrivedNanos() >= maxWaitNanos;
  }

  /** Trains the oldest {@code size} pending pairs as one batch. */
  void trainBatch(int size, TrainerListener listener) {
    List<Pending> taken = new ArrayList<>(pending.subList(0, size));
    pending.subList(0, size).clear();
    List<PreferencePair> pairs = taken.stream().map(Pending::pair).toList();
    long started = System.nanoTime();
    Learner.StepReport report = learner.step(pairs);
    Map<String, Double> stepMetrics = new TreeMap<>(report.metrics());
    stepMetrics.put("perf/step_ms", (System.nanoTime() - started) / 1e6);
    long first = taken.get(0).offset();
    long last = taken.get(taken.size() - 1).offset();
    batches.add(
        new TrainingBatch(
            step,
            List.of(new OffsetRange(partition.topic(), partition.partition(), first, last + 1)),
            report.applied() ? pairs.size() : 0,
            report.applied() ? BatchStatus.APPLIED : BatchStatus.SKIPPED_NON_FINITE));
    trainedThrough = last + 1;
    metrics.stepped(report.applied(), pairs.size(), report.metrics());
    if (report.applied()) {
      step++;
      appliedSincePublish++;
      pairsSincePublish += pairs.size();
      pairs.forEach(p -> trainedOccurredAt.add(p.getOccurredAt()));
      stepMetrics.forEach((k, v) -> metricSums.computeIfAbsent(k, x -> new double[1])[0] += v);

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
    if (batches.isEmpty()) {
      return false;
    }
    long everyMs = config.getLong(TrainerConfig.PUBLISH_EVERY_MS_CONFIG);
    return batches.size() >= config.getInt(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG)
        || (everyMs > 0 && nowNanos - lastPublishNanos >= everyMs * 1_000_000);
  }

  /**
   * The first offset this session still needs re-read after a crash: empty when everything it
   * consumed is (or, {@code afterPublishing}, is about to be) accounted for by a committed record.
   */
  OptionalLong holdBack(boolean afterPublishing) {
    if (afterPublishing) {
      boolean left =
          !pending.isEmpty()
              || deadLetters.stream().anyMatch(r -> r.getSourceOffset() >= trainedThrough);
      return left ? OptionalLong.of(trainedThrough) : OptionalLong.empty();
    }
    return pending.isEmpty() && batches.isEmpty() && deadLetters.isEmpty()
        ? OptionalLong.empty()
        : OptionalLong.of(nextOffset);
  }

  /**
   * Publishes the batches trained since the last version as a new version, or, when the candidate
   * has non-finite weights or fails the gate, records a refusal and goes back to the last published
   * state. Either way one transaction also commits the trainer state and {@code offsets}.
   */
  Result publishOrRefuse(
      Map<TopicPartition, OffsetAndMetadata> offsets, ConsumerGroupMetadata group) {
    Learner.Snapshot candidate = learner.adapter();
    Map<String, Double> evaluation =
        gateEnabled() && !heldOut.isEmpty() ? learner.evaluate(List.copyOf(heldOut)) : Map.of();
    Map<String, Double> allMetrics = new LinkedHashMap<>();
    metricSums.forEach((k, sum) -> allMetrics.put(k, sum[0] / Math.max(1, appliedSincePublish)));
    allMetrics.putAll(evaluation);
    String[] refusal =
        candidate.finite()
            ? gateVerdict(evaluation)
            : new String[] {"non_finite_weights", "the candidate adapter has NaN or Inf weights"};
    Result result =
        refusal == null
            ? publish(
                AdapterFiles.peft(candidate.configJson(), candidate.safetensors()),
                allMetrics,
                offsets,
                group)
            : refuse(refusal[0], refusal[1], allMetrics, offsets, group);
    nextOffset = trainedThrough;
    batches.clear();
    metricSums.clear();
    trainedOccurredAt.clear();
    pairsSincePublish = 0;
    appliedSincePublish = 0;
    lastPublishNanos = System.nanoTime();
    return result;
  }

  private Result publish(
      AdapterFiles adapter,
      Map<String, Double> allMetrics,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group) {
    long newVersion = version + 1;
    AdapterManifest.Builder manifest =
        AdapterManifest.newBuilder()
            .setModelId(modelId)
            .setVersion(newVersion)
            .setParentVersion(version == 0 ? null : version)
            .setBaseModel(baseModel)
            .setLineage(lineage())
            .setBatches(new ArrayList<>(batches))
            .setPairs(pairsSincePublish)
            .setSeed(config.recipe().seed())
            .setConfigHash(config.configHash())
            .setTrainerId(config.trainerId())
            .setMetrics(allMetrics);
    Map<String, byte[]> state = learner.stateFiles();
    AdapterPublisher.Published published =
        publisher.publish(
            manifest, adapter, alongside(newVersion, snapshot(step, state), offsets, group));
    version = newVersion;
    publishedStep = step;
    publishedState = state;
    metrics.versionsPublished.incrementAndGet();
    metrics.currentVersion.set(version);
    return new Result.Published(published.manifest(), List.copyOf(trainedOccurredAt));
  }

  private Result refuse(
      String reason,
      String message,
      Map<String, Double> allMetrics,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group) {
    learner.restore(publishedState);
    step = publishedStep;
    VersionRefusal refusal =
        VersionRefusal.newBuilder()
            .setModelId(modelId)
            .setParentVersion(version == 0 ? null : version)
            .setCreatedAt(Instant.now())
            .setReason(reason)
            .setMessage(message)
            .setLineage(lineage())
            .setBatches(new ArrayList<>(batches))
            .setPairs(pairsSincePublish)
            .setConfigHash(config.configHash())
            .setTrainerId(config.trainerId())
            .setMetrics(allMetrics)
            .build();
    publisher.refuse(refusal, alongside(version, snapshot(step, publishedState), offsets, group));
    metrics.versionsRefused.incrementAndGet();
    return new Result.Refused(refusal);
  }

  private boolean gateEnabled() {
    return config.getDouble(TrainerConfig.GATE_MIN_ACCURACY_CONFIG) > 0
        || config.getDouble(TrainerConfig.GATE_MAX_KL_CONFIG) > 0;
  }

  /** {reason, message} when the held-out evaluation fails the gate, else null. */
  private String[] gateVerdict(Map<String, Double> evaluation) {
    if (evaluation.isEmpty()) {
      return null;
    }
    double floor = config.getDouble(TrainerConfig.GATE_MIN_ACCURACY_CONFIG);
    double accuracy = evaluation.getOrDefault("eval/rewards/accuracies", Double.NaN);
    if (floor > 0 && !(accuracy >= floor)) {
      return new String[] {
        "accuracy_below_floor",
        String.format(
            "held-out reward accuracy %.4f on %d pairs is below %s=%s",
            accuracy, heldOut.size(), TrainerConfig.GATE_MIN_ACCURACY_CONFIG, floor)
      };
    }
    double ceiling = config.getDouble(TrainerConfig.GATE_MAX_KL_CONFIG);
    double kl = evaluation.getOrDefault("eval/kl", Double.NaN);
    if (ceiling > 0 && !(kl <= ceiling)) {
      return new String[] {
        "kl_above_ceiling",
        String.format(
            "held-out KL from the reference %.6f nats/token exceeds %s=%s",
            kl, TrainerConfig.GATE_MAX_KL_CONFIG, ceiling)
      };
    }
    return null;
  }

  /** The state, the dead letters inside this range, and the offsets, for one transaction. */
  private AdapterPublisher.Alongside alongside(
      long stateVersion,
      StateSnapshot state,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group) {
    List<Rejection> inRange =
        deadLetters.stream().filter(r -> r.getSourceOffset() < trainedThrough).toList();
    deadLetters.removeAll(inRange);
    return stateWriter.alongside(modelId, stateVersion, state, inRange, offsets, group);
  }

  private List<OffsetRange> lineage() {
    return List.of(
        new OffsetRange(partition.topic(), partition.partition(), nextOffset, trainedThrough));
  }

  private StateSnapshot snapshot(long atStep, Map<String, byte[]> files) {
    TrainerState.Builder state =
        TrainerState.newBuilder()
            .setStep(atStep)
            .setPositions(
                List.of(
                    new PartitionPosition(
                        partition.topic(), partition.partition(), trainedThrough)))
            .setSkippedBatches(skippedBatches)
            .setConfigHash(config.configHash());
    return new StateSnapshot(state, files);
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
      publisher.close();
    }
  }
}
