package dev.prefstream.audit;

import dev.prefstream.publisher.FileChunks;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One model's history as the adapters topic holds it, read without trusting it: every manifest and
 * refusal in topic order (duplicates and forgeries included, for verify to judge), the chunks of
 * every version, and the records that could not be read.
 */
public final class ModelHistory {
  /** A manifest or a refusal, where it sits on the topic. */
  public record Entry(int partition, long offset, String key, Object payload) {
    public boolean isManifest() {
      return payload instanceof AdapterManifest;
    }

    public AdapterManifest manifest() {
      return (AdapterManifest) payload;
    }

    public VersionRefusal refusal() {
      return (VersionRefusal) payload;
    }
  }

  private final String modelId;
  private final String topic;
  private final List<Entry> entries;
  private final Map<Long, List<AdapterChunk>> chunks;
  private final List<Skipped> skipped;

  private ModelHistory(
      String modelId,
      String topic,
      List<Entry> entries,
      Map<Long, List<AdapterChunk>> chunks,
      List<Skipped> skipped) {
    this.modelId = modelId;
    this.topic = topic;
    this.entries = entries;
    this.chunks = chunks;
    this.skipped = skipped;
  }

  /** Reads the adapters topic (read_committed) to its current end. */
  public static ModelHistory read(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String modelId) {
    ConfluentAvro<AdapterRecord> codec = new ConfluentAvro<>(AdapterRecord.class, registry, false);
    List<Entry> entries = new ArrayList<>();
    Map<Long, List<AdapterChunk>> chunks = new HashMap<>();
    List<Skipped> skipped = new ArrayList<>();
    TopicRecords.scan(
        clientProperties,
        topics.adapters(),
        codec,
        skipped,
        (record, value) -> {
          Object payload = value.getPayload();
          if (payload instanceof AdapterChunk chunk) {
            if (modelId.equals(chunk.getModelId())) {
              chunks.computeIfAbsent(chunk.getVersion(), v -> new ArrayList<>()).add(chunk);
            }
            return;
          }
          String model =
              payload instanceof AdapterManifest m
                  ? m.getModelId()
                  : ((VersionRefusal) payload).getModelId();
          if (modelId.equals(model) || modelId.equals(record.key())) {
            entries.add(new Entry(record.partition(), record.offset(), record.key(), payload));
          }
        });
    return new ModelHistory(modelId, topics.adapters(), entries, chunks, skipped);
  }

  public String modelId() {
    return modelId;
  }

  public String topic() {
    return topic;
  }

  /** Manifests and refusals in the order they were read (partition, then offset). */
  public List<Entry> entries() {
    return entries;
  }

  /** Every manifest of this model, in topic order (a forged duplicate included). */
  public List<AdapterManifest> manifests() {
    return entries.stream().filter(Entry::isManifest).map(Entry::manifest).toList();
  }

  /** The first manifest published as {@code version}. */
  public Optional<AdapterManifest> manifest(long version) {
    return manifests().stream().filter(m -> m.getVersion() == version).findFirst();
  }

  /**
   * The version whose content {@code m} was made from (null: the initial adapter): a rollback's
   * target ({@link #rollbackTarget}); for a forget rebuild the rebuild before it, or for the first
   * of them the version before the version it rebuilds; else its parent.
   */
  public Long contentSource(AdapterManifest m) {
    if (isRollbackLike(m)) {
      return rollbackTarget(m);
    }
    if (m.getOrigin() == AdapterOrigin.FORGET && m.getParentVersion() != null) {
      Optional<AdapterManifest> parent = manifest(m.getParentVersion());
      if (parent.isPresent() && parent.get().getOrigin() == AdapterOrigin.FORGET) {
        return m.getParentVersion();
      }
      return m.getForgetOf() == null
          ? null
          : manifest(m.getForgetOf()).map(AdapterManifest::getParentVersion).orElse(null);
    }
    return m.getParentVersion();
  }

  /** A rollback, or a forget rebuild of one: its content is another version's, nothing trained. */
  public boolean isRollbackLike(AdapterManifest m) {
    if (m.getOrigin() == AdapterOrigin.ROLLBACK) {
      return true;
    }
    return m.getOrigin() == AdapterOrigin.FORGET
        && m.getForgetOf() != null
        && manifest(m.getForgetOf())
            .map(x -> x.getOrigin() == AdapterOrigin.ROLLBACK)
            .orElse(false);
  }

  /**
   * The version whose content a rollback-like version republishes: a rollback's {@code
   * rollback_of}; for the forget rebuild of a rollback, the rebuild of that target published before
   * it when there is one, else the target itself.
   */
  public Long rollbackTarget(AdapterManifest m) {
    if (m.getOrigin() == AdapterOrigin.ROLLBACK) {
      return m.getRollbackOf();
    }
    AdapterManifest rolledBack = manifest(m.getForgetOf()).orElseThrow();
    Long target = rolledBack.getRollbackOf();
    Long rebuilt = null;
    for (AdapterManifest other : manifests()) {
      if (other.getOrigin() == AdapterOrigin.FORGET
          && target != null
          && target.equals(other.getForgetOf())
          && other.getVersion() < m.getVersion()) {
        rebuilt = other.getVersion();
      }
    }
    return rebuilt != null ? rebuilt : target;
  }

  /** Records of the adapters topic that could not be read. */
  public List<Skipped> skipped() {
    return skipped;
  }

  /**
   * The files {@code manifest} names, reassembled from its chunks and checked against its sizes and
   * digests; {@code problems} says what is missing or wrong.
   */
  public Map<String, byte[]> files(AdapterManifest manifest, List<String> problems) {
    FileChunks assembler = new FileChunks();
    chunks.getOrDefault(manifest.getVersion(), List.of()).forEach(assembler::add);
    return assembler.assembleAll(modelId, manifest.getVersion(), manifest.getFiles(), problems);
  }
}
