package dev.prefstream.publisher;

import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterFile;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Splits files into {@link AdapterChunk}s and puts them back together, checking size and sha-256
 * against the {@link AdapterFile} that describes them. Used for adapter versions and trainer state.
 */
public final class FileChunks {
  private final Map<Key, Map<Integer, List<Candidate>>> pending = new HashMap<>();
  private long sequence;
  private final Map<Key, Long> pendingBytes = new HashMap<>();

  private record Key(String modelId, long version, String file) {}

  private record Candidate(long sequence, byte[] data) {}

  /**
   * The chunks of one file, {@code chunkBytes} of data each (at least one chunk, even if empty).
   */
  public static List<AdapterChunk> split(
      String modelId, long version, String name, byte[] data, int chunkBytes) {
    int count = Math.max(1, (data.length + chunkBytes - 1) / chunkBytes);
    List<AdapterChunk> chunks = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      int from = i * chunkBytes;
      int to = Math.min(data.length, from + chunkBytes);
      chunks.add(
          new AdapterChunk(
              modelId, version, name, i, count, ByteBuffer.wrap(data, from, to - from)));
    }
    return chunks;
  }

  /**
   * Splits every file (in map order), hands each chunk to {@code send}, and returns the manifest
   * entries that describe them.
   */
  public static List<AdapterFile> sendAll(
      String modelId,
      long version,
      Map<String, byte[]> files,
      int chunkBytes,
      Consumer<AdapterChunk> send) {
    List<AdapterFile> described = new ArrayList<>();
    for (Map.Entry<String, byte[]> file : files.entrySet()) {
      List<AdapterChunk> chunks =
          split(modelId, version, file.getKey(), file.getValue(), chunkBytes);
      chunks.forEach(send);
      described.add(describe(file.getKey(), file.getValue(), chunks.size()));
    }
    return described;
  }

  /** The manifest entry of a file split into {@code chunks} chunks. */
  public static AdapterFile describe(String name, byte[] data, int chunks) {
    return new AdapterFile(name, (long) data.length, AdapterFiles.sha256(data), chunks);
  }

  /**
   * Remembers a received chunk until its file is assembled. The topic is untrusted, so a second,
   * different chunk for the same position is kept as another candidate rather than replacing or
   * being dropped for the first: {@link #assemble} picks the candidates that match the manifest.
   * Returns false only for an exact duplicate (same position, same bytes), which is not kept.
   */
  public boolean add(AdapterChunk chunk) {
    ByteBuffer data = chunk.getData().duplicate();
    byte[] bytes = new byte[data.remaining()];
    data.get(bytes);
    Key key = key(chunk.getModelId(), chunk.getVersion(), chunk.getFile());
    List<Candidate> candidates =
        pending
            .computeIfAbsent(key, k -> new HashMap<>())
            .computeIfAbsent(chunk.getIndex(), i -> new ArrayList<>());
    for (Candidate c : candidates) {
      if (java.util.Arrays.equals(c.data(), bytes)) {
        return false;
      }
    }
    candidates.add(new Candidate(sequence++, bytes));
    pendingBytes.merge(key, (long) bytes.length, Long::sum);
    return true;
  }

  /**
   * Drops the earliest-received chunk of {@code modelId}'s {@code version} (to make room for newer
   * ones: a version's genuine chunks are the last before its manifest). Returns its size, or -1
   * when nothing is held for that version.
   */
  public long evictOldest(String modelId, long version) {
    Key oldestKey = null;
    int oldestIndex = -1;
    Candidate oldest = null;
    for (Map.Entry<Key, Map<Integer, List<Candidate>>> file : pending.entrySet()) {
      if (!file.getKey().modelId().equals(modelId) || file.getKey().version() != version) {
        continue;
      }
      for (Map.Entry<Integer, List<Candidate>> position : file.getValue().entrySet()) {
        for (Candidate c : position.getValue()) {
          if (oldest == null || c.sequence() < oldest.sequence()) {
            oldest = c;
            oldestKey = file.getKey();
            oldestIndex = position.getKey();
          }
        }
      }
    }
    if (oldest == null) {
      return -1;
    }
    List<Candidate> list = pending.get(oldestKey).get(oldestIndex);
    list.remove(oldest);
    if (list.isEmpty()) {
      pending.get(oldestKey).remove(oldestIndex);
    }
    pendingBytes.merge(oldestKey, (long) -oldest.data().length, Long::sum);
    return oldest.data().length;
  }

  /** Bytes held for every file of {@code modelId}'s {@code version}. */
  public long pendingBytes(String modelId, long version) {
    long sum = 0;
    for (Map.Entry<Key, Long> e : pendingBytes.entrySet()) {
      if (e.getKey().modelId().equals(modelId) && e.getKey().version() == version) {
        sum += e.getValue();
      }
    }
    return sum;
  }

  /** Bytes held for every pending file. */
  public long pendingBytes() {
    return pendingBytes.values().stream().mapToLong(Long::longValue).sum();
  }

  /** Drops every chunk of exactly {@code modelId}'s {@code version}. */
  public void forgetVersion(String modelId, long version) {
    pending.keySet().removeIf(k -> k.modelId().equals(modelId) && k.version() == version);
    pendingBytes.keySet().removeIf(k -> k.modelId().equals(modelId) && k.version() == version);
  }

  /**
   * The file, if every chunk arrived and the result matches {@code file}'s size and sha-256;
   * otherwise empty, with {@code problems} saying why. Where a position has several candidates, the
   * newest of each is tried first, then the oldest of each. The file's chunks are forgotten either
   * way.
   */
  public Optional<byte[]> assemble(
      String modelId, long version, AdapterFile file, List<String> problems) {
    Key key = key(modelId, version, file.getName());
    Map<Integer, List<Candidate>> chunks = pending.remove(key);
    pendingBytes.remove(key);
    if (chunks == null || chunks.size() != file.getChunks()) {
      problems.add(
          file.getName()
              + " has "
              + (chunks == null ? 0 : chunks.size())
              + " of "
              + file.getChunks()
              + " chunks");
      return Optional.empty();
    }
    if (file.getSize() < 0 || file.getSize() > Integer.MAX_VALUE - 8) {
      problems.add(file.getName() + " declares an impossible size " + file.getSize());
      return Optional.empty();
    }
    List<String> newestProblems = new ArrayList<>();
    Optional<byte[]> newest = concatenate(file, chunks, true, newestProblems);
    if (newest.isPresent()) {
      return newest;
    }
    boolean several = chunks.values().stream().anyMatch(c -> c.size() > 1);
    if (several) {
      List<String> oldestProblems = new ArrayList<>();
      Optional<byte[]> oldest = concatenate(file, chunks, false, oldestProblems);
      if (oldest.isPresent()) {
        return oldest;
      }
      problems.add(
          file.getName()
              + ": no combination of its (conflicting) chunks matches: "
              + newestProblems);
      return Optional.empty();
    }
    problems.addAll(newestProblems);
    return Optional.empty();
  }

  private static Optional<byte[]> concatenate(
      AdapterFile file,
      Map<Integer, List<Candidate>> chunks,
      boolean newest,
      List<String> problems) {
    ByteBuffer whole = ByteBuffer.allocate((int) file.getSize());
    for (int i = 0; i < file.getChunks(); i++) {
      List<Candidate> candidates = chunks.get(i);
      byte[] part =
          candidates == null || candidates.isEmpty()
              ? null
              : candidates.get(newest ? candidates.size() - 1 : 0).data();
      if (part == null || part.length > whole.remaining()) {
        problems.add(file.getName() + " chunk " + i + " is missing or larger than the file");
        return Optional.empty();
      }
      whole.put(part);
    }
    byte[] data = whole.array();
    if (whole.hasRemaining()) {
      problems.add(file.getName() + " is shorter than its " + file.getSize() + " bytes");
      return Optional.empty();
    }
    String sha = AdapterFiles.sha256(data);
    if (!sha.equals(file.getSha256())) {
      problems.add(file.getName() + " has sha256 " + sha + ", expected " + file.getSha256());
      return Optional.empty();
    }
    return Optional.of(data);
  }

  /**
   * Every file of {@code files}, by name, each assembled and verified as {@link #assemble} does;
   * {@code problems} lists what was missing or wrong (then some files are absent).
   */
  public Map<String, byte[]> assembleAll(
      String modelId, long version, List<AdapterFile> files, List<String> problems) {
    Map<String, byte[]> contents = new HashMap<>();
    for (AdapterFile file : files) {
      assemble(modelId, version, file, problems).ifPresent(b -> contents.put(file.getName(), b));
    }
    return contents;
  }

  /** Drops every chunk of versions of {@code modelId} up to {@code version}. */
  public void forget(String modelId, long version) {
    pending.keySet().removeIf(k -> k.modelId().equals(modelId) && k.version() <= version);
    pendingBytes.keySet().removeIf(k -> k.modelId().equals(modelId) && k.version() <= version);
  }

  private static Key key(String modelId, long version, String file) {
    return new Key(modelId, version, file);
  }
}
