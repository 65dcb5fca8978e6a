package dev.prefstream.publisher;

import dev.prefstream.schemas.ModelIds;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.avro.specific.SpecificData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sink's directory: {@code <root>/<model>/v<version>/} per version, {@code
 * <root>/<model>/latest} a symlink to the newest. Every path is built from a checked model id and a
 * checked file name and then checked to lie inside the root, so no record can make it write
 * elsewhere.
 *
 * <p>Writes are crash-safe: files go to a temporary directory, each file and the directory are
 * fsynced, the directory is renamed into place and its parent fsynced. A version found on disk is
 * trusted only if every file matches its manifest's size and sha-256.
 */
public final class VersionStore {
  private static final Logger log = LoggerFactory.getLogger(VersionStore.class);

  public static final String MANIFEST_FILE = AdapterRecordCheck.RESERVED_FILE;
  public static final String LATEST = "latest";
  private static final String TMP_PREFIX = ".tmp-";
  private static final String STALE_PREFIX = ".stale-";
  private static final Pattern VERSION_DIR = Pattern.compile("v([1-9][0-9]{0,18})");

  private final Path root;
  private final Map<Path, Long> supersededAt = new HashMap<>();

  public VersionStore(Path root) {
    this.root = root.toAbsolutePath().normalize();
  }

  public Path root() {
    return root;
  }

  /** {@code <root>/<model>}, checked. */
  public Path modelDir(String modelId) {
    String problem = ModelIds.problem(modelId);
    if (problem != null) {
      throw new IllegalArgumentException(problem);
    }
    return inside(root.resolve(modelId));
  }

  public Path versionDir(String modelId, long version) {
    if (version < 1) {
      throw new IllegalArgumentException("version " + version);
    }
    return inside(modelDir(modelId).resolve("v" + version));
  }

  private Path inside(Path p) {
    Path normal = p.toAbsolutePath().normalize();
    if (!normal.startsWith(root) || normal.equals(root)) {
      throw new IllegalArgumentException(p + " is not inside " + root);
    }
    return normal;
  }

  private Path fileIn(Path dir, String name) {
    if (!AdapterRecordCheck.isValidFileName(name) && !name.equals(MANIFEST_FILE)) {
      throw new IllegalArgumentException("file name '" + AdapterRecordCheck.shown(name) + "'");
    }
    Path file = inside(dir.resolve(name));
    if (!file.getParent().equals(dir)) {
      throw new IllegalArgumentException(file + " is not directly in " + dir);
    }
    return file;
  }

  /** Removes temporary and stale directories a crash left behind. Returns how many. */
  public int removeLeftovers() throws IOException {
    if (!Files.isDirectory(root)) {
      return 0;
    }
    int removed = 0;
    try (DirectoryStream<Path> models = Files.newDirectoryStream(root)) {
      for (Path model : models) {
        if (!Files.isDirectory(model, LinkOption.NOFOLLOW_LINKS)) {
          continue;
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(model)) {
          for (Path e : entries) {
            String name = e.getFileName().toString();
            if (name.startsWith(TMP_PREFIX) || name.startsWith(STALE_PREFIX)) {
              deleteTree(e);
              removed++;
              log.info("removed leftover {}", e);
            }
          }
        }
      }
    }
    return removed;
  }

