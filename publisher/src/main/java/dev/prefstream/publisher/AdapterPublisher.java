package dev.prefstream.publisher;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes adapter versions to the {@code adapters} topic, each in ONE Kafka transaction together
 * with the trainer state that must commit with it and the consumer offsets it trained through. A
 * version is therefore either entirely visible to read_committed consumers, with its input marked
 * consumed, or not at all.
 *
 * <p>The {@code transactional.id} must be stable per trainer and model: a restarted trainer then
 * fences its predecessor, whose late commits fail with {@link FencedException}.
 */
public final class AdapterPublisher implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdapterPublisher.class);

  /**
   * FAULT INJECTION, FOR TESTS ONLY: with {@code -Dprefstream.fault.halt.before.commit=N} the JVM
   * halts (exit status 137, no shutdown hooks, like a SIGKILL) while publishing version N of any
   * model, after the version's chunks, manifest and everything committed with it were sent to the
   * broker and before {@code commitTransaction}. Crash tests use it to leave an open transaction
   * behind that a restart must abort. Read once; absent (the default) does nothing.
   */
  public static final String FAULT_HALT_BEFORE_COMMIT = "prefstream.fault.halt.before.commit";

  private static final long HALT_BEFORE_COMMIT_VERSION =
      Long.getLong(FAULT_HALT_BEFORE_COMMIT, -1L);

  /** Data bytes per chunk: well under the adapters topic's 2 MiB max.message.bytes. */
  public static final int DEFAULT_CHUNK_BYTES = 1 << 20;

  private final KafkaProducer<String, byte[]> producer;
  private final String adaptersTopic;
  private final String adaptersSubject;
  private final ConfluentAvro<AdapterRecord> adapterCodec;
  private final int chunkBytes;
  private final String transactionalId;

  /**
   * Creates the producer and initialises its transactions (which fences any older producer with the
   * same id and aborts its open transaction).
   */
  public AdapterPublisher(
      Map<String, Object> clientProperties,
      String transactionalId,
      Topics topics,
      SchemaRegistry registry,
      int chunkBytes) {
    if (chunkBytes < 1024) {
      throw new IllegalArgumentException("chunk size must be >= 1024 bytes, got " + chunkBytes);
    }
    Map<String, Object> props = new HashMap<>(clientProperties);
    props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Math.max(4 << 20, 2 * chunkBytes));
    props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    this.producer = new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer());
    this.adaptersTopic = topics.adapters();
    this.adaptersSubject = ConfluentAvro.subject(adaptersTopic, false);
    this.adapterCodec = new ConfluentAvro<>(AdapterRecord.class, registry, true);
    this.chunkBytes = chunkBytes;
    this.transactionalId = transactionalId;
    producer.initTransactions();
  }

  /**
   * Initializes {@code transactionalId} and lets it go: a transaction of that id still open (its
   * producer died between sending and committing) is aborted now, instead of when the coordinator
   * times it out ({@code transaction.timeout.ms}), and any producer of that id still alive is
   * fenced. Call it only for ids this process owns.
   */
  public static void completeOpenTransaction(
      Map<String, Object> clientProperties, String transactionalId) {
    Map<String, Object> props = new HashMap<>(clientProperties);
    props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      producer.initTransactions();
    }
  }

  /** What one publish wrote: the manifest as committed, and where it landed. */
  public record Published(
      AdapterManifest manifest, TopicPartition partition, long manifestOffset) {}

  /**
   * What commits in the same transaction as a version or a refusal, written by the caller (the
   * trainer writes its state, dead letters and consumer offsets; a rollback writes a trainer
   * state).
   */
  @FunctionalInterface
  public interface Alongside {
    /** Nothing else commits with the version. */
    Alongside NOTHING = tx -> {};

    void writeTo(Transaction tx) throws Exception;
  }

  /** The open transaction, as an {@link Alongside} sees it. */
  public interface Transaction {
    void send(String topic, String key, byte[] value);

    /**
     * Commits consumer offsets with the transaction (fencing zombie consumers of {@code group}).
     */
    void sendOffsets(Map<TopicPartition, OffsetAndMetadata> offsets, ConsumerGroupMetadata group);
  }

  /**
   * The transactional.id of {@code trainerId}'s publisher for {@code modelId}: stable across
   * restarts, so a restarted trainer (or a rollback) fences the producer it replaces.
   */
  public static String transactionalId(String trainerId, String modelId) {
    return trainerId + "-" + modelId;
  }

  /**
   * Writes {@code files} as chunks, then the manifest, then {@code alongside}, and commits them all
   * in one transaction.
   *
   * @param manifest everything but {@code files}, {@code sha256} and {@code created_at}, which are
   *     filled in here
   * @throws FencedException when a newer producer with the same transactional id exists; this
   *     publisher is then unusable
   */
  public Published publish(
      AdapterManifest.Builder manifest, AdapterFiles files, Alongside alongside) {
    return publish(manifest, files, alongside, null);
  }

  /**
   * As {@link #publish(AdapterManifest.Builder, AdapterFiles, Alongside)}, the manifest signed by
   * {@code signer} (its key id and signature set) unless {@code signer} is null.
   */
  public Published publish(
      AdapterManifest.Builder manifest,
      AdapterFiles files,
      Alongside alongside,
      ManifestSigner signer) {
    String modelId = manifest.getModelId();
    long version = manifest.getVersion();
    String what = "publishing " + modelId + " v" + version;
    AdapterManifest[] complete = new AdapterManifest[1];
    Future<RecordMetadata> manifestSent =
        inTransaction(
            what,
            () -> {
              List<AdapterFile> described =
                  FileChunks.sendAll(
                      modelId,
                      version,
                      files.files(),
                      chunkBytes,
                      chunk -> sendAdapterRecord(modelId, new AdapterRecord(chunk)));
              AdapterManifest built =
                  manifest
                      .setFiles(described)
                      .setSha256(files.sha256())
                      .setCreatedAt(Instant.ofEpochMilli(System.currentTimeMillis()))
                      .build();
              complete[0] = signer == null ? built : signer.sign(built);
              return sendAdapterRecord(modelId, new AdapterRecord(complete[0]));
            },
            alongside,
            version == HALT_BEFORE_COMMIT_VERSION ? () -> haltBeforeCommit(what) : () -> {});
    RecordMetadata where = committed(manifestSent, what);
    log.info(
        "published {} v{} ({} bytes, sha256 {}) at {}@{}",
        modelId,
        version,
        files.weights().length,
        complete[0].getSha256().substring(0, 12),
        where.partition(),
        where.offset());
    return new Published(
        complete[0], new TopicPartition(where.topic(), where.partition()), where.offset());
  }

  /**
   * Records a refused candidate version in one transaction with the trainer state it fell back to
   * and the offsets of the pairs it consumed: those pairs are accounted for, and shape nothing.
   */
  public void refuse(VersionRefusal refusal, Alongside alongside) {
    String modelId = refusal.getModelId();
    String what = "recording a refused candidate of " + modelId;
    committed(
        inTransaction(
            what,
            () -> sendAdapterRecord(modelId, new AdapterRecord(refusal)),
            alongside,
            () -> {}),
        what);
    log.warn("{}: candidate refused ({}): {}", modelId, refusal.getReason(), refusal.getMessage());
  }

  /**
   * Commits {@code alongside} alone in one transaction: no version, no refusal (the trainer commits
   * dead letters and offsets this way when a model has nothing to publish).
   */
  public void commit(String what, Alongside alongside) {
    inTransaction(what, () -> null, alongside, () -> {});
  }

  /**
   * See {@link #FAULT_HALT_BEFORE_COMMIT}: every record of the transaction sent, none committed.
   */
  private void haltBeforeCommit(String what) {
    producer.flush();
    System.err.println(
        "FAULT INJECTION ("
            + FAULT_HALT_BEFORE_COMMIT
            + "): halting the JVM while "
            + what
            + ", its records sent, before commitTransaction");
    System.err.flush();
    Runtime.getRuntime().halt(137);
  }

  /**
   * Runs {@code sends}, then writes {@code alongside}, then {@code beforeCommit} (a test's fault
   * injection, or nothing), and commits it all as one transaction.
   */
  private <T> T inTransaction(
      String what, Callable<T> sends, Alongside alongside, Runnable beforeCommit) {
    producer.beginTransaction();
    try {
      T result = sends.call();
      alongside.writeTo(
          new Transaction() {
            @Override
            public void send(String topic, String key, byte[] value) {
              AdapterPublisher.this.send(topic, key, value);
            }

            @Override
            public void sendOffsets(
                Map<TopicPartition, OffsetAndMetadata> offsets, ConsumerGroupMetadata group) {
              if (!offsets.isEmpty()) {
                producer.sendOffsetsToTransaction(offsets, group);
              }
            }
          });
      beforeCommit.run();
      producer.commitTransaction();
      return result;
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      throw new FencedException(transactionalId, e);
    } catch (OutOfOrderSequenceException | AuthorizationException e) {
      // fatal for this producer: nothing can be aborted; the caller must close it
      throw e;
    } catch (KafkaException e) {
      // a send refused by an ACL surfaces at commit as "...in an error state": say what was refused
      AuthorizationException denied = authorizationCause(e);
      if (denied != null) {
        throw denied;
      }
      abort(e);
      throw e;
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      abort(e);
      throw new KafkaException(what + " failed: " + e, e);
    }
  }

  private static AuthorizationException authorizationCause(Throwable e) {
    for (Throwable t = e.getCause(); t != null && t != t.getCause(); t = t.getCause()) {
      if (t instanceof AuthorizationException denied) {
        return denied;
      }
    }
    return null;
  }

  /** Where a record of a committed transaction landed (every send succeeded, or commit threw). */
  private static RecordMetadata committed(Future<RecordMetadata> sent, String what) {
    try {
      return sent.get();
    } catch (ExecutionException e) {
      throw new KafkaException(what + ": a send failed after its commit", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new KafkaException(what + ": interrupted", e);
    }
  }

  private Future<RecordMetadata> sendAdapterRecord(String modelId, AdapterRecord record) {
    return send(adaptersTopic, modelId, adapterCodec.encode(adaptersSubject, record));
  }

  private Future<RecordMetadata> send(String topic, String key, byte[] value) {
    return producer.send(new ProducerRecord<>(topic, key, value));
  }

  private void abort(Exception cause) {
    try {
      producer.abortTransaction();
    } catch (KafkaException abortFailure) {
      cause.addSuppressed(abortFailure);
    }
  }

  public String transactionalId() {
    return transactionalId;
  }

  @Override
  public void close() {
    producer.close();
  }
}
