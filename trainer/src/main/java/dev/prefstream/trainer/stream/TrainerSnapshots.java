package dev.prefstream.trainer.stream;

/**
 * The trainer-snapshots topic: per-version copies of the trainer state ({@code
 * trainer.snapshot.every.versions}), written in the version's transaction, never compacted, where
 * audit replay starts. Keys: {@code <model>/v<version>} for the {@code TrainerState}, {@code
 * <model>/v<version>/<file>/<index>} for its chunks; values are {@code TrainerStateRecord}s as on
 * the trainer-state topic.
 */
public final class TrainerSnapshots {
  private TrainerSnapshots() {}

  /** The key of the state of {@code version} of {@code modelId}, and the prefix of its chunks'. */
  public static String key(String modelId, long version) {
    return modelId + "/v" + version;
  }
}
