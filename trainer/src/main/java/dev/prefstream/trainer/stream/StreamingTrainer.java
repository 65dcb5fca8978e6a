package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.publisher.FencedException;
import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.ModelIds;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.producer.ProducerConfig;
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
 * <p>Ownership of a pair offset: it is in exactly one of a published version (or refusal) of its
 * model, the held-out share of such a range, the dead letters, or after the committed offset. The
 * committed offset never passes a pair that is in none of the first three: models sharing a
 * partition hold it back for each other, and pairs of models this process does not train (unkeyed
 * and unreadable, an invalid key, excluded by {@code trainer.model.ids}, over {@code
 * trainer.max.models}, or seen on a second partition) are dead letters that commit with the next
 * transaction on their partition; the committed offset's metadata records how far they are written,
 * so a restart writes none twice.
 *
 * <p>Unpaired feedback: with an unpaired loss (kto, apo_zero_unpaired) the trainer also consumes
 * {@code unpaired} (thumbs up/down), co-partitioned with {@code pairs} by model id: a model trained
 * from pairs partition i also trains the unpaired records of partition i, in the same batches and
 * versions; each version's lineage and each batch name their ranges on both partitions, and the
 * transaction commits the offsets of both. The partition counts must be equal (checked at start-up)
 * and RangeAssignor gives partition i of both topics to the same member (checked at every
 * assignment). The ownership rule above holds for each of the two partitions. With a pair loss the
 * trainer does not read {@code unpaired} at all.
 *
 * <p>Steps, gates and publishes run on a worker thread while this thread keeps polling (with every
 * partition paused), so group membership survives work of any length.
 */
