package dev.prefstream.publisher;

import dev.prefstream.schemas.FileNames;
import dev.prefstream.schemas.ModelIds;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The rules every reader of the {@code adapters} topic applies to a decoded record before using any
 * of its fields: the topic is untrusted (anyone who can write to it can write anything). A record
 * that passes names a valid model id equal to its key, file names that are single safe path
 * segments, and sizes within {@code maxAdapterBytes}; it says nothing about who wrote it (that is
 * {@link ManifestSignature}'s job).
 */
public final class AdapterRecordCheck {
  /** Reason codes, as counted and logged. */
  public static final String UNREADABLE = "unreadable";

  public static final String INVALID_MODEL_ID = "invalid_model_id";
  public static final String KEY_MISMATCH = "key_mismatch";
  public static final String INVALID_VERSION = "invalid_version";
  public static final String INVALID_FILE_NAME = "invalid_file_name";
  public static final String TOO_LARGE = "too_large";
  public static final String INVALID_CHUNK = "invalid_chunk";
  public static final String INVALID_MANIFEST = "invalid_manifest";

  /** File names the PEFT format knows (the tokenizer files, should they ever be shipped). */
  public static final Set<String> KNOWN_FILES =
      Set.of(
          FileNames.ADAPTER_CONFIG,
          FileNames.ADAPTER_WEIGHTS,
          FileNames.TOKENIZER,
          FileNames.TOKENIZER_CONFIG,
          "special_tokens_map.json",
          "tokenizer.model");

  /**
   * Any other file name: one segment of letters, digits, dot, dash and underscore, starting with a
   * letter or digit (so never {@code .}, {@code ..}, hidden, or holding a separator or NUL).
   */
  public static final Pattern FILE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  /** The sink's own file in each version directory: no adapter file may take its name. */
  public static final String RESERVED_FILE = "prefstream-manifest.json";

  private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

  /** The most chunks one file may declare, whatever its size (a chunk is at least 1 KiB). */
  private static final int MAX_CHUNKS_PER_FILE = 1 << 20;

  private final long maxAdapterBytes;

  /** A record that fails: the reason code and what was wrong, with the value. */
  public record Problem(String reason, String message) {
    @Override
    public String toString() {
      return reason + ": " + message;
    }
  }

  public AdapterRecordCheck(long maxAdapterBytes) {
    if (maxAdapterBytes < 1) {
      throw new IllegalArgumentException("maxAdapterBytes must be >= 1, got " + maxAdapterBytes);
    }
    this.maxAdapterBytes = maxAdapterBytes;
  }

  public long maxAdapterBytes() {
    return maxAdapterBytes;
  }

  /** Whether {@code name} may be a file of a version directory. */
  public static boolean isValidFileName(String name) {
    return name != null
        && !name.equals(RESERVED_FILE)
        && (KNOWN_FILES.contains(name) || FILE_NAME.matcher(name).matches());
  }

  /** What is wrong with {@code record} read under {@code key}, or null if nothing. */
  public Problem problem(String key, AdapterRecord record) {
    Object payload = record.getPayload();
    if (payload instanceof AdapterChunk chunk) {
      return chunkProblem(key, chunk);
    }
    if (payload instanceof AdapterManifest manifest) {
      return manifestProblem(key, manifest);
    }
    if (payload instanceof VersionRefusal refusal) {
      return modelIdProblem(key, refusal.getModelId());
    }
    return new Problem(UNREADABLE, "no payload");
  }

  private static Problem modelIdProblem(String key, String modelId) {
    String problem = ModelIds.problem(modelId);
    if (problem != null) {
      return new Problem(INVALID_MODEL_ID, problem);
    }
    if (!modelId.equals(key)) {
      return new Problem(
          KEY_MISMATCH,
          "record key "
              + (key == null ? "null" : "'" + shown(key) + "'")
              + " is not its model id '"
              + modelId
              + "'");
    }
    return null;
  }

  private Problem chunkProblem(String key, AdapterChunk chunk) {
    Problem id = modelIdProblem(key, chunk.getModelId());
    if (id != null) {
      return id;
    }
    if (chunk.getVersion() < 1) {
      return new Problem(INVALID_VERSION, "chunk of version " + chunk.getVersion());
    }
    if (!isValidFileName(chunk.getFile())) {
      return new Problem(INVALID_FILE_NAME, "chunk of file '" + shown(chunk.getFile()) + "'");
    }
    if (chunk.getCount() < 1
        || chunk.getCount() > MAX_CHUNKS_PER_FILE
        || chunk.getIndex() < 0
        || chunk.getIndex() >= chunk.getCount()) {
      return new Problem(
          INVALID_CHUNK, "chunk " + chunk.getIndex() + " of " + chunk.getCount() + " chunks");
    }
    if (chunk.getData().remaining() > maxAdapterBytes) {
      return new Problem(
          TOO_LARGE,
          "chunk of "
              + chunk.getData().remaining()
              + " bytes, over sink.max.adapter.bytes "
              + maxAdapterBytes);
    }
    return null;
  }

  private Problem manifestProblem(String key, AdapterManifest m) {
    Problem id = modelIdProblem(key, m.getModelId());
    if (id != null) {
      return id;
    }
    if (m.getVersion() < 1) {
      return new Problem(INVALID_VERSION, "version " + m.getVersion());
    }
    Long parent = m.getParentVersion();
    if (parent != null && (parent < 0 || parent >= m.getVersion())) {
      return new Problem(
          INVALID_VERSION, "parent v" + parent + " of v" + m.getVersion() + " is not earlier");
    }
    List<AdapterFile> files = m.getFiles();
    if (files == null || files.isEmpty()) {
      return new Problem(INVALID_MANIFEST, "no files");
    }
    Set<String> names = new HashSet<>();
    long total = 0;
    String weightsSha = null;
    for (AdapterFile f : files) {
      if (!isValidFileName(f.getName())) {
        return new Problem(INVALID_FILE_NAME, "file '" + shown(f.getName()) + "'");
      }
      if (!names.add(f.getName())) {
        return new Problem(INVALID_MANIFEST, "file " + f.getName() + " listed twice");
      }
      if (f.getSize() < 0 || f.getSize() > maxAdapterBytes) {
        return new Problem(
            TOO_LARGE,
            f.getName()
                + " of "
                + f.getSize()
                + " bytes, sink.max.adapter.bytes is "
                + maxAdapterBytes);
      }
      total += f.getSize();
      if (total > maxAdapterBytes) {
        return new Problem(
            TOO_LARGE,
            "files of " + total + "+ bytes, sink.max.adapter.bytes is " + maxAdapterBytes);
      }
      if (f.getChunks() < 1 || f.getChunks() > Math.max(1, f.getSize())) {
        return new Problem(
            INVALID_MANIFEST, f.getName() + ": " + f.getChunks() + " chunks for " + f.getSize());
      }
      if (f.getSha256() == null || !SHA256.matcher(f.getSha256()).matches()) {
        return new Problem(INVALID_MANIFEST, f.getName() + ": sha256 is not 64 lowercase hex");
      }
      if (f.getName().equals(AdapterFiles.WEIGHTS)) {
        weightsSha = f.getSha256();
      }
    }
    if (!names.contains(AdapterFiles.CONFIG) || weightsSha == null) {
      return new Problem(
          INVALID_MANIFEST,
          "a PEFT adapter needs "
              + AdapterFiles.CONFIG
              + " and "
              + AdapterFiles.WEIGHTS
              + ", got "
              + names);
    }
    if (!weightsSha.equals(m.getSha256())) {
      return new Problem(
          INVALID_MANIFEST, "sha256 " + shown(m.getSha256()) + " is not the weights file's");
    }
    if (m.getBaseModel() == null) {
      return new Problem(INVALID_MANIFEST, "no base model");
    }
    return null;
  }

  /** A value from a record, shortened and with control characters escaped, for a log line. */
  static String shown(String value) {
    if (value == null) {
      return "null";
    }
    String cut = value.length() > 80 ? value.substring(0, 80) + "..." : value;
    StringBuilder b = new StringBuilder();
    cut.codePoints()
        .forEach(
            c -> {
              if (Character.isISOControl(c)) {
                b.append(String.format("\\u%04x", c));
              } else {
                b.appendCodePoint(c);
              }
            });
    return b.toString();
  }
}
