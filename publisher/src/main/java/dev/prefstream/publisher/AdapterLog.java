package dev.prefstream.publisher;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.registry.SchemaRegistry;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The history of one model as the {@code adapters} topic holds it: every published version's
 * manifest and every refused candidate, in order; optionally the files of one version.
 *
 * <p>The topic is untrusted: records that cannot be decoded or fail {@link AdapterRecordCheck} are
 * skipped and counted ({@link #skipped()}); with a verifier, manifests it does not trust are
 * skipped too (counted as {@code refused.<reason>}). When two manifests claim the same version, the
 * first one read stands and the other is counted as {@code refused.duplicate_version}.
 */
public final class AdapterLog {
  private static final Logger log = LoggerFactory.getLogger(AdapterLog.class);

  /** Prefix of the counters of manifests not listed. */
  public static final String REFUSED = "refused.";

  public static final String DUPLICATE_VERSION = "duplicate_version";

  private final List<AdapterManifest> versions;
  private final List<VersionRefusal> refusals;
  private final AdapterFiles files;
  private final Counters counters;

  private AdapterLog(
      List<AdapterManifest> versions,
      List<VersionRefusal> refusals,
      AdapterFiles files,
      Counters counters) {
    this.versions = versions;
    this.refusals = refusals;
    this.files = files;
    this.counters = counters;
  }

  /** Reads every version, trusting any well-formed manifest (no signature check). */
  public static AdapterLog read(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String modelId,
      Long filesOf) {
    return read(clientProperties, topics, registry, modelId, filesOf, null);
  }

  /**
   * Reads the topic (read_committed) up to its current end.
   *
   * @param filesOf the version whose files to reassemble and verify, or null for none
   * @param verifier the keys a manifest must be signed with to be listed, or null to list every
   *     well-formed manifest
   */
  public static AdapterLog read(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String modelId,
      Long filesOf,
      ManifestVerifier verifier) {
    Counters counters = new Counters();
    AdapterRecordReader reader =
        new AdapterRecordReader(
            registry, new AdapterRecordCheck(SinkConfig.DEFAULT_MAX_ADAPTER_BYTES), counters);
    Map<Long, AdapterManifest> versions = new TreeMap<>();
    List<VersionRefusal> refusals = new ArrayList<>();
    FileChunks chunks = new FileChunks();
    TopicScan.readAll(
        clientProperties,
        topics.adapters(),
        record -> {
          if (!modelId.equals(record.key())) {
            return;
          }
          AdapterRecord decoded = reader.read(record);
          if (decoded == null) {
            return;
          }
          Object payload = decoded.getPayload();
          if (payload instanceof AdapterChunk chunk) {
            if (filesOf != null && chunk.getVersion() == filesOf) {
              chunks.add(chunk);
            }
          } else if (payload instanceof AdapterManifest manifest) {
            String problem = verifier == null ? null : verifier.problem(manifest);
            if (problem == null && versions.containsKey(manifest.getVersion())) {
              problem = DUPLICATE_VERSION;
            }
            if (problem != null) {
              counters.increment(REFUSED + problem);
              log.warn(
                  "not listing {} v{} at {}-{}@{}: {}",
                  modelId,
                  manifest.getVersion(),
                  record.topic(),
                  record.partition(),
                  record.offset(),
                  problem);
              return;
            }
            versions.put(manifest.getVersion(), manifest);
          } else {
            refusals.add((VersionRefusal) payload);
          }
        });
    List<AdapterManifest> ordered = List.copyOf(versions.values());
    AdapterFiles files = null;
    if (filesOf != null) {
      AdapterManifest manifest = versions.get(filesOf);
      if (manifest == null) {
        throw new IllegalArgumentException(
            modelId
                + " has no "
                + (verifier == null ? "" : "trusted ")
                + "version "
                + filesOf
                + "; versions: "
                + versions.keySet());
      }
      List<String> problems = new ArrayList<>();
      Map<String, byte[]> contents =
          chunks.assembleAll(modelId, filesOf, manifest.getFiles(), problems);
      if (!problems.isEmpty()) {
        throw new IllegalStateException(
            modelId + " v" + filesOf + " cannot be reassembled: " + problems);
      }
      files = AdapterFiles.of(contents);
    }
    return new AdapterLog(ordered, List.copyOf(refusals), files, counters);
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

  /**
   * Records of this model that were not used, by reason: {@code skipped.<reason>} for unreadable or
   * invalid ones, {@code refused.<reason>} for manifests not trusted.
   */
  public Map<String, Long> skipped() {
    return new LinkedHashMap<>(counters.snapshot());
  }
}
