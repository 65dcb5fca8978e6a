package dev.prefstream.publisher;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The history of one model as the {@code adapters} topic holds it: every published version's
 * manifest and every refused candidate, in order; optionally the files of one version.
 */
public final class AdapterLog {
  private final List<AdapterManifest> versions;
  private final List<VersionRefusal> refusals;
  private final AdapterFiles files;

  private AdapterLog(
      List<AdapterManifest> versions, List<VersionRefusal> refusals, AdapterFiles files) {
    this.versions = versions;
    this.refusals = refusals;
    this.files = files;
  }

  /**
   * Reads the topic (read_committed) up to its current end.
   *
   * @param filesOf the version whose files to reassemble and verify, or null for none
   */
  public static AdapterLog read(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String modelId,
      Long filesOf) {
    ConfluentAvro<AdapterRecord> codec = new ConfluentAvro<>(AdapterRecord.class, registry, false);
    List<AdapterManifest> versions = new ArrayList<>();
    List<VersionRefusal> refusals = new ArrayList<>();
    FileChunks chunks = new FileChunks();
    TopicScan.readAll(
        clientProperties,
        topics.adapters(),
        record -> {
          if (!modelId.equals(record.key())) {
            return;
          }
          Object payload = codec.decode(record.value()).getPayload();
          if (payload instanceof AdapterChunk chunk) {
            if (filesOf != null && chunk.getVersion() == filesOf) {
              chunks.add(chunk);
            }
          } else if (payload instanceof AdapterManifest manifest) {
            versions.add(manifest);
          } else {
            refusals.add((VersionRefusal) payload);
          }
        });
    versions.sort(Comparator.comparingLong(AdapterManifest::getVersion));
    AdapterFiles files = null;
    if (filesOf != null) {
      AdapterManifest manifest =
          versions.stream()
              .filter(v -> v.getVersion() == filesOf)
              .findFirst()
              .orElseThrow(
                  () ->
                      new IllegalArgumentException(
                          modelId
                              + " has no version "
                              + filesOf
                              + "; versions: "
                              + versions.stream().map(AdapterManifest::getVersion).toList()));
      List<String> problems = new ArrayList<>();
      Map<String, byte[]> contents =
          chunks.assembleAll(modelId, filesOf, manifest.getFiles(), problems);
      if (!problems.isEmpty()) {
        throw new IllegalStateException(
            modelId + " v" + filesOf + " cannot be reassembled: " + problems);
      }
      files = AdapterFiles.of(contents);
    }
    return new AdapterLog(List.copyOf(versions), List.copyOf(refusals), files);
  }

  /** Published versions, ascending. */
  public List<AdapterManifest> versions() {
    return versions;
  }

  /** Refused candidates, in the order they were recorded. */
  public List<VersionRefusal> refusals() {
    return refusals;
  }

  public Optional<AdapterManifest> latest() {
    return versions.isEmpty() ? Optional.empty() : Optional.of(versions.get(versions.size() - 1));
  }

  /** The files of the version asked for in {@link #read}. */
  public Optional<AdapterFiles> files() {
    return Optional.ofNullable(files);
  }
}
