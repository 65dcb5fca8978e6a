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
  private final Map<Key, Map<Integer, byte[]>> pending = new HashMap<>();
  private final Map<Key, Long> pendingBytes = new HashMap<>();

  private record Key(String modelId, long version, String file) {}

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
   * Remembers a received chunk until its file is assembled. The first chunk received for a position
   * wins: a later one for the same file and index is ignored (returns false).
   */
  public boolean add(AdapterChunk chunk) {
    ByteBuffer data = chunk.getData().duplicate();
    byte[] bytes = new byte[data.remaining()];
    data.get(bytes);
    Key key = key(chunk.getModelId(), chunk.getVersion(), chunk.getFile());
    boolean added =
        pending.computeIfAbsent(key, k -> new HashMap<>()).putIfAbsent(chunk.getIndex(), bytes)
            == null;
    if (added) {
      pendingBytes.merge(key, (long) bytes.length, Long::sum);
    }
    return added;
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
   * otherwise empty, with {@code problems} saying why. The file's chunks are forgotten either way.
   */
  public Optional<byte[]> assemble(
      String modelId, long version, AdapterFile file, List<String> problems) {
    Key key = key(modelId, version, file.getName());
    Map<Integer, byte[]> chunks = pending.remove(key);
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
    ByteBuffer whole = ByteBuffer.allocate((int) file.getSize());
    for (int i = 0; i < file.getChunks(); i++) {
      byte[] part = chunks.get(i);
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
