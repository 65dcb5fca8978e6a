package dev.prefstream.publisher;

import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.apache.avro.specific.SpecificData;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The serving side: consumes {@code adapters} (read_committed), reassembles each version from its
 * chunks, verifies every file's size and sha-256 against the manifest, and writes {@code
 * <dir>/<model>/v<version>/} atomically (a temporary directory renamed into place), so a reader
 * never sees half an adapter. {@code <dir>/<model>/latest} is a symlink to the newest version.
 *
 * <p>Offsets are committed after a version is on disk; a version redelivered after a crash is found
 * already in place and skipped.
 */
public final class AdapterSink implements Runnable, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdapterSink.class);
  public static final String MANIFEST_FILE = "prefstream-manifest.json";

  private final SinkConfig config;
  private final KafkaConsumer<String, byte[]> consumer;
  private final ConfluentAvro<AdapterRecord> codec;
  private final Consumer<Materialized> listener;
  private final SinkListener events;
  private final FileChunks chunks = new FileChunks();
  private final AtomicBoolean running = new AtomicBoolean(true);

  /** A version now on disk. */
  public record Materialized(String modelId, long version, Path dir, AdapterManifest manifest) {}

  public AdapterSink(SinkConfig config, SchemaRegistry registry, Consumer<Materialized> listener) {
    this(config, registry, listener, SinkListener.NONE);
  }

  /** As above, reporting every outcome to {@code events} as well. */
  public AdapterSink(
      SinkConfig config,
      SchemaRegistry registry,
      Consumer<Materialized> listener,
      SinkListener events) {
    this.config = config;
    this.events = events;
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 << 20);
    this.consumer =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
    this.codec = new ConfluentAvro<>(AdapterRecord.class, registry, false);
    this.listener = listener;
    consumer.subscribe(List.of(config.topics().adapters()));
  }

  /**
   * The consumer of {@code adapters}, for metrics binders and readiness (assigned partitions): only
   * its {@code metrics()} may be called from another thread; everything else belongs to {@link
   * #run()}.
   */
  public org.apache.kafka.clients.consumer.Consumer<?, ?> consumer() {
    return consumer;
  }

  /** Polls until {@link #close()} is called from another thread. */
  @Override
  public void run() {
    try {
      while (running.get()) {
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
          handle(record);
        }
      }
    } catch (WakeupException e) {
      if (running.get()) {
        throw e;
      }
    } finally {
      consumer.close();
    }
  }

  private void handle(ConsumerRecord<String, byte[]> record) {
    AdapterRecord decoded;
    try {
      decoded = codec.decode(record.value());
    } catch (WireFormatException e) {
      log.error(
          "skipping unreadable record {}-{}@{} ({}): {}",
          record.topic(),
          record.partition(),
          record.offset(),
          e.reason().code(),
          e.getMessage());
      events.onVersion("", -1, SinkListener.UNREADABLE);
      return;
    }
    if (decoded.getPayload() instanceof AdapterChunk chunk) {
      chunks.add(chunk);
      return;
    }
    if (!(decoded.getPayload() instanceof AdapterManifest manifest)) {
      VersionRefusal refusal = (VersionRefusal) decoded.getPayload();
      log.warn(
          "{}: the trainer refused a candidate after v{} ({}); nothing to materialize",
          refusal.getModelId(),
          refusal.getParentVersion(),
          refusal.getReason());
      return;
    }
    try {
      materialize(manifest);
    } finally {
      chunks.forget(manifest.getModelId(), manifest.getVersion());
    }
    consumer.commitSync();
  }

  private void materialize(AdapterManifest manifest) {
    String modelId = manifest.getModelId();
    long version = manifest.getVersion();
    Path modelDir = config.dir().resolve(modelId);
    Path target = modelDir.resolve("v" + version);
    if (Files.isDirectory(target)) {
      log.info("{} v{} already in {}", modelId, version, target);
      events.onVersion(modelId, version, SinkListener.ALREADY_PRESENT);
      return;
    }
    List<String> problems = new ArrayList<>();
    Map<String, byte[]> files = chunks.assembleAll(modelId, version, manifest.getFiles(), problems);
    if (!problems.isEmpty()) {
      log.error(
          "{} v{} not materialized (did the sink start mid-version?): {}",
          modelId,
          version,
          problems);
      events.onVersion(modelId, version, SinkListener.INCOMPLETE);
      return;
    }
    AdapterFiles adapter = AdapterFiles.of(files);
    if (!adapter.sha256().equals(manifest.getSha256())) {
      log.error(
          "{} v{}: weights sha256 {} differs from the manifest's {}; not materialized",
          modelId,
          version,
          adapter.sha256(),
          manifest.getSha256());
      events.onVersion(modelId, version, SinkListener.SHA256_MISMATCH);
      return;
    }
    try {
      Files.createDirectories(modelDir);
      Path tmp = Files.createTempDirectory(modelDir, ".tmp-v" + version + "-");
      readableByServers(tmp);
      for (Map.Entry<String, byte[]> file : files.entrySet()) {
        Files.write(tmp.resolve(file.getKey()), file.getValue());
      }
      Files.writeString(
          tmp.resolve(MANIFEST_FILE),
          SpecificData.get().toString(manifest) + "\n",
          StandardCharsets.UTF_8);
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (FileAlreadyExistsException | AtomicMoveNotSupportedException e) {
        deleteTree(tmp);
        throw e;
      }
      pointLatestAt(modelDir, target);
      prune(modelDir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + target, e);
    }
    log.info("materialized {} v{} in {}", modelId, version, target);
    events.onVersion(modelId, version, SinkListener.MATERIALIZED);
    listener.accept(new Materialized(modelId, version, target, manifest));
  }

  /** Temporary directories are created owner-only; a serving process may run as another user. */
  private static void readableByServers(Path dir) throws IOException {
    if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
  }

  /** Replaces {@code latest} atomically: a new link under a temporary name, renamed over it. */
  private static void pointLatestAt(Path modelDir, Path target) throws IOException {
    Path link = modelDir.resolve("latest");
    Path tmp = modelDir.resolve(".latest-" + System.nanoTime());
    Files.createSymbolicLink(tmp, target.getFileName());
    Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private void prune(Path modelDir) throws IOException {
    int keep = config.keepVersions();
    if (keep == 0) {
      return;
    }
    List<Path> versions = new ArrayList<>();
    try (Stream<Path> entries = Files.list(modelDir)) {
      entries
          .filter(p -> p.getFileName().toString().matches("v\\d+") && Files.isDirectory(p))
          .forEach(versions::add);
    }
    versions.sort(
        Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(1))));
    for (Path old : versions.subList(0, Math.max(0, versions.size() - keep))) {
      deleteTree(old);
      log.info("pruned {}", old);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  /** Stops {@link #run()} from another thread. */
  @Override
  public void close() {
    running.set(false);
    consumer.wakeup();
  }
}
