package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.FileChunks;
import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.TrainerStateRecord;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
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

  private static void skip(
      Map<String, Integer> skipped,
      String reason,
      ConsumerRecord<String, byte[]> record,
      String what) {
    skipped.merge(reason, 1, Integer::sum);
    log.error(
        "trainer state record at {}-{}@{} skipped ({}): {}",
        record.topic(),
        record.partition(),
        record.offset(),
        reason,
        what);
  }

  static String chunkKey(String modelId, String file, int index) {
    return modelId + "/" + file + "/" + index;
  }

  /**
   * The models whose state, as written (committed or not: read_uncommitted, so this never waits for
   * an open transaction), names a position on one of {@code partitions}. Files (chunk records,
   * keyed {@code model/file/index}) are passed over undecoded; unreadable records are ignored.
   */
  public static Set<String> modelsOn(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      Set<TopicPartition> partitions) {
    ConfluentAvro<TrainerStateRecord> codec =
        new ConfluentAvro<>(TrainerStateRecord.class, registry, false);
    Set<String> models = new TreeSet<>();
    TopicScan.readAllAsWritten(
        clientProperties,
        topics.trainerState(),
        record -> {
          if (record.key() == null || record.key().contains("/") || record.value() == null) {
            return; // a file chunk, or not a state
          }
          try {
            if (codec.decode(record.value()).getPayload() instanceof TrainerState state
                && state.getModelId().equals(record.key())
                && state.getPositions().stream()
                    .anyMatch(
                        p ->
                            partitions.contains(
                                new TopicPartition(p.getTopic(), p.getPartition())))) {
              models.add(state.getModelId());
            }
          } catch (WireFormatException e) {
            // garbage: the read_committed read reports what it skips
          }
        });
    return models;
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
    // every state record per model, oldest first: the newest one whose files are complete wins
    Map<String, List<TrainerState>> states = new HashMap<>();
    FileChunks chunks = new FileChunks();
    Map<String, Integer> skipped = new TreeMap<>();
    TopicScan.readAll(
        clientProperties,
        topics.trainerState(),
        record -> {
          Object payload;
          try {
            payload = codec.decode(record.value()).getPayload();
          } catch (WireFormatException e) {
            skip(skipped, e.reason().code(), record, e.getMessage());
            return;
          }
          if (payload instanceof AdapterChunk chunk) {
            if (!chunkKey(chunk.getModelId(), chunk.getFile(), chunk.getIndex())
                .equals(record.key())) {
              skip(skipped, "key_mismatch", record, "chunk of " + chunk.getModelId());
            } else if (models == null || models.contains(chunk.getModelId())) {
              chunks.add(chunk);
            }
          } else {
            TrainerState state = (TrainerState) payload;
            if (!state.getModelId().equals(record.key())) {
              skip(skipped, "key_mismatch", record, "state of " + state.getModelId());
            } else if (models == null || models.contains(state.getModelId())) {
              states.computeIfAbsent(state.getModelId(), m -> new ArrayList<>()).add(state);
            }
          }
        });
    Map<String, Restored> restored = new HashMap<>();
    states.forEach(
        (model, candidates) -> {
          candidates.sort(Comparator.comparingLong(TrainerState::getVersion)); // stable: later wins
          for (int i = candidates.size() - 1; i >= 0; i--) {
            TrainerState state = candidates.get(i);
            List<String> problems = new ArrayList<>();
            Map<String, byte[]> files;
            try {
              files = chunks.assembleAll(model, state.getVersion(), state.getFiles(), problems);
            } catch (RuntimeException e) { // absurd sizes in a forged record
              files = Map.of();
              problems.add(e.toString());
            }
            if (problems.isEmpty()) {
              restored.put(model, new Restored(state, files));
              return;
            }
            skipped.merge("incomplete_state", 1, Integer::sum);
            log.error(
                "trainer state of {} v{} is incomplete, skipped: {}",
                model,
                state.getVersion(),
                problems);
          }
        });
    if (!skipped.isEmpty()) {
      log.error(
          "trainer state topic {}: records skipped, by reason: {}", topics.trainerState(), skipped);
    }
    log.info("read trainer state of {} model(s)", restored.size());
    return restored;
  }
}
