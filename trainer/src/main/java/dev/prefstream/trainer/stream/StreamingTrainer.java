package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.publisher.FencedException;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.Consumer;
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
 * The long-running trainer: consumes {@code pairs} (read_committed), forms minibatches per model id
 * (by count, or whatever waited too long), takes a step per batch, and every so often publishes a
 * version of that model in one transaction with its trainer state and the consumer offsets.
 *
 * <p>Exactly once: a pair is in the version whose lineage range holds its offset, and the group's
 * committed offset never passes a pair that is in no published version yet (models sharing a
 * partition hold it back for each other), so a crash re-reads exactly the unpublished pairs, and a
 * restarted session skips what its restored state says is already published.
 */
public final class StreamingTrainer implements Runnable, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(StreamingTrainer.class);

  private final TrainerConfig config;
  private final SchemaRegistry registry;
  private final Learner.Factory learners;
  private final TrainerListener listener;
  private final Topics topics;
  private final ConfluentAvro<PreferencePair> pairs;
  private final KafkaConsumer<String, byte[]> consumer;
  private final Map<String, ModelSession> sessions = new HashMap<>();
  private final Set<String> fencedModels = new HashSet<>();
  private final Set<String> reopened = new HashSet<>();
  private final Set<String> onlyModels;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final BaseModel baseModel;
  private final TrainerStateWriter stateWriter;

  public StreamingTrainer(
      TrainerConfig config,
      SchemaRegistry registry,
      Learner.Factory learners,
      TrainerListener listener) {
    this.config = config;
    this.registry = registry;
    this.learners = learners;
    this.listener = listener;
    this.topics = config.topics();
    this.pairs = new ConfluentAvro<>(PreferencePair.class, registry, false);
    this.onlyModels = Set.copyOf(config.modelIds());
    this.stateWriter =
        new TrainerStateWriter(topics, registry, config.getInt(TrainerConfig.CHUNK_BYTES_CONFIG));
    this.baseModel = new BaseModel(learners.baseModelName(), learners.baseModelSha256());
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ConsumerConfig.GROUP_ID_CONFIG, config.trainerId());
    // static membership: a restarted trainer gets its partitions back without a rebalance
    props.putIfAbsent(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, config.instanceId());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(
        ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.max(16, 2 * config.recipe().batchSize()));
    this.consumer =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
  }

  /** Trains until {@link #close()} is called from another thread. */
  @Override
  public void run() {
    consumer.subscribe(List.of(topics.pairs()), new Rebalance());
    long maxWaitNanos = config.getLong(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG) * 1_000_000;
    try {
      while (running.get()) {
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(100))) {
          accept(record);
        }
        long now = System.nanoTime();
        for (ModelSession session : List.copyOf(sessions.values())) {
          if (session.waitedTooLong(now, maxWaitNanos)) {
            session.trainBatch(session.pendingCount(), listener);
          }
          if (session.publishDue(now)) {
            publish(session);
          }
        }
      }
    } catch (WakeupException e) {
      if (running.get()) {
        throw e;
      }
    } finally {
      closeSessions(List.copyOf(sessions.values()));
      consumer.close();
    }
  }

  private void accept(ConsumerRecord<String, byte[]> record) {
    String modelId = record.key() != null ? record.key() : modelIdInValue(record);
    if (modelId == null
        || !(onlyModels.isEmpty() || onlyModels.contains(modelId))
        || fencedModels.contains(modelId)) {
      return;
    }
    TopicPartition tp = new TopicPartition(record.topic(), record.partition());
    ModelSession session = sessions.get(modelId);
    if (session == null) {
      session = open(modelId, tp);
      sessions.put(modelId, session);
    } else if (!session.partition().equals(tp)) {
      // ingest keys pairs by model id, so a model lives on one partition; a foreign producer
      // that partitions otherwise breaks lineage, and its records are not trained
      log.error(
          "{}: pair at {}@{} ignored: this model is trained from {} (pairs must be keyed by"
              + " model id)",
          modelId,
          tp,
          record.offset(),
          session.partition());
      return;
    }
    if (session.alreadyPublished(record.offset())) {
      return;
    }
    PreferencePair pair;
    try {
      pair = pairs.decode(record.value());
    } catch (WireFormatException e) {
      log.error(
          "{}: unreadable pair at {}-{}@{} ({}): {}; it goes to the dead letters with the next"
              + " version",
          modelId,
          record.topic(),
          record.partition(),
          record.offset(),
          e.reason().code(),
          e.getMessage());
      session.rejectUnreadable(record, e, listener);
      return;
    }
    session.add(record, pair, System.nanoTime(), listener);
    if (session.pendingCount() >= config.recipe().batchSize()) {
      session.trainBatch(config.recipe().batchSize(), listener);
    }
  }

  /** An unkeyed record's model id, read from its value; null (logged) when unreadable. */
  private String modelIdInValue(ConsumerRecord<String, byte[]> record) {
    try {
      return pairs.decode(record.value()).getModelId();
    } catch (WireFormatException e) {
      log.error(
          "unkeyed, unreadable record at {}-{}@{} ({}) belongs to no model: skipped",
          record.topic(),
          record.partition(),
          record.offset(),
          e.reason().code());
      return null;
    }
  }

  private ModelSession open(String modelId, TopicPartition tp) {
    Learner learner = learners.create(modelId);
    AdapterPublisher publisher =
        new AdapterPublisher(
            config.kafkaClientProperties(),
            AdapterPublisher.transactionalId(config.trainerId(), modelId),
            topics,
            registry,
            config.getInt(TrainerConfig.CHUNK_BYTES_CONFIG));
    ModelSession session =
        new ModelSession(modelId, tp, learner, publisher, stateWriter, config, baseModel);
    TrainerStateReader.Restored restored =
        TrainerStateReader.read(config.kafkaClientProperties(), topics, registry, Set.of(modelId))
            .get(modelId);
    if (restored != null) {
      session.restore(restored);
    } else {
      log.info("{}: no published state, starting a new adapter on {}", modelId, tp);
    }
    return session;
  }

  private void publish(ModelSession session) {
    TopicPartition tp = session.partition();
    long commit = consumer.position(tp);
    for (ModelSession other : sessions.values()) {
      if (other.partition().equals(tp)) {
        var hold = other.holdBack(other == session);
        if (hold.isPresent()) {
          commit = Math.min(commit, hold.getAsLong());
        }
      }
    }
    try {
      ModelSession.Result result =
          session.publishOrRefuse(
              Map.of(tp, new OffsetAndMetadata(commit)), consumer.groupMetadata());
      if (result instanceof ModelSession.Result.Published published) {
        listener.onPublished(published.manifest(), published.pairOccurredAt());
      } else {
        listener.onRefused(((ModelSession.Result.Refused) result).refusal());
      }
    } catch (FencedException e) {
      if (consumer.assignment().contains(tp) && reopened.add(session.modelId())) {
        // another producer committed one transaction for this model (`adapters rollback` does):
        // every model on the partition drops its unpublished work and reloads its committed state
        log.warn("{}: {}; reloading committed state", session.modelId(), e.getMessage());
        closeSessions(sessions.values().stream().filter(s -> s.partition().equals(tp)).toList());
        consumer.seek(tp, committedOrStart(tp));
      } else {
        log.error("{}: {}; no longer training it here", session.modelId(), e.getMessage());
        closeSessions(List.of(session));
        fencedModels.add(session.modelId());
      }
    }
  }

  private long committedOrStart(TopicPartition tp) {
    OffsetAndMetadata committed = consumer.committed(Set.of(tp)).get(tp);
    return committed != null ? committed.offset() : consumer.beginningOffsets(List.of(tp)).get(tp);
  }

  private void closeSessions(Collection<ModelSession> toClose) {
    for (ModelSession session : toClose) {
      sessions.remove(session.modelId());
      try {
        session.close();
      } catch (RuntimeException e) {
        log.warn("{}: error while closing: {}", session.modelId(), e.toString());
      }
    }
  }

  /** Partitions taken away drop their models' unpublished work: the new owner re-reads it. */
  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      List<ModelSession> lost = new ArrayList<>();
      for (ModelSession s : sessions.values()) {
        if (partitions.contains(s.partition())) {
          lost.add(s);
        }
      }
      if (!lost.isEmpty()) {
        log.info(
            "partitions {} revoked: dropping unpublished work of {}",
            partitions,
            lost.stream().map(ModelSession::modelId).toList());
      }
      closeSessions(lost);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      fencedModels.clear();
      reopened.clear();
    }
  }

  /**
   * The consumer of {@code pairs}, for metrics binders and readiness (assigned partitions): only
   * its {@code metrics()} may be called from another thread; everything else belongs to {@link
   * #run()}.
   */
  public Consumer<?, ?> consumer() {
    return consumer;
  }

  /** Stops {@link #run()} from another thread; unpublished batches are dropped, not lost. */
  @Override
  public void close() {
    running.set(false);
    consumer.wakeup();
  }
}
