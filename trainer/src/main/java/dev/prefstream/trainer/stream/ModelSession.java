package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.publisher.TrainerStateReader;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PartitionPosition;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.TrainingBatch;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One model id's training on one pairs partition (pairs are keyed by model id, so a model lives on
 * exactly one partition): the pairs not yet trained, the batches trained since the last version,
 * and the position {@link #nextOffset} where the next version's lineage starts.
 *
 * <p>The versions of a model tile its partition: version N covers {@code [from, to)} and version
 * N+1 starts at N's {@code to}. Records of other models inside a range belong to those models'
 * versions.
 */
final class ModelSession implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ModelSession.class);

  private record Pending(long offset, PreferencePair pair, long arrivedNanos) {}

  private final String modelId;
  private final TopicPartition partition;
  private final Learner learner;
  private final AdapterPublisher publisher;
  private final TrainerConfig config;
  private final BaseModel baseModel;
  private final List<Pending> pending = new ArrayList<>();
  private final List<TrainingBatch> batches = new ArrayList<>();
  private final Map<String, double[]> metricSums = new TreeMap<>();
  private long version;
  private long step;
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
      TrainerConfig config,
      BaseModel baseModel) {
    this.modelId = modelId;
    this.partition = partition;
    this.learner = learner;
    this.publisher = publisher;
    this.config = config;
    this.baseModel = baseModel;
  }

  /** Continues from the state committed with the last version. */
  void restore(TrainerStateReader.Restored restored) {
    TrainerState state = restored.state();
    learner.restore(restored.files());
    version = state.getVersion();
    step = state.getStep();
    skippedBatches = state.getSkippedBatches();
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

  void add(long offset, PreferencePair pair, long nowNanos) {
    if (nextOffset < 0) {
      nextOffset = offset;
    }
    pending.add(new Pending(offset, pair, nowNanos));
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
    Learner.StepReport report = learner.step(pairs);
    long first = taken.get(0).offset();
    long last = taken.get(taken.size() - 1).offset();
    BatchStatus status = report.applied() ? BatchStatus.APPLIED : BatchStatus.SKIPPED_NON_FINITE;
    batches.add(
        new TrainingBatch(
            step,
            List.of(new OffsetRange(partition.topic(), partition.partition(), first, last + 1)),
            report.applied() ? pairs.size() : 0,
            status));
    trainedThrough = last + 1;
    if (report.applied()) {
      step++;
      appliedSincePublish++;
      pairsSincePublish += pairs.size();
      report
          .metrics()
          .forEach(
              (k, v) -> {
                double[] sum = metricSums.computeIfAbsent(k, x -> new double[1]);
                sum[0] += v;
              });
    } else {
      skippedBatches++;
      log.warn(
          "{}: skipped the batch at offsets {}-{}: non-finite loss or gradient (metrics {})",
          modelId,
          first,
          last,
          report.metrics());
    }
    listener.onStep(modelId, step, report.applied(), pairs.size(), report.metrics());
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
   * The first offset this session still needs re-read after a crash, were the versions due now
   * published: empty when everything it consumed is (or would be) in a version.
   */
  OptionalLong holdBack(boolean afterPublishing) {
    if (afterPublishing) {
      return pending.isEmpty() ? OptionalLong.empty() : OptionalLong.of(trainedThrough);
    }
    return pending.isEmpty() && batches.isEmpty()
        ? OptionalLong.empty()
        : OptionalLong.of(nextOffset);
  }

  /**
   * Publishes the batches trained since the last version, with {@code offsets}, in one transaction.
   */
  AdapterManifest publish(
      Map<TopicPartition, OffsetAndMetadata> offsets, ConsumerGroupMetadata group) {
    long newVersion = version + 1;
    Map<String, Double> metrics = new LinkedHashMap<>();
    metricSums.forEach((k, sum) -> metrics.put(k, sum[0] / Math.max(1, appliedSincePublish)));
    AdapterManifest.Builder manifest =
        AdapterManifest.newBuilder()
            .setModelId(modelId)
            .setVersion(newVersion)
            .setParentVersion(version == 0 ? null : version)
            .setBaseModel(baseModel)
            .setLineage(
                List.of(
                    new OffsetRange(
                        partition.topic(), partition.partition(), nextOffset, trainedThrough)))
            .setBatches(new ArrayList<>(batches))
            .setPairs(pairsSincePublish)
            .setSeed(config.getLong(TrainerConfig.SEED_CONFIG))
            .setConfigHash(config.configHash())
            .setTrainerId(config.trainerId())
            .setMetrics(metrics);
    TrainerState.Builder state =
        TrainerState.newBuilder()
            .setStep(step)
            .setPositions(
                List.of(
                    new PartitionPosition(
                        partition.topic(), partition.partition(), trainedThrough)))
            .setSkippedBatches(skippedBatches)
            .setConfigHash(config.configHash());
    AdapterFiles adapter = learner.adapter();
    AdapterPublisher.Published published =
        publisher.publish(
            manifest,
            adapter,
            new AdapterPublisher.StateSnapshot(state, learner.stateFiles()),
            offsets,
            group);
    version = newVersion;
    nextOffset = trainedThrough;
    batches.clear();
    metricSums.clear();
    pairsSincePublish = 0;
    appliedSincePublish = 0;
    lastPublishNanos = System.nanoTime();
    return published.manifest();
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

  long step() {
    return step;
  }

  @Override
  public void close() {
    try {
      publisher.close();
    } finally {
      learner.close();
    }
  }
}
