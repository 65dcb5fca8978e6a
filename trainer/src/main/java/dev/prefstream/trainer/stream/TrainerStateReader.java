package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.FileChunks;
import dev.prefstream.publisher.TopicScan;
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
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the committed trainer state of models back from the compacted trainer-state topic: the
 * newest {@link TrainerState} per model and its files, verified against their digests.
 */
public final class TrainerStateReader {
  private static final Logger log = LoggerFactory.getLogger(TrainerStateReader.class);

  private TrainerStateReader() {}

  /** A model's state as last committed. */
  public record Restored(TrainerState state, Map<String, byte[]> files) {}

  static String chunkKey(String modelId, String file, int index) {
    return modelId + "/" + file + "/" + index;
  }

  /**
   * Reads the whole topic (read_committed, up to its end offsets at the time of the call) and
   * returns the newest complete state of every model in {@code models} (all models when null).
   */
  public static Map<String, Restored> read(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      Set<String> models) {
    ConfluentAvro<TrainerStateRecord> codec =
        new ConfluentAvro<>(TrainerStateRecord.class, registry, false);
    Map<String, TrainerState> newest = new HashMap<>();
    FileChunks chunks = new FileChunks();
    TopicScan.readAll(
        clientProperties,
        topics.trainerState(),
        record -> {
          Object payload = codec.decode(record.value()).getPayload();
          if (payload instanceof AdapterChunk chunk) {
            if (models == null || models.contains(chunk.getModelId())) {
              chunks.add(chunk);
            }
          } else {
            TrainerState state = (TrainerState) payload;
            if (models == null || models.contains(state.getModelId())) {
              newest.merge(
                  state.getModelId(), state, (a, b) -> b.getVersion() >= a.getVersion() ? b : a);
            }
          }
        });
    Map<String, Restored> restored = new HashMap<>();
    newest.forEach(
        (model, state) -> {
          List<String> problems = new ArrayList<>();
          Map<String, byte[]> files =
              chunks.assembleAll(model, state.getVersion(), state.getFiles(), problems);
          if (!problems.isEmpty()) {
            throw new IllegalStateException(
                "trainer state of "
                    + model
                    + " v"
                    + state.getVersion()
                    + " is incomplete: "
                    + problems);
          }
          restored.put(model, new Restored(state, files));
        });
    log.info("read trainer state of {} model(s)", restored.size());
    return restored;
  }
}