  /** Whether {@code manifest}'s version is on disk with every file as the manifest says. */
  public boolean holds(AdapterManifest manifest) throws IOException {
    Path dir = versionDir(manifest.getModelId(), manifest.getVersion());
    if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      return false;
    }
    for (AdapterFile f : manifest.getFiles()) {
      Path file = fileIn(dir, f.getName());
      if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)
          || Files.size(file) != f.getSize()) {
        return false;
      }
      if (!sha256(file).equals(f.getSha256())) {
        return false;
      }
    }
    return true;
  }

  /** Whether a directory for the version exists at all (matching or not). */
  public boolean exists(String modelId, long version) {
    return Files.exists(versionDir(modelId, version), LinkOption.NOFOLLOW_LINKS);
  }

  /**
   * Writes the version (replacing a directory of that version that does not match), durably, and
   * returns its directory. On an I/O error nothing is left but a temporary directory, which the
   * next start removes; the caller retries later.
   */
  public Path write(AdapterManifest manifest, Map<String, byte[]> files) throws IOException {
    String modelId = manifest.getModelId();
    Path modelDir = modelDir(modelId);
    Path target = versionDir(modelId, manifest.getVersion());
    Files.createDirectories(modelDir);
    Path tmp = Files.createTempDirectory(modelDir, TMP_PREFIX + "v" + manifest.getVersion() + "-");
    try {
      readableByServers(tmp);
      for (AdapterFile f : manifest.getFiles()) {
        writeDurably(fileIn(tmp, f.getName()), files.get(f.getName()));
      }
      writeDurably(
          fileIn(tmp, MANIFEST_FILE),
          (SpecificData.get().toString(manifest) + "\n").getBytes(StandardCharsets.UTF_8));
      fsync(tmp);
      if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
        Path stale =
            modelDir.resolve(STALE_PREFIX + target.getFileName() + "-" + System.nanoTime());
        Files.move(target, stale, StandardCopyOption.ATOMIC_MOVE);
        log.warn("{} did not match its manifest; replacing it", target);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        fsync(modelDir);
        deleteTree(stale);
      } else {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        fsync(modelDir);
      }
      return target;
    } catch (IOException | RuntimeException e) {
      try {
        deleteTree(tmp);
      } catch (IOException cleanup) {
        e.addSuppressed(cleanup);
      }
      throw e;
    }
  }

  /** The version {@code latest} points at, if any. */
  public OptionalLong latest(String modelId) throws IOException {
    Path link = modelDir(modelId).resolve(LATEST);
    if (!Files.isSymbolicLink(link)) {
      return OptionalLong.empty();
    }
    Matcher m = VERSION_DIR.matcher(Files.readSymbolicLink(link).toString());
    return m.matches() ? OptionalLong.of(Long.parseLong(m.group(1))) : OptionalLong.empty();
  }

  /**
   * Points {@code latest} at {@code version} if that is newer than what it points at: {@code
   * latest} never moves backwards. Returns the version it pointed at before, if it moved.
   */
  public OptionalLong advanceLatest(String modelId, long version, long nowMs) throws IOException {
    OptionalLong current = latest(modelId);
    if (current.isPresent() && current.getAsLong() >= version) {
      return OptionalLong.empty();
    }
    Path modelDir = modelDir(modelId);
    Path tmp = modelDir.resolve(TMP_PREFIX + "latest-" + System.nanoTime());
    Files.createSymbolicLink(tmp, Path.of("v" + version));
    Files.move(
        tmp,
        modelDir.resolve(LATEST),
        StandardCopyOption.ATOMIC_MOVE,
        StandardCopyOption.REPLACE_EXISTING);
    fsync(modelDir);
    if (current.isPresent()) {
      supersededAt.put(versionDir(modelId, current.getAsLong()), nowMs);
    }
    return current.isPresent() ? current : OptionalLong.of(0);
  }

  /**
   * Deletes versions beyond the newest {@code keep}, except {@code latest}, the version before it,
   * and any that stopped being latest less than {@code graceMs} ago (a version found on disk at
   * start counts as having stopped being latest at its first prune). Returns what it deleted.
   */
  public List<Path> prune(String modelId, int keep, long graceMs, long nowMs) throws IOException {
    List<Path> deleted = new ArrayList<>();
    if (keep == 0) {
      return deleted;
    }
    OptionalLong latest = latest(modelId);
    if (latest.isEmpty()) {
      return deleted;
    }
    List<Long> versions = versionsOnDisk(modelId);
    long previous =
        versions.stream().filter(v -> v < latest.getAsLong()).max(Long::compare).orElse(-1L);
    int surplus = versions.size() - keep;
    for (long v : versions) {
      if (surplus <= 0) {
        break;
      }
      if (v == latest.getAsLong() || v == previous || v > latest.getAsLong()) {
        continue;
      }
      Path dir = versionDir(modelId, v);
      long since = supersededAt.computeIfAbsent(dir, d -> nowMs);
      if (nowMs - since < graceMs) {
        continue;
      }
      deleteTree(dir);
      supersededAt.remove(dir);
      deleted.add(dir);
      surplus--;
      log.info("pruned {}", dir);
    }
    return deleted;
  }

  /** Version numbers on disk for {@code modelId}, ascending. */
  public List<Long> versionsOnDisk(String modelId) throws IOException {
    Path modelDir = modelDir(modelId);
    List<Long> versions = new ArrayList<>();
    if (!Files.isDirectory(modelDir)) {
      return versions;
    }
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(modelDir)) {
      for (Path e : entries) {
        Matcher m = VERSION_DIR.matcher(e.getFileName().toString());
        if (m.matches() && Files.isDirectory(e, LinkOption.NOFOLLOW_LINKS)) {
          versions.add(Long.parseLong(m.group(1)));
        }
      }
    }
    versions.sort(Comparator.naturalOrder());
    return versions;
  }

  /** Model ids that have a directory here. */
  public List<String> models() throws IOException {
    List<String> models = new ArrayList<>();
    if (!Files.isDirectory(root)) {
      return models;
    }
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(root)) {
      for (Path e : entries) {
        String name = e.getFileName().toString();
        if (ModelIds.isValid(name) && Files.isDirectory(e, LinkOption.NOFOLLOW_LINKS)) {
          models.add(name);
        }
      }
    }
    return models;
  }

  private static void writeDurably(Path file, byte[] data) throws IOException {
    if (data == null) {
      throw new IOException("no content for " + file.getFileName());
    }
    try (FileChannel ch =
        FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
      ByteBuffer buffer = ByteBuffer.wrap(data);
      while (buffer.hasRemaining()) {
        ch.write(buffer);
      }
      ch.force(true);
    }
  }

  /** fsync of a directory: its entries (a rename into it, a new file) survive a power loss. */
  private static void fsync(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // some file systems refuse to open a directory for reading; the rename is still atomic
      if (!(e instanceof NoSuchFileException)) {
        log.debug("cannot fsync directory {}: {}", dir, e.toString());
      } else {
        throw e;
      }
    }
  }

  private static String sha256(Path file) throws IOException {
    MessageDigest digest = Sha256.digest();
    byte[] buffer = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS)) {
      int n;
      while ((n = in.read(buffer)) > 0) {
        digest.update(buffer, 0, n);
      }
    }
    return HexFormat.of().formatHex(digest.digest());
  }

  /** Temporary directories are created owner-only; a serving process may run as another user. */
  private static void readableByServers(Path dir) throws IOException {
    if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    if (Files.isSymbolicLink(dir) || !Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
      Files.deleteIfExists(dir);
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }
}
