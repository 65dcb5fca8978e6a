package dev.prefstream.publisher;

import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.registry.SchemaRegistryException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The serving side: consumes {@code adapters} (read_committed), and for each manifest signed by a
 * trusted key reassembles the version from its chunks, verifies every file's size and sha-256, and
 * writes {@code <dir>/<model>/v<version>/} durably and atomically ({@link VersionStore}); {@code
 * <dir>/<model>/latest} points at the newest and never moves backwards. Serving engines are told
 * ({@link EngineReloader}).
 *
 * <p>Every record is untrusted ({@link AdapterRecordReader}): bad ones are logged with their
 * topic/partition/offset, counted by reason and skipped. Manifests that are unsigned, signed by an
 * unknown key or badly signed are refused (counted as {@code refused.<reason>}) before anything
 * touches the disk.
 *
 * <p>Restart safety: the offset committed for a partition is that of its first record whose version
 * is not yet settled (materialized, found on disk intact, refused as incomplete, or superseded by a
 * newer materialized version), so a sink killed at any moment re-reads every version it had not
 * finished. A version that failed to be written (disk full) stays unsettled and is retried with
 * backoff.
 */
public final class AdapterSink implements Runnable, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdapterSink.class);
  public static final String MANIFEST_FILE = VersionStore.MANIFEST_FILE;

  /** Counter names. */
  public static final String MATERIALIZED = "materialized";

  public static final String ALREADY_ON_DISK = "already_on_disk";
  public static final String REFUSED = "refused.";
  public static final String INCOMPLETE = "incomplete";
  public static final String WRITE_FAILED = "write_failed";
  public static final String DUPLICATE_CHUNK = "duplicate_chunk";
  public static final String LATE_CHUNK = "late_chunk";
  public static final String EVICTED_CHUNK = "evicted_chunk";
  public static final String INTERNAL_ERROR = "internal_error";

  private static final int REGISTRY_ATTEMPTS = 5;
  private static final long MAX_RETRY_BACKOFF_MS = 30_000;

  private final SinkConfig config;
  private final KafkaConsumer<String, byte[]> consumer;
  private final AdapterRecordReader reader;
  private final ManifestVerifier verifier;
  private final VersionStore store;
  private final Consumer<Materialized> listener;
  private final EngineReloader engines;
  private final Counters counters;
  private final SinkListener events;

  /** When each recent version was materialized: serving-engine load times are measured from it. */
  private final Map<VersionKey, Long> readyAt =
      java.util.Collections.synchronizedMap(
          new java.util.LinkedHashMap<>() {
            @Override
            protected boolean removeEldestEntry(Map.Entry<VersionKey, Long> eldest) {
              return size() > 1024;
            }
          });

  private final FileChunks chunks = new FileChunks();
  private final AtomicBoolean running = new AtomicBoolean(true);

  /** Per partition: offset -> the version an unsettled record belongs to. */
  private final Map<TopicPartition, TreeMap<Long, VersionKey>> unsettled = new HashMap<>();

  /** Per partition: the offset after the last record handled. */
  private final Map<TopicPartition, Long> next = new HashMap<>();

  private final Map<TopicPartition, Long> committed = new HashMap<>();
  private final Set<VersionKey> settled = new HashSet<>();
  private final Map<VersionKey, Retry> retries = new HashMap<>();
  private final Set<String> models = new HashSet<>();

  /** A version now on disk. */
  public record Materialized(String modelId, long version, Path dir, AdapterManifest manifest) {}

  private record VersionKey(String modelId, long version) {}

  private static final class Retry {
    final AdapterManifest manifest;
    final Map<String, byte[]> files;
    long backoffMs;
    long dueAtMs;

    Retry(AdapterManifest manifest, Map<String, byte[]> files, long backoffMs, long nowMs) {
      this.manifest = manifest;
      this.files = files;
      this.backoffMs = backoffMs;
      this.dueAtMs = nowMs + backoffMs;
    }
  }

  public AdapterSink(SinkConfig config, SchemaRegistry registry, Consumer<Materialized> listener) {
    this(config, registry, listener, SinkListener.NONE);
  }

  /** As above, reporting every version's outcome and engine load to {@code events} as well. */
  public AdapterSink(
      SinkConfig config,
      SchemaRegistry registry,
      Consumer<Materialized> listener,
      SinkListener events) {
    this(
        config,
        registry,
        listener,
        new Counters(),
        (engine, model, version, name, ok) -> {},
        events);
  }

  public AdapterSink(
      SinkConfig config,
      SchemaRegistry registry,
      Consumer<Materialized> listener,
      Counters counters,
      EngineReloader.Listener engineListener) {
    this(config, registry, listener, counters, engineListener, SinkListener.NONE);
  }

  private AdapterSink(
      SinkConfig config,
      SchemaRegistry registry,
      Consumer<Materialized> listener,
      Counters counters,
      EngineReloader.Listener engineListener,
      SinkListener events) {
    this.config = config;
    this.counters = counters;
    this.events = events;
    this.verifier = config.verifier();
    this.store = new VersionStore(config.dir());
    this.reader =
        new AdapterRecordReader(
            registry, new AdapterRecordCheck(config.maxAdapterBytes()), counters);
    this.engines =
        EngineReloader.of(
            config,
            counters,
            (engine, model, version, name, ok) -> {
              engineListener.loaded(engine, model, version, name, ok);
              Long since = readyAt.get(new VersionKey(model, version));
              events.onReload(
                  model,
                  version,
                  ok ? "ok" : "failed",
                  java.time.Duration.ofNanos(since == null ? 0 : System.nanoTime() - since));
            });
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 << 20);
    this.consumer =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
    this.listener = listener;
    consumer.subscribe(List.of(config.topics().adapters()), new Rebalance());
    if (verifier.allowsUnsigned()) {
      log.warn(
          "sink.allow.unsigned: versions are materialized without a trusted signature; anyone"
              + " who can write to {} decides what is served",
          config.topics().adapters());
    } else {
      log.info("sink trusts signing keys {}", verifier.keyIds());
    }
  }

  /** Polls until {@link #close()} is called from another thread. */
  @Override
  public void run() {
    try {
      int removed = store.removeLeftovers();
      if (removed > 0) {
        log.info("removed {} leftover temporary directories under {}", removed, store.root());
      }
      announceLatestToEngines();
      while (running.get()) {
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
          handleSafely(record);
        }
        long now = System.currentTimeMillis();
        retryDue(now);
        pruneAll(now);
        commitSettled();
      }
    } catch (WakeupException e) {
      if (running.get()) {
        throw e;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("sink directory " + store.root(), e);
    } finally {
      try {
        if (!running.get()) {
          commitSettled();
        }
      } catch (RuntimeException e) {
        log.warn("final commit failed: {}", e.toString());
      }
      consumer.close();
      engines.close();
    }
  }

  /** Engines restarted with the sink have none of our versions: load each model's latest. */
  private void announceLatestToEngines() throws IOException {
    if (engines.isEmpty()) {
      return;
    }
    for (String model : store.models()) {
      OptionalLong latest = store.latest(model);
      if (latest.isPresent() && store.exists(model, latest.getAsLong())) {
        engines.versionReady(
            model, latest.getAsLong(), store.versionDir(model, latest.getAsLong()));
      }
    }
  }

  private void handleSafely(ConsumerRecord<String, byte[]> record) {
    TopicPartition tp = new TopicPartition(record.topic(), record.partition());
    next.put(tp, record.offset() + 1);
    try {
      handle(tp, record);
    } catch (SchemaRegistryException e) {
      throw e;
    } catch (RuntimeException e) {
      // a record no rule foresaw: it must not stop the sink or be retried forever
      counters.increment(AdapterRecordReader.SKIPPED + INTERNAL_ERROR);
      log.error(
          "skipping {}-{}@{} ({}): {}",
          record.topic(),
          record.partition(),
          record.offset(),
          INTERNAL_ERROR,
          e.toString(),
          e);
    }
  }

  private AdapterRecord decode(ConsumerRecord<String, byte[]> record) {
    for (int attempt = 1; ; attempt++) {
      try {
        return reader.read(record);
      } catch (SchemaRegistryException e) {
        if (attempt >= REGISTRY_ATTEMPTS || !running.get()) {
          throw e;
        }
        log.warn("schema registry unavailable (attempt {}): {}", attempt, e.getMessage());
        try {
          Thread.sleep(500L << attempt);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
  }

  private void handle(TopicPartition tp, ConsumerRecord<String, byte[]> record) {
    AdapterRecord decoded = decode(record);
    if (decoded == null) {
      events.onVersion("", -1, SinkListener.UNREADABLE);
      return;
    }
    Object payload = decoded.getPayload();
    if (payload instanceof AdapterChunk chunk) {
      onChunk(tp, record, chunk);
    } else if (payload instanceof AdapterManifest manifest) {
      onManifest(tp, record, manifest);
    } else {
      VersionRefusal refusal = (VersionRefusal) payload;
      log.info(
          "{}: the trainer refused a candidate after v{} ({}); nothing to materialize",
          refusal.getModelId(),
          refusal.getParentVersion(),
          AdapterRecordCheck.shown(refusal.getReason()));
    }
  }

  private void onChunk(TopicPartition tp, ConsumerRecord<String, byte[]> record, AdapterChunk c) {
    VersionKey key = new VersionKey(c.getModelId(), c.getVersion());
    if (settled.contains(key)) {
      skip(record, LATE_CHUNK, "chunk of " + key + ", which is settled already");
      return;
    }
    // a version holds at most sink.max.adapter.bytes of candidate chunks: beyond that the oldest
    // go (a flood written ahead of a version cannot crowd out its genuine chunks, which come last)
    long held = chunks.pendingBytes(c.getModelId(), c.getVersion());
    while (held + c.getData().remaining() > config.maxAdapterBytes()) {
      long freed = chunks.evictOldest(c.getModelId(), c.getVersion());
      if (freed < 0) {
        break;
      }
      counters.increment(AdapterRecordReader.SKIPPED + EVICTED_CHUNK);
      held -= freed;
    }
    if (!chunks.add(c)) {
      skip(record, DUPLICATE_CHUNK, c.getFile() + " chunk " + c.getIndex() + " of " + key);
      return;
    }
    unsettled.computeIfAbsent(tp, t -> new TreeMap<>()).put(record.offset(), key);
  }

  private void skip(ConsumerRecord<String, byte[]> record, String reason, String message) {
    counters.increment(AdapterRecordReader.SKIPPED + reason);
    events.onVersion("", -1, "skipped_" + reason);
    log.warn(
        "skipping {}-{}@{} ({}): {}",
        record.topic(),
        record.partition(),
        record.offset(),
        reason,
        message);
  }

  private void onManifest(
      TopicPartition tp, ConsumerRecord<String, byte[]> record, AdapterManifest manifest) {
    String modelId = manifest.getModelId();
    long version = manifest.getVersion();
    String problem = verifier.problem(manifest);
    if (problem != null) {
      counters.increment(REFUSED + problem);
      events.onVersion(modelId, version, "refused_" + problem);
      log.error(
          "REFUSED {} v{} at {}-{}@{} ({}, key id {}): not materialized",
          modelId,
          version,
          record.topic(),
          record.partition(),
          record.offset(),
          problem,
          AdapterRecordCheck.shown(manifest.getSigningKeyId()));
      return;
    }
    VersionKey key = new VersionKey(modelId, version);
    unsettled.computeIfAbsent(tp, t -> new TreeMap<>()).put(record.offset(), key);
    models.add(modelId);
    long now = System.currentTimeMillis();
    try {
      if (store.holds(manifest)) {
        log.info("{} v{} already on disk and intact", modelId, version);
        counters.increment(ALREADY_ON_DISK);
        events.onVersion(modelId, version, SinkListener.ALREADY_PRESENT);
        settle(key);
        store.advanceLatest(modelId, version, now);
        return;
      }
    } catch (IOException e) {
      log.warn("{} v{}: cannot check the version on disk: {}", modelId, version, e.toString());
    }
    List<String> problems = new ArrayList<>();
    Map<String, byte[]> files = chunks.assembleAll(modelId, version, manifest.getFiles(), problems);
    chunks.forgetVersion(modelId, version);
    if (!problems.isEmpty()) {
      counters.increment(REFUSED + INCOMPLETE);
      events.onVersion(modelId, version, SinkListener.INCOMPLETE);
      log.error(
          "REFUSED {} v{} at {}-{}@{} ({}): {}",
          modelId,
          version,
          record.topic(),
          record.partition(),
          record.offset(),
          INCOMPLETE,
          problems);
      settle(key);
      return;
    }
    write(key, manifest, files, now, config.retryBackoffMs());
  }

  private void write(
      VersionKey key, AdapterManifest manifest, Map<String, byte[]> files, long now, long backoff) {
    Path dir;
    try {
      dir = store.write(manifest, files);
    } catch (IOException | UncheckedIOException e) {
      counters.increment(WRITE_FAILED);
      events.onVersion(key.modelId(), key.version(), SinkListener.WRITE_FAILED);
      Retry retry = retries.get(key);
      if (retry == null) {
        retry = new Retry(manifest, files, backoff, now);
        retries.put(key, retry);
      } else {
        retry.backoffMs = Math.min(MAX_RETRY_BACKOFF_MS, retry.backoffMs * 2);
        retry.dueAtMs = now + retry.backoffMs;
      }
      log.error(
          "{} v{} could not be written ({}); retrying in {} ms, offsets held before it",
          key.modelId(),
          key.version(),
          e.toString(),
          retry.backoffMs);
      return;
    }
    retries.remove(key);
    materialized(key, manifest, dir, now);
  }

  private void materialized(VersionKey key, AdapterManifest manifest, Path dir, long now) {
    counters.increment(MATERIALIZED);
    events.onVersion(key.modelId(), key.version(), SinkListener.MATERIALIZED);
    readyAt.put(key, System.nanoTime());
    settle(key);
    supersede(key);
    boolean newest;
    try {
      newest = store.advanceLatest(key.modelId(), key.version(), now).isPresent();
    } catch (IOException e) {
      // the version is on disk; latest catches up with the next version or restart
      log.error("{}: cannot point latest at v{}: {}", key.modelId(), key.version(), e.toString());
      newest = false;
    }
    log.info("materialized {} v{} in {}", key.modelId(), key.version(), dir);
    listener.accept(new Materialized(key.modelId(), key.version(), dir, manifest));
    if (newest) {
      engines.versionReady(key.modelId(), key.version(), dir);
    }
  }

  private void retryDue(long now) {
    for (Map.Entry<VersionKey, Retry> e : List.copyOf(retries.entrySet())) {
      Retry r = e.getValue();
      if (r.dueAtMs <= now) {
        write(e.getKey(), r.manifest, r.files, now, r.backoffMs);
      }
    }
  }

  private void pruneAll(long now) {
    if (config.keepVersions() == 0) {
      return;
    }
    for (String model : models) {
      try {
        store.prune(model, config.keepVersions(), config.pruneGraceMs(), now);
      } catch (IOException e) {
        log.warn("{}: pruning failed: {}", model, e.toString());
      }
    }
  }

  /** The version's records no longer hold the committed offset back. */
  private void settle(VersionKey key) {
    settled.add(key);
    for (TreeMap<Long, VersionKey> offsets : unsettled.values()) {
      offsets.values().removeIf(key::equals);
    }
  }

  /** Older versions of the same model that never completed are superseded by {@code key}. */
  private void supersede(VersionKey key) {
    for (TreeMap<Long, VersionKey> offsets : unsettled.values()) {
      Iterator<VersionKey> it = offsets.values().iterator();
      while (it.hasNext()) {
        VersionKey other = it.next();
        if (other.modelId().equals(key.modelId())
            && other.version() < key.version()
            && !retries.containsKey(other)) {
          it.remove();
          chunks.forgetVersion(other.modelId(), other.version());
        }
      }
    }
  }

  /** Commits, per partition, the offset of its first unsettled record (or its end). */
  private void commitSettled() {
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    for (Map.Entry<TopicPartition, Long> e : next.entrySet()) {
      TopicPartition tp = e.getKey();
      TreeMap<Long, VersionKey> pending = unsettled.get(tp);
      long offset = pending == null || pending.isEmpty() ? e.getValue() : pending.firstKey();
      Long done = committed.get(tp);
      if (done == null || offset > done) {
        offsets.put(tp, new OffsetAndMetadata(offset));
      }
    }
    if (!offsets.isEmpty()) {
      consumer.commitSync(offsets);
      offsets.forEach((tp, o) -> committed.put(tp, o.offset()));
    }
  }

  /**
   * The consumer of {@code adapters}, for metrics binders and readiness (assigned partitions): only
   * its {@code metrics()} may be called from another thread; everything else belongs to {@link
   * #run()}.
   */
  public org.apache.kafka.clients.consumer.Consumer<?, ?> consumer() {
    return consumer;
  }

  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      try {
        commitSettled();
      } catch (RuntimeException e) {
        log.warn("commit on revocation failed: {}", e.toString());
      }
      forget(partitions);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      forget(partitions);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}

    private void forget(Collection<TopicPartition> partitions) {
      for (TopicPartition tp : partitions) {
        unsettled.remove(tp);
        next.remove(tp);
        committed.remove(tp);
      }
    }
  }

  public Counters counters() {
    return counters;
  }

  /** Each serving engine's last outcome. */
  public Map<String, String> engineStatus() {
    return engines.status();
  }

  /** Stops {@link #run()} from another thread. */
  @Override
  public void close() {
    running.set(false);
    consumer.wakeup();
  }
}
