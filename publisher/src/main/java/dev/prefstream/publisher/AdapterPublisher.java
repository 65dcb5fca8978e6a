package dev.prefstream.publisher;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.avro.TrainerStateRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.function.Consumer;
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

  /** Data bytes per chunk: well under the adapters topic's 2 MiB max.message.bytes. */
  public static final int DEFAULT_CHUNK_BYTES = 1 << 20;

  private final KafkaProducer<String, byte[]> producer;
  private final String adaptersTopic;
  private final String adaptersSubject;
  private final ConfluentAvro<AdapterRecord> adapterCodec;
  private final String deadLettersTopic;
  private final String deadLettersSubject;
  private final ConfluentAvro<Rejection> rejectionCodec;
  private final String stateTopic;
  private final String stateSubject;
  private final ConfluentAvro<TrainerStateRecord> stateCodec;
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
    this.deadLettersTopic = topics.deadLetters();
    this.deadLettersSubject = ConfluentAvro.subject(deadLettersTopic, false);
    this.rejectionCodec = new ConfluentAvro<>(Rejection.class, registry, true);
    this.stateTopic = topics.trainerState();
    this.stateSubject = ConfluentAvro.subject(stateTopic, false);
    this.stateCodec = new ConfluentAvro<>(TrainerStateRecord.class, registry, true);
    this.chunkBytes = chunkBytes;
    this.transactionalId = transactionalId;
    producer.initTransactions();
  }

  /** What one publish wrote: the manifest as committed, and where it landed. */
  public record Published(
      AdapterManifest manifest, TopicPartition partition, long manifestOffset) {}

  /**
   * The trainer state that commits with a version: the state record and the files it lists (adapter
   * weights, optimizer moments), chunked under keys {@code <model>/<file>/<index>}.
   */
  public record StateSnapshot(TrainerState.Builder state, Map<String, byte[]> files) {}

  /**
   * What commits in the same transaction as a version or a refusal.
   *
   * @param state the trainer state to write; null for none
   * @param deadLetters input records the trainer could not use, for the dead-letter topic
   * @param offsets the next offsets to consume, per input partition (may be empty)
   * @param group the consumer's group metadata, for fencing of zombie consumers
   */
  public record Alongside(
      StateSnapshot state,
      List<Rejection> deadLetters,
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group) {
    public Alongside {
      deadLetters = List.copyOf(deadLetters);
      offsets = Map.copyOf(offsets);
    }

    /** Only a trainer state, no input offsets: for tools that consume nothing (rollback). */
    public static Alongside stateOnly(StateSnapshot state, String groupId) {
      return new Alongside(state, List.of(), Map.of(), new ConsumerGroupMetadata(groupId));
    }
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
    String modelId = manifest.getModelId();
    long version = manifest.getVersion();
    String what = "publishing " + modelId + " v" + version;
    AdapterManifest[] complete = new AdapterManifest[1];
    Future<RecordMetadata> manifestSent =
        inTransaction(
            what,
            () -> {
              List<AdapterFile> described =
                  sendChunked(
                      modelId,
                      version,
                      files.files(),
                      chunk -> sendAdapterRecord(modelId, new AdapterRecord(chunk)));
              complete[0] =
                  manifest
                      .setFiles(described)
                      .setSha256(files.sha256())
                      .setCreatedAt(Instant.ofEpochMilli(System.currentTimeMillis()))
                      .build();
              return sendAdapterRecord(modelId, new AdapterRecord(complete[0]));
            },
            modelId,
            version,
            alongside);
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
   *
   * @param version the version number of the state written (the unchanged current version)
   */
  public void refuse(VersionRefusal refusal, long version, Alongside alongside) {
    String modelId = refusal.getModelId();
    String what = "recording a refused candidate of " + modelId;
    committed(
        inTransaction(
            what,
            () -> sendAdapterRecord(modelId, new AdapterRecord(refusal)),
            modelId,
            version,
            alongside),
        what);
    log.warn("{}: candidate refused ({}): {}", modelId, refusal.getReason(), refusal.getMessage());
  }

  /** Runs {@code sends}, then writes {@code alongside}, and commits it all as one transaction. */
  private <T> T inTransaction(
      String what, Callable<T> sends, String modelId, long version, Alongside alongside) {
    producer.beginTransaction();
    try {
      T result = sends.call();
      if (alongside.state() != null) {
        sendState(modelId, version, alongside.state());
      }
      for (Rejection rejection : alongside.deadLetters()) {
        send(deadLettersTopic, modelId, rejectionCodec.encode(deadLettersSubject, rejection));
      }
      if (!alongside.offsets().isEmpty()) {
        producer.sendOffsetsToTransaction(alongside.offsets(), alongside.group());
      }
      producer.commitTransaction();
      return result;
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      throw new FencedException(transactionalId, e);
    } catch (OutOfOrderSequenceException | AuthorizationException e) {
      // fatal for this producer: nothing can be aborted; the caller must close it
      throw e;
    } catch (KafkaException e) {
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

  /** Sends every file as chunks (in map order) and returns the manifest entries describing them. */
  private List<AdapterFile> sendChunked(
      String modelId, long version, Map<String, byte[]> files, Consumer<AdapterChunk> sendChunk) {
    List<AdapterFile> described = new ArrayList<>();
    for (Map.Entry<String, byte[]> file : files.entrySet()) {
      List<AdapterChunk> chunks =
          FileChunks.split(modelId, version, file.getKey(), file.getValue(), chunkBytes);
      chunks.forEach(sendChunk);
      described.add(FileChunks.describe(file.getKey(), file.getValue(), chunks.size()));
    }
    return described;
  }

  private void sendState(String modelId, long version, StateSnapshot snapshot) {
    List<AdapterFile> described =
        sendChunked(
            modelId,
            version,
            new TreeMap<>(snapshot.files()),
            chunk ->
                send(
                    stateTopic,
                    TrainerStateReader.chunkKey(modelId, chunk.getFile(), chunk.getIndex()),
                    stateCodec.encode(stateSubject, new TrainerStateRecord(chunk))));
    TrainerState state =
        snapshot.state().setModelId(modelId).setVersion(version).setFiles(described).build();
    send(stateTopic, modelId, stateCodec.encode(stateSubject, new TrainerStateRecord(state)));
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
