package dev.prefstream.audit;

import dev.prefstream.publisher.FileChunks;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.TrainerStateRecord;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The per-version trainer states of one model kept on the trainer-snapshots topic ({@code
 * trainer.snapshot.every.versions}): where replay starts.
 */
public final class SnapshotLog {
  /** A version's committed trainer state and its files. */
  public record Snapshot(TrainerState state, Map<String, byte[]> files) {}

  private final String modelId;
  private final Map<Long, TrainerState> states = new HashMap<>();
  private final Map<Long, List<AdapterChunk>> chunks = new HashMap<>();
  private final List<Skipped> skipped = new ArrayList<>();

  private SnapshotLog(String modelId) {
    this.modelId = modelId;
  }

  /** No snapshots: replay starts from the initial adapter (or a rollback) and replays forward. */
  public static SnapshotLog none(String modelId) {
    return new SnapshotLog(modelId);
  }

  public static SnapshotLog read(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String modelId) {
    ConfluentAvro<TrainerStateRecord> codec =
        new ConfluentAvro<>(TrainerStateRecord.class, registry, false);
    SnapshotLog log = new SnapshotLog(modelId);
    TopicRecords.scan(
        clientProperties,
        topics.trainerSnapshots(),
        codec,
        log.skipped,
        (record, value) -> {
          if (value.getPayload() instanceof AdapterChunk chunk) {
            if (modelId.equals(chunk.getModelId())) {
              log.chunks.computeIfAbsent(chunk.getVersion(), v -> new ArrayList<>()).add(chunk);
            }
          } else if (value.getPayload() instanceof TrainerState state
              && modelId.equals(state.getModelId())) {
            log.states.putIfAbsent(state.getVersion(), state);
          }
        });
    return log;
  }

  /** True when a snapshot of {@code version} is on the topic (complete or not). */
  public boolean has(long version) {
    return states.containsKey(version);
  }

  /**
   * The snapshot of {@code version}, its files verified against their digests; empty (with {@code
   * problems} saying why, when it exists but is incomplete) otherwise.
   */
  public Optional<Snapshot> get(long version, List<String> problems) {
    TrainerState state = states.get(version);
    if (state == null) {
      return Optional.empty();
    }
    FileChunks assembler = new FileChunks();
    chunks.getOrDefault(version, List.of()).forEach(assembler::add);
    List<String> own = new ArrayList<>();
    Map<String, byte[]> files = assembler.assembleAll(modelId, version, state.getFiles(), own);
    if (!own.isEmpty()) {
      own.forEach(p -> problems.add("snapshot of v" + version + ": " + p));
      return Optional.empty();
    }
    return Optional.of(new Snapshot(state, files));
  }

  /** The training settings recorded under {@code configHash}, if any snapshot has them. */
  public Optional<Map<String, String>> settings(String configHash) {
    return states.values().stream()
        .filter(s -> s.getConfigHash().equals(configHash) && !s.getSettings().isEmpty())
        .map(TrainerState::getSettings)
        .findFirst();
  }

  public List<Skipped> skipped() {
    return skipped;
  }
}
