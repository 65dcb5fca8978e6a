package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.PartitionPosition;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.VersionRefusal;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Writes one model's versions and refusals: each in one transaction with the trainer state it
 * leaves behind, the dead letters of its range and the consumer offsets (its own producer, whose
 * transactional id fences a zombie of the same trainer and model).
 */
final class VersionWriter implements AutoCloseable {
  private final String modelId;
  private final AdapterPublisher publisher;
  private final TrainerStateWriter stateWriter;
  private final TrainerConfig config;
  private final BaseModel baseModel;

  VersionWriter(
      String modelId,
      AdapterPublisher publisher,
      TrainerStateWriter stateWriter,
      TrainerConfig config,
      BaseModel baseModel) {
    this.modelId = modelId;
    this.publisher = publisher;
    this.stateWriter = stateWriter;
    this.config = config;
    this.baseModel = baseModel;
  }

  /** What commits besides the record itself. */
  record Commit(
      long step,
      long skippedBatches,
      Map<String, byte[]> stateFiles,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group,
      List<Rejection> partitionDeadLetters) {}

  /** Publishes {@code draft} as {@code version} (parent {@code version - 1}) with its state. */
  AdapterManifest publish(
      long version,
      VersionDraft draft,
      Learner.Snapshot adapter,
      Map<String, Double> metrics,
      Commit commit) {
    AdapterManifest.Builder manifest =
        AdapterManifest.newBuilder()
            .setModelId(modelId)
            .setVersion(version)
            .setParentVersion(version == 1 ? null : version - 1)
            .setBaseModel(baseModel)
            .setLineage(draft.lineage())
            .setBatches(draft.batches())
            .setPairs(draft.pairs())
            .setSeed(config.recipe().seed())
            .setConfigHash(config.configHash())
            .setTrainerId(config.trainerId())
            .setMetrics(metrics)
            .setPairOccurredAt(draft.occurredAt());
    int snapshotEvery = config.getInt(TrainerConfig.SNAPSHOT_EVERY_VERSIONS_CONFIG);
    boolean snapshot = snapshotEvery > 0 && version % snapshotEvery == 0;
    manifest.setStateSnapshot(snapshot);
    StateSnapshot state = state(draft, commit);
    AdapterPublisher.Alongside alongside = alongside(version, state, draft, commit);
    return publisher
        .publish(
            manifest,
            AdapterFiles.peft(adapter.configJson(), adapter.safetensors()),
            snapshot ? stateWriter.withSnapshot(alongside, modelId, version, state) : alongside,
            config.signer())
        .manifest();
  }

  /** Records that {@code draft}'s candidate was refused; the state stays at {@code version}. */
  VersionRefusal refuse(
      long version,
      VersionDraft draft,
      Gate.Refusal why,
      Map<String, Double> metrics,
      Commit commit) {
    VersionRefusal refusal =
        VersionRefusal.newBuilder()
            .setModelId(modelId)
            .setParentVersion(version == 0 ? null : version)
            .setCreatedAt(Instant.now())
            .setReason(why.reason())
            .setMessage(why.message())
            .setLineage(draft.lineage())
            .setBatches(draft.batches())
            .setPairs(draft.pairs())
            .setConfigHash(config.configHash())
            .setTrainerId(config.trainerId())
            .setMetrics(metrics)
            .build();
    publisher.refuse(refusal, alongside(version, state(draft, commit), draft, commit));
    return refusal;
  }

  /**
   * Commits {@code draft}'s dead letters (it has no batches), the unchanged state at {@code
   * version} with the position moved past them, and the offsets: no version, no refusal.
   */
  void commitDeadLetters(long version, VersionDraft draft, Commit commit) {
    publisher.commit(
        "committing dead letters of " + modelId,
        alongside(version, state(draft, commit), draft, commit));
  }

  private StateSnapshot state(VersionDraft draft, Commit commit) {
    TrainerState.Builder state =
        TrainerState.newBuilder()
            .setStep(commit.step())
            .setPositions(positions(draft))
            .setSkippedBatches(commit.skippedBatches())
            .setConfigHash(config.configHash())
            .setSettings(config.trainingSettings());
    return new StateSnapshot(state, commit.stateFiles());
  }

  private AdapterPublisher.Alongside alongside(
      long version, StateSnapshot state, VersionDraft draft, Commit commit) {
    return stateWriter.alongside(
        modelId,
        version,
        state,
        concat(draft.takeDeadLettersInRange(), commit.partitionDeadLetters()),
        commit.offsets(),
        commit.group());
  }

  /** Where the model's next version starts on each of its input partitions. */
  private static List<PartitionPosition> positions(VersionDraft draft) {
    List<PartitionPosition> positions = new ArrayList<>();
    draft
        .trainedThrough()
        .forEach(
            (tp, next) -> positions.add(new PartitionPosition(tp.topic(), tp.partition(), next)));
    return positions;
  }

  private static List<Rejection> concat(List<Rejection> a, List<Rejection> b) {
    List<Rejection> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  @Override
  public void close() {
    publisher.close();
  }
}