public final class StreamingTrainer implements Runnable, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(StreamingTrainer.class);

  /** Offset-commit metadata: the partition's dead letters are written for offsets below this. */
  static final String DEAD_LETTERED_BEFORE = "dead-lettered-before=";

  /**
   * max.poll.interval.ms unless configured: the poll thread never trains, so this only has to cover
   * one poll loop turn and a revocation that waits for a publish in flight.
   */
  static final int DEFAULT_MAX_POLL_INTERVAL_MS = 300_000;

  /** transaction.timeout.ms unless configured: a version's transaction spans only its sends. */
  static final int DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000;

  private final TrainerConfig config;
  private final SchemaRegistry registry;
  private final Learner.Factory learners;
  private final TrainerListener listener;
  private final Topics topics;
  private final ConfluentAvro<PreferencePair> pairs;
  private final ConfluentAvro<UnpairedFeedback> unpaired;
  private final boolean unpairedInput;
  private final KafkaConsumer<String, byte[]> consumer;
  private final Map<String, Object> producerProperties;
  private final Map<String, ModelSession> sessions = new HashMap<>();
  private final Map<TopicPartition, PartitionLetters> letters = new HashMap<>();
  private final List<ModelSession> retired = new ArrayList<>();
  private final List<ConsumerRecord<String, byte[]>> deferred = new ArrayList<>();
  private final Set<String> onlyModels;
  private final int maxModels;
  private final long deadLetterWaitNanos;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final BaseModel baseModel;
  private final TrainerStateWriter stateWriter;
  private final ExecutorService worker;
  private Map<String, TrainerStateReader.Restored> restoredStates;
  private ModelSession busy;

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
    this.unpaired = new ConfluentAvro<>(UnpairedFeedback.class, registry, false);
    this.unpairedInput = config.unpairedInput();
    this.onlyModels = Set.copyOf(config.modelIds());
    this.maxModels = config.getInt(TrainerConfig.MAX_MODELS_CONFIG);
    long waitMs =
        Math.max(
            config.getLong(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG),
            config.getLong(TrainerConfig.PUBLISH_EVERY_MS_CONFIG));
    this.deadLetterWaitNanos = (waitMs > 0 ? waitMs : 10_000L) * 1_000_000;
    this.stateWriter =
        new TrainerStateWriter(topics, registry, config.getInt(TrainerConfig.CHUNK_BYTES_CONFIG));
    this.baseModel = new BaseModel(learners.baseModelName(), learners.baseModelSha256());
    this.producerProperties = new HashMap<>(config.kafkaClientProperties());
    producerProperties.putIfAbsent(
        ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, DEFAULT_TRANSACTION_TIMEOUT_MS);
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ConsumerConfig.GROUP_ID_CONFIG, config.trainerId());
    // static membership: a restarted trainer gets its partitions back without a rebalance
    props.putIfAbsent(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, config.instanceId());
    props.putIfAbsent(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, DEFAULT_MAX_POLL_INTERVAL_MS);
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.put(
        ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.max(16, 2 * config.recipe().batchSize()));
    if (unpairedInput) {
      // partition i of pairs and of unpaired (equal counts) to the same member: a model's two
      // partitions; TrainerConfig refuses any other strategy with an unpaired loss
      props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName());
    }
    this.consumer =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer());
    this.worker =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "trainer-worker");
              t.setDaemon(true);
              return t;
            });
  }

  /** Trains until {@link #close()} is called from another thread. */
  @Override
  public void run() {
    if (unpairedInput) {
      checkCoPartitioned();
      consumer.subscribe(List.of(topics.pairs(), topics.unpaired()), new Rebalance());
    } else {
      consumer.subscribe(List.of(topics.pairs()), new Rebalance());
    }
    long maxWaitNanos = config.getLong(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG) * 1_000_000;
    int batchSize = config.recipe().batchSize();
    try {
      while (running.get()) {
        List<ConsumerRecord<String, byte[]>> records = new ArrayList<>(deferred);
        deferred.clear();
        consumer.poll(Duration.ofMillis(100)).forEach(records::add);
        for (ConsumerRecord<String, byte[]> record : records) {
          accept(record);
        }
        for (ModelSession session : List.copyOf(sessions.values())) {
          while (live(session) && session.pendingCount() >= batchSize) {
            work(session, () -> session.trainBatch(batchSize, listener));
            if (live(session) && session.publishDue(System.nanoTime())) {
              publish(session);
            }
          }
          if (live(session) && session.waitedTooLong(System.nanoTime(), maxWaitNanos)) {
            work(session, () -> session.trainBatch(session.pendingCount(), listener));
          }
          if (live(session) && session.publishDue(System.nanoTime())) {
            publish(session);
          }
          if (live(session) && session.deadLettersDue(System.nanoTime(), deadLetterWaitNanos)) {
            commitDeadLetters(session);
          }
        }
        for (var entry : List.copyOf(letters.entrySet())) {
          if (entry.getValue().waited(System.nanoTime(), deadLetterWaitNanos)) {
            sessions.values().stream()
                .filter(s -> s.owns(entry.getKey()) && s.canCommitDeadLetters())
                .findFirst()
                .ifPresent(this::commitDeadLetters);
          }
        }
      }
    } catch (WakeupException e) {
      if (running.get()) {
        throw e;
      }
    } finally {
      try {
        closeSessions(List.copyOf(sessions.values()));
        consumer.close();
      } finally {
        worker.shutdownNow();
      }
    }
  }

  /** True while {@code session} is the one training its model here (not closed by a fence). */
  private boolean live(ModelSession session) {
    return sessions.get(session.modelId()) == session;
  }

  /**
   * At start-up, with an unpaired loss: pairs and unpaired have the same number of partitions, so
   * that a model id's records of both land on partitions of one number (both keyed by model id).
   */
  private void checkCoPartitioned() {
    int pairCount = consumer.partitionsFor(topics.pairs()).size();
    int unpairedCount = consumer.partitionsFor(topics.unpaired()).size();
    if (pairCount == 0 || pairCount != unpairedCount) {
      throw new IllegalStateException(
          "with "
              + dev.prefstream.trainer.recipe.Recipe.LOSS_CONFIG
              + "="
              + config.recipe().loss().type().trlName()
              + " the trainer reads "
              + topics.pairs()
              + " and "
              + topics.unpaired()
              + ", which must exist and have the same number of partitions (both are keyed by"
              + " model id, so a model's records of both share a partition number); "
              + topics.pairs()
              + " has "
              + pairCount
              + ", "
              + topics.unpaired()
              + " has "
              + unpairedCount);
    }
  }

  /**
   * A model's input partitions of number {@code partition}: pairs, then (unpaired loss) unpaired.
   */
  private List<TopicPartition> inputs(int partition) {
    TopicPartition pairsPartition = new TopicPartition(topics.pairs(), partition);
    return unpairedInput
        ? List.of(pairsPartition, new TopicPartition(topics.unpaired(), partition))
        : List.of(pairsPartition);
  }

  /** The record decoded: a PreferencePair, or an UnpairedFeedback from the unpaired topic. */
  private Object decode(ConsumerRecord<String, byte[]> record, boolean isUnpaired) {
    return isUnpaired ? unpaired.decode(record.value()) : pairs.decode(record.value());
  }

  private static String modelIdOf(Object decoded) {
    return decoded instanceof UnpairedFeedback u
        ? u.getModelId()
        : ((PreferencePair) decoded).getModelId();
  }

  private void accept(ConsumerRecord<String, byte[]> record) {
    TopicPartition tp = new TopicPartition(record.topic(), record.partition());
    boolean isUnpaired = unpairedInput && record.topic().equals(topics.unpaired());
    PartitionLetters partition = letters.computeIfAbsent(tp, k -> new PartitionLetters());
    String modelId = record.key();
    Object decoded = null;
    if (modelId == null) {
      try {
        decoded = decode(record, isUnpaired);
      } catch (WireFormatException e) {
        orphan(
            partition,
            record,
            e.reason().code(),
            "unkeyed and unreadable: " + e.getMessage(),
            null);
        return;
      }
      modelId = modelIdOf(decoded);
    }
    if (!ModelIds.isValid(modelId)) {
      orphan(
          partition,
          record,
          DeadLetterReason.INVALID_MODEL_ID.code(),
          ModelIds.problem(modelId),
          null);
      return;
    }
    ModelSession session = sessions.get(modelId);
    if (session == null) {
      String refusal = refusalToTrain(modelId);
      if (refusal != null) {
        orphan(partition, record, DeadLetterReason.MODEL_NOT_TRAINED.code(), refusal, modelId);
        return;
      }
      session = open(modelId, tp);
      sessions.put(modelId, session);
    } else if (!session.owns(tp)) {
      // ingest keys pairs and unpaired records by model id, so a model lives on one partition
      // number; a foreign producer that partitions otherwise breaks lineage, and its records are
      // not trained
      orphan(
          partition,
          record,
          DeadLetterReason.MODEL_NOT_TRAINED.code(),
          modelId
              + " is trained from "
              + session.partitions()
              + " (pairs and unpaired records must be keyed by model id)",
          modelId);
      return;
    }
    if (session.alreadyPublished(tp, record.offset())) {
      return;
    }
    if (decoded == null) {
      try {
        decoded = decode(record, isUnpaired);
      } catch (WireFormatException e) {
        log.error(
            "{}: unreadable record at {}-{}@{} ({}): {}; it goes to the dead letters with the next"
                + " commit",
            modelId,
            record.topic(),
            record.partition(),
            record.offset(),
            e.reason().code(),
            e.getMessage());
        session.rejectUnreadable(record, e, listener);
        return;
      }
    }
    if (decoded instanceof UnpairedFeedback example) {
      session.add(record, example, System.nanoTime(), listener);
    } else {
      session.add(record, (PreferencePair) decoded, System.nanoTime(), listener);
    }
  }

  /** Why this process will not train {@code modelId}, or null when it will. */
  private String refusalToTrain(String modelId) {
    if (!onlyModels.isEmpty() && !onlyModels.contains(modelId)) {
      return modelId + " is not in " + TrainerConfig.MODEL_IDS_CONFIG + "=" + onlyModels;
    }
    if (sessions.size() >= maxModels) {
      return "this trainer already trains "
          + sessions.size()
          + " models ("
          + TrainerConfig.MAX_MODELS_CONFIG
          + "="
          + maxModels
          + ")";
    }
    return null;
  }

  /** A record no model here trains: a dead letter of its partition (once, across restarts). */
  private void orphan(
      PartitionLetters partition,
      ConsumerRecord<String, byte[]> record,
      String reason,
      String message,
      String modelId) {
    if (record.offset() < partition.writtenBefore) {
      return; // written by an earlier commit; re-read because a model held the offset back
    }
    log.error(
        "record at {}-{}@{} goes to the dead letters ({}): {}",
        record.topic(),
        record.partition(),
        record.offset(),
        reason,
        message);
    partition.add(Rejections.of(record, reason, message, modelId, null), System.nanoTime());
    listener.onDeadLetter(modelId, reason);
  }

  private ModelSession open(String modelId, TopicPartition tp) {
    Learner learner = learners.create(modelId);
    AdapterPublisher publisher;
    try {
      // initTransactions first: it completes any transaction of this id still in flight (a
      // rollback's), so the state read below includes it
      publisher =
          new AdapterPublisher(
              producerProperties,
              AdapterPublisher.transactionalId(config.trainerId(), modelId),
              topics,
              registry,
              config.getInt(TrainerConfig.CHUNK_BYTES_CONFIG));
    } catch (RuntimeException e) {
      learner.close();
      throw e;
    }
    ModelSession session =
        new ModelSession(
            modelId, inputs(tp.partition()), learner, publisher, stateWriter, config, baseModel);
    TrainerStateReader.Restored restored = restoredState(modelId);
    if (restored != null) {
      session.restore(restored);
    } else {
      log.info(
          "{}: no published state, starting a new adapter on {}", modelId, session.partitions());
    }
    return session;
  }

  /**
   * The committed state of {@code modelId}: the topic is read once for all models (at assignment,
   * and again after a fence), and again only when a model opens after the topic has grown.
   */
  private TrainerStateReader.Restored restoredState(String modelId) {
    if (restoredStates == null || stateTopicGrew()) {
      readStates();
    }
    return restoredStates.get(modelId);
  }

  private Map<TopicPartition, Long> stateEnds = Map.of();

  private void readStates() {
    stateEnds = stateTopicEnds();
    restoredStates =
        TrainerStateReader.read(config.kafkaClientProperties(), topics, registry, null);
  }

  private boolean stateTopicGrew() {
    return !stateTopicEnds().equals(stateEnds);
  }

  private Map<TopicPartition, Long> stateTopicEnds() {
    List<TopicPartition> partitions =
        consumer.partitionsFor(topics.trainerState()).stream()
            .map(p -> new TopicPartition(p.topic(), p.partition()))
            .toList();
    // the broker's end of log (read_uncommitted view): any new record, committed or not
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    props.remove(ConsumerConfig.GROUP_ID_CONFIG);
    try (KafkaConsumer<String, byte[]> probe =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
      return probe.endOffsets(partitions);
    }
  }

  /**
   * Runs {@code work} on the worker thread, polling (every partition paused) until it is done, so a
   * step or a gate of any length does not cost the group membership. Records that a rebalance
   * delivers meanwhile wait for the next turn of the loop.
   */
  private <T> T offPollThread(ModelSession session, Callable<T> work) {
    busy = session;
    Future<T> done = worker.submit(work);
    try {
      while (true) {
        try {
          return done.get(100, TimeUnit.MILLISECONDS);
        } catch (TimeoutException stillWorking) {
          try {
            consumer.pause(consumer.assignment());
            consumer.poll(Duration.ZERO).forEach(deferred::add);
          } catch (RuntimeException stop) {
            // close() or a fatal consumer error: let the worker finish with the session before
            // anything closes it
            awaitQuietly(done);
            throw stop;
          }
        }
      }
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      if (e.getCause() instanceof Error err) {
        throw err;
      }
      throw new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      done.cancel(true);
      throw new WakeupException();
    } finally {
      busy = null;
      consumer.resume(consumer.paused());
      closeRetired();
    }
  }

  private static void awaitQuietly(Future<?> work) {
    try {
      work.get();
    } catch (ExecutionException | CancellationException e) {
      log.debug("work abandoned at shutdown: {}", e.toString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void work(ModelSession session, Runnable step) {
    offPollThread(
        session,
        () -> {
          step.run();
          return null;
        });
  }

  /** What a commit on {@code tp} writes: the partition's dead letters and the offset to commit. */
  private record Prepared(
      Map<TopicPartition, OffsetAndMetadata> offsets,
      ConsumerGroupMetadata group,
      List<Rejection> partitionDeadLetters) {}

  /**
   * @param sealsEverything true for a dead-letter commit: {@code session} keeps nothing back after
   *     it (it has no pairs pending, and its range ends after the last record it saw)
   */
  private Prepared prepare(ModelSession session, boolean sealsEverything) {
    Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
    List<Rejection> orphans = new ArrayList<>();
    // every input partition of the model: the transaction commits the offsets of both topics
    for (TopicPartition tp : session.partitions()) {
      long position = consumer.position(tp);
      for (ConsumerRecord<String, byte[]> waiting : deferred) {
        if (waiting.topic().equals(tp.topic()) && waiting.partition() == tp.partition()) {
          position = Math.min(position, waiting.offset()); // delivered, not yet accepted
        }
      }
      PartitionLetters partition = letters.computeIfAbsent(tp, k -> new PartitionLetters());
      orphans.addAll(partition.takeAll());
      long commit = position;
      for (ModelSession other : sessions.values()) {
        if (other.owns(tp) && !(sealsEverything && other == session)) {
          var hold = other.holdBack(tp, other == session);
          if (hold.isPresent()) {
            commit = Math.min(commit, hold.getAsLong());
          }
        }
      }
      long writtenBefore = Math.max(partition.writtenBefore, position);
      offsets.put(tp, new OffsetAndMetadata(commit, DEAD_LETTERED_BEFORE + writtenBefore));
    }
    return new Prepared(Map.copyOf(offsets), consumer.groupMetadata(), orphans);
  }

  private void publish(ModelSession session) {
    Prepared prepared = prepare(session, false);
    long started = System.nanoTime();
    try {
      ModelSession.Result result =
          offPollThread(
              session,
              () ->
                  session.publishOrRefuse(
                      prepared.offsets(), prepared.group(), prepared.partitionDeadLetters()));
      committed(session, prepared);
      if (result instanceof ModelSession.Result.Published published) {
        listener.onPublished(published.manifest(), published.pairOccurredAt());
      } else {
        listener.onRefused(((ModelSession.Result.Refused) result).refusal());
      }
    } catch (FencedException e) {
      fenced(session, e, started);
    } catch (RuntimeException e) {
      if (!consumer.assignment().containsAll(session.partitions())) {
        // the partition went to another member during the publish: its commit is refused, and
        // the new owner re-reads what it held
        log.warn(
            "{}: publish after losing {}: {}",
            session.modelId(),
            session.partitions(),
            e.toString());
        return;
      }
      throw e;
    }
  }

  private void commitDeadLetters(ModelSession session) {
    Prepared prepared = prepare(session, true);
    long started = System.nanoTime();
    try {
      offPollThread(
          session,
          () -> {
            session.commitDeadLetters(
                prepared.offsets(), prepared.group(), prepared.partitionDeadLetters());
            return null;
          });
      committed(session, prepared);
    } catch (FencedException e) {
      fenced(session, e, started);
    }
  }

  private void committed(ModelSession session, Prepared prepared) {
    prepared
        .offsets()
        .forEach(
            (tp, offset) -> {
              PartitionLetters partition = letters.get(tp);
              if (partition != null) {
                partition.writtenBefore =
                    Math.max(
                        partition.writtenBefore,
                        Long.parseLong(offset.metadata().substring(DEAD_LETTERED_BEFORE.length())));
              }
            });
  }

  /**
   * Another producer with this model's transactional id committed (a rollback, or a zombie's
   * successor), or this transaction ran past transaction.timeout.ms and the coordinator aborted it.
   * Either way the model's partition is reloaded from what is committed, as long as this process
   * still owns it: every model on it drops its unpublished work and re-reads it.
   */
  private void fenced(ModelSession session, FencedException e, long startedNanos) {
    List<TopicPartition> tps = session.partitions();
    long elapsedMs = (System.nanoTime() - startedNanos) / 1_000_000;
    Object timeout = producerProperties.get(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG);
    boolean timedOut = elapsedMs >= Long.parseLong(String.valueOf(timeout));
    if (timedOut) {
      log.error(
          "{}: the transaction took {} ms, over {}={}: aborted by the coordinator; reloading {}",
          session.modelId(),
          elapsedMs,
          ProducerConfig.TRANSACTION_TIMEOUT_CONFIG,
          timeout,
          tps);
    } else {
      log.warn(
          "{}: fenced by another producer with its transactional id (a rollback?): {}; reloading"
              + " committed state of {}",
          session.modelId(),
          e.getMessage(),
          tps);
    }
    closeSessions(
        sessions.values().stream()
            .filter(s -> s.partitions().stream().anyMatch(tps::contains))
            .toList());
    restoredStates = null;
    for (TopicPartition tp : tps) {
      letters.remove(tp);
      if (consumer.assignment().contains(tp)) {
        OffsetAndMetadata committed =
            consumer.committed(Set.of(tp), committedOffsetsTimeout()).get(tp);
        letters.put(tp, PartitionLetters.after(committed));
        consumer.seek(
            tp,
            committed != null
                ? committed.offset()
                : consumer.beginningOffsets(List.of(tp)).get(tp));
      }
    }
  }

  /**
   * A trainer killed between sending a version and committing it leaves its transaction open until
   * the coordinator aborts it, {@code transaction.timeout.ms} later; until then this group's
   * committed offsets (part of that transaction) and a read_committed read of the state topic both
   * wait. So before reading either for newly assigned partitions, this initializes the
   * transactional id of every model whose state, as written, lies on one of them: that aborts such
   * a transaction at once. A model's partition has one owner in the group, so a producer of such an
   * id elsewhere is a zombie. A model killed while its first version was being sent has no state to
   * be found by: its restart still waits for the timeout.
   */
  private void completeTransactionsLeftOpen(Collection<TopicPartition> partitions) {
    long started = System.nanoTime();
    Set<String> models =
        TrainerStateReader.modelsOn(
            config.kafkaClientProperties(), topics, registry, Set.copyOf(partitions));
    models.removeAll(sessions.keySet()); // trained here: their transactions are this process's
    List<String> done = new ArrayList<>();
    for (String model : models) {
      if (!ModelIds.isValid(model) || done.size() >= maxModels) {
        continue;
      }
      AdapterPublisher.completeOpenTransaction(
          producerProperties, AdapterPublisher.transactionalId(config.trainerId(), model));
      done.add(model);
    }
    if (!done.isEmpty()) {
      log.info(
          "initialized the transactions of {} on {}, aborting any an earlier process left open,"
              + " in {} ms",
          done,
          partitions,
          (System.nanoTime() - started) / 1_000_000);
    }
  }

  /**
   * How long reading a partition's committed offset may take. The group coordinator answers only
   * once a transaction holding offsets of the partition completes, and the transaction of a process
   * killed between sending a version and committing it completes when the coordinator aborts it,
   * after transaction.timeout.ms plus its abort check (every 10 s by default). With
   * default.api.timeout.ms (60 s) a restart raced that abort and stopped with a TimeoutException.
   */
  private Duration committedOffsetsTimeout() {
    Object timeout = producerProperties.get(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG);
    return Duration.ofMillis(Long.parseLong(String.valueOf(timeout)) + 60_000);
  }

  private void closeSessions(Collection<ModelSession> toClose) {
    for (ModelSession session : toClose) {
      sessions.remove(session.modelId(), session);
      if (session == busy) {
        retired.add(session); // the worker is using it: closed when it is done
        continue;
      }
      close(session);
    }
  }

  private void closeRetired() {
    for (ModelSession session : retired) {
      close(session);
    }
    retired.clear();
  }

  private static void close(ModelSession session) {
    try {
      session.close();
    } catch (RuntimeException e) {
      log.warn("{}: error while closing: {}", session.modelId(), e.toString());
    }
  }

  /** Dead letters of one partition that belong to no model trained here, waiting for a commit. */
  private static final class PartitionLetters {
    private final List<Rejection> pending = new ArrayList<>();
    private long firstNanos;

    /** Dead letters of offsets below this are already committed. */
    long writtenBefore;

    static PartitionLetters after(OffsetAndMetadata committed) {
      PartitionLetters letters = new PartitionLetters();
      if (committed != null
          && committed.metadata() != null
          && committed.metadata().startsWith(DEAD_LETTERED_BEFORE)) {
        try {
          letters.writtenBefore =
              Long.parseLong(committed.metadata().substring(DEAD_LETTERED_BEFORE.length()));
        } catch (NumberFormatException e) {
          log.warn("unreadable offset metadata '{}': ignored", committed.metadata());
        }
      }
      return letters;
    }

    void add(Rejection rejection, long nowNanos) {
      if (pending.isEmpty()) {
        firstNanos = nowNanos;
      }
      pending.add(rejection);
    }

    boolean waited(long nowNanos, long waitNanos) {
      return !pending.isEmpty() && nowNanos - firstNanos >= waitNanos;
    }

    List<Rejection> takeAll() {
      List<Rejection> all = List.copyOf(pending);
      pending.clear();
      return all;
    }
  }

  /**
   * A model's pairs and unpaired partitions (the same number) must be owned by the same process:
   * RangeAssignor ensures it for equal partition counts; a group whose members assign otherwise
   * (another strategy on another member) would train a model's records on two processes.
   */
  private void checkAssignmentCoPartitioned() {
    TreeSet<Integer> pairNumbers = new TreeSet<>();
    TreeSet<Integer> unpairedNumbers = new TreeSet<>();
    for (TopicPartition tp : consumer.assignment()) {
      (tp.topic().equals(topics.pairs()) ? pairNumbers : unpairedNumbers).add(tp.partition());
    }
    if (!pairNumbers.equals(unpairedNumbers)) {
      throw new IllegalStateException(
          "this trainer was assigned partitions "
              + pairNumbers
              + " of "
              + topics.pairs()
              + " but "
              + unpairedNumbers
              + " of "
              + topics.unpaired()
              + ": a model's records of both must be trained by one process (every member of"
              + " group "
              + config.trainerId()
              + " needs partition.assignment.strategy="
              + RangeAssignor.class.getName()
              + ", and the topics equal partition counts)");
    }
  }

  /** Partitions taken away drop their models' unpublished work: the new owner re-reads it. */
  private final class Rebalance implements ConsumerRebalanceListener {
    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
      List<ModelSession> lost = new ArrayList<>();
      for (ModelSession s : sessions.values()) {
        if (s.partitions().stream().anyMatch(partitions::contains)) {
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
      partitions.forEach(letters::remove);
      deferred.removeIf(r -> partitions.contains(new TopicPartition(r.topic(), r.partition())));
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
      onPartitionsRevoked(partitions);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
      if (!partitions.isEmpty()) {
        completeTransactionsLeftOpen(partitions);
      }
      Map<TopicPartition, OffsetAndMetadata> committed =
          partitions.isEmpty()
              ? Map.of()
              : consumer.committed(Set.copyOf(partitions), committedOffsetsTimeout());
      for (TopicPartition tp : partitions) {
        letters.put(tp, PartitionLetters.after(committed.get(tp)));
      }
      if (unpairedInput) {
        checkAssignmentCoPartitioned();
      }
      if (!partitions.isEmpty()) {
        readStates(); // once for every model of the new assignment
      }
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
