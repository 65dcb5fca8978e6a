package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.publisher.FencedException;
import dev.prefstream.publisher.FileChunks;
import dev.prefstream.publisher.ManifestSigner;
import dev.prefstream.publisher.Rollback;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.TrainerStateRecord;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Writes what commits with a version besides the adapter: the trainer state (chunked files, then
 * the {@link TrainerState} that lists them), the dead letters of the range, and the consumer
 * offsets. {@link TrainerStateReader} reads the state back.
 */
public final class TrainerStateWriter {
  private final String stateTopic;
  private final String snapshotsTopic;
  private final ConfluentAvro<TrainerStateRecord> stateCodec;
  private final String deadLettersTopic;
  private final String deadLettersSubject;
  private final ConfluentAvro<Rejection> rejectionCodec;
  private final int chunkBytes;

  TrainerStateWriter(Topics topics, SchemaRegistry registry, int chunkBytes) {
    this.stateTopic = topics.trainerState();
    this.snapshotsTopic = topics.trainerSnapshots();
    this.stateCodec = new ConfluentAvro<>(TrainerStateRecord.class, registry, true);
    this.deadLettersTopic = topics.deadLetters();
    this.deadLettersSubject = ConfluentAvro.subject(deadLettersTopic, false);
    this.rejectionCodec = new ConfluentAvro<>(Rejection.class, registry, true);
    this.chunkBytes = chunkBytes;
  }

  /**
   * The state of {@code modelId} at {@code version} (none when {@code snapshot} is null), {@code
   * deadLetters}, and {@code offsets} of {@code group}, for one transaction.
   */
  AdapterPublisher.Alongside alongside(
      String modelId,
      long version,
      StateSnapshot snapshot,
      List<Rejection> deadLetters,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group) {
    List<Rejection> rejections = List.copyOf(deadLetters);
    Map<TopicPartition, OffsetAndMetadata> positions = Map.copyOf(offsets);
    return tx -> {
      if (snapshot != null) {
        writeState(tx, modelId, version, snapshot);
      }
      for (Rejection rejection : rejections) {
        // keyed by the model the record named (null when it named none readable)
        tx.send(
            deadLettersTopic,
            rejection.getModelId(),
            rejectionCodec.encode(deadLettersSubject, rejection));
      }
      tx.sendOffsets(positions, group);
    };
  }

  /**
   * {@code alongside}, and a copy of {@code snapshot} as the state of {@code version} on the
   * trainer-snapshots topic (never compacted), where audit replay starts ({@link
   * TrainerSnapshots}).
   */
  AdapterPublisher.Alongside withSnapshot(
      AdapterPublisher.Alongside alongside, String modelId, long version, StateSnapshot snapshot) {
    return tx -> {
      alongside.writeTo(tx);
      writeState(
          tx, snapshotsTopic, TrainerSnapshots.key(modelId, version), modelId, version, snapshot);
    };
  }

  private void writeState(
      AdapterPublisher.Transaction tx, String modelId, long version, StateSnapshot snapshot) {
    writeState(tx, stateTopic, modelId, modelId, version, snapshot);
  }

  /**
   * The chunks under {@code <keyPrefix>/<file>/<index>}, then the state under {@code keyPrefix}.
   */
  private void writeState(
      AdapterPublisher.Transaction tx,
      String topic,
      String keyPrefix,
      String modelId,
      long version,
      StateSnapshot snapshot) {
    List<AdapterFile> described =
        FileChunks.sendAll(
            modelId,
            version,
            new TreeMap<>(snapshot.files()),
            chunkBytes,
            chunk ->
                tx.send(
                    topic,
                    TrainerStateReader.chunkKey(keyPrefix, chunk.getFile(), chunk.getIndex()),
                    stateCodec.encode(
                        ConfluentAvro.subject(topic, false), new TrainerStateRecord(chunk))));
    TrainerState state =
        snapshot.state().setModelId(modelId).setVersion(version).setFiles(described).build();
    tx.send(
        topic,
        keyPrefix,
        stateCodec.encode(ConfluentAvro.subject(topic, false), new TrainerStateRecord(state)));
  }

  /**
   * Publishes version latest+1 of {@code modelId} with version {@code toVersion}'s content ({@link
   * Rollback}), and resets the trainer's state to it in the same transaction.
   */
  public static AdapterManifest rollback(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String trainerId,
      String modelId,
      long toVersion) {
    return rollback(clientProperties, topics, registry, trainerId, modelId, toVersion, null);
  }

  /** As above, the new version signed by {@code signer} unless it is null. */
  public static AdapterManifest rollback(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String trainerId,
      String modelId,
      long toVersion,
      ManifestSigner signer) {
    // a running trainer that reloads the model at the same moment takes the transactional id
    // back (fencing this attempt); each attempt re-reads the log, so no version number repeats
    FencedException last = null;
    for (int attempt = 1; attempt <= ROLLBACK_ATTEMPTS; attempt++) {
      try {
        return Rollback.run(
            clientProperties,
            topics,
            registry,
            trainerId,
            modelId,
            toVersion,
            rollbackReset(clientProperties, topics, registry),
            signer);
      } catch (FencedException e) {
        last = e;
      }
    }
    throw last;
  }

  /** Attempts of a rollback that a trainer reloading the same model keeps fencing. */
  static final int ROLLBACK_ATTEMPTS = 5;

  /**
   * What a rollback commits for the trainer: a state holding the rolled-back weights, the model's
   * current input positions and step, and no optimizer moments (the optimizer starts afresh).
   */
  private static Rollback.StateReset rollbackReset(
      Map<String, Object> clientProperties, Topics topics, SchemaRegistry registry) {
    TrainerStateWriter writer =
        new TrainerStateWriter(topics, registry, AdapterPublisher.DEFAULT_CHUNK_BYTES);
    return (newVersion, target, files) -> {
      String modelId = target.getModelId();
      TrainerStateReader.Restored current =
          TrainerStateReader.read(clientProperties, topics, registry, Set.of(modelId)).get(modelId);
      TrainerState.Builder state =
          TrainerState.newBuilder()
              .setStep(current == null ? 0 : current.state().getStep())
              .setPositions(current == null ? List.of() : current.state().getPositions())
              .setSkippedBatches(current == null ? 0 : current.state().getSkippedBatches())
              .setLossState(Map.of())
              .setConfigHash(target.getConfigHash());
      Map<String, byte[]> stateFiles = new TreeMap<>();
      stateFiles.put(AdapterFiles.WEIGHTS, files.weights());
      for (String heldOut : List.of(Gate.HELD_OUT_FILE, Gate.HELD_OUT_UNPAIRED_FILE)) {
        if (current != null && current.files().containsKey(heldOut)) {
          // the gate keeps judging on the same held-out records
          stateFiles.put(heldOut, current.files().get(heldOut));
        }
      }
      StateSnapshot snapshot = new StateSnapshot(state, stateFiles);
      return writer.alongside(
          modelId, newVersion, snapshot, List.of(), Map.of(), new ConsumerGroupMetadata("none"));
    };
  }
}
