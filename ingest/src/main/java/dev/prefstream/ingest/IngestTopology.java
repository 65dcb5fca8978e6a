package dev.prefstream.ingest;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.state.Stores;

/**
 * The ingest topology as a pure function of its configuration:
 *
 * <pre>
 * feedback ─ decode-feedback ─┬─ rejected ──── dead-letter-at-decode ─ dead-letters
 * served ─── decode-served ───┼─ elsewhere ─── by-model topic
 *                             └─ local ───────────┐
 * by-model topic ─ restore ───────────────────── per-model ─┬─ pairs
 *   [event-ids, user-rates, impressions,                    ├─ unpaired
 *    waiting-choices, binary-pending]                       └─ dead-letter ─ dead-letters
 * </pre>
 *
 * <p>per-model runs the steps of a model's path (deduplicate, rate-limit, join-served, pair-binary,
 * make-pairs: {@link Step}) in one node, and the decode nodes place each record themselves: the hot
 * path, feedback read by the task owning its model to the pairs topic, is four nodes (it was 12,
 * and 19 before that). Every Kafka Streams node costs each record a forward that copies its headers
 * and allocates a record context, and the node's metrics (IngestTopologyTest checks the path).
 *
 * <p>Every piece of state (event-id dedup, per-user rate limits, the served join keyed by model id
 * and request id, binary pairing by model id and prompt) lives in the task that owns the model id
 * ({@link ByModel#partition}). Input keys are never trusted for this (a Confluent Avro producer
 * frames keys as Avro, or sends none): the model id is read from the value. A record that the
 * owning task read itself (feedback keyed by model id, the usual case) is processed at once; any
 * other goes through the by-model topic, which the same sub-topology reads, to its owner. That hop
 * costs a transactional write, a read one commit later and a second decode, so it is taken only
 * when needed. Records travel it as they arrived ({@link Sourced}), so that a dead letter keeps the
 * record's original key and value bytes and its source offset. Every node and store is named, so
 * internal topic names never shift when the topology grows.
 */
public final class IngestTopology {
  static final String FEEDBACK_SOURCE = "feedback-source";
  static final String SERVED_SOURCE = "served-source";
  static final String BY_MODEL_SOURCE = "by-model-source";
  static final String BY_MODEL_SINK = "by-model-sink";
  static final String PAIRS_SINK = "pairs-sink";
  static final String UNPAIRED_SINK = "unpaired-sink";
  static final String DECODE_DEAD_LETTERS_SINK = "dead-letters-at-decode-sink";
  static final String DEAD_LETTERS_SINK = "dead-letters-sink";
  static final String DECODE_FEEDBACK = "decode-feedback";
  static final String DECODE_SERVED = "decode-served";
  static final String RESTORE = "restore";
  static final String PER_MODEL = "per-model";
  static final String DEAD_LETTER_AT_DECODE = "dead-letter-at-decode";
  static final String DEAD_LETTER = "dead-letter";

  private IngestTopology() {}

  /**
   * The topic that carries records to the task owning their model: {@code
   * <ingest.application.id>-by-model-repartition}, the name Kafka Streams gave the repartition
   * topic that did this for every record before, so records in flight there at an upgrade are still
   * read. Ingest creates it ({@link IngestService}) and deletes what it has consumed.
   */
  public static String byModelTopic(IngestConfig config) {
    return config.applicationId() + "-by-model-repartition";
  }

  /**
   * The topology.
   *
   * @param byModelPartitions the partitions of {@link #byModelTopic}: which task owns which model
   */
  public static Topology build(
      IngestConfig config, SchemaRegistry registry, int byModelPartitions) {
    if (byModelPartitions < 1) {
      throw new IllegalArgumentException(
          "the by-model topic needs at least one partition, got " + byModelPartitions);
    }
    Topics topics = config.topics();
    RecordReader reader = new RecordReader(registry, new FeedbackRules(config));
    AvroSerde<PreferencePair> pairSerde = AvroSerde.forValues(PreferencePair.class, registry);
    AvroSerde<UnpairedFeedback> unpairedSerde =
        AvroSerde.forValues(UnpairedFeedback.class, registry);
    AvroSerde<Rejection> rejectionSerde = AvroSerde.forValues(Rejection.class, registry);
    String byModel = byModelTopic(config);

    Topology topology = new Topology();
    topology.addSource(
        FEEDBACK_SOURCE,
        new ByteArrayDeserializer(),
        new ByteArrayDeserializer(),
        topics.feedback());
    topology.addSource(
        SERVED_SOURCE, new ByteArrayDeserializer(), new ByteArrayDeserializer(), topics.served());
    topology.addSource(BY_MODEL_SOURCE, new StringDeserializer(), Sourced.deserializer(), byModel);
    topology.addProcessor(
        DECODE_FEEDBACK,
        () -> decoder(Sourced.Origin.FEEDBACK, reader, byModelPartitions),
        FEEDBACK_SOURCE);
    topology.addProcessor(
        DECODE_SERVED,
        () -> decoder(Sourced.Origin.SERVED, reader, byModelPartitions),
        SERVED_SOURCE);
    topology.addProcessor(RESTORE, () -> new RestoreProcessor(reader), BY_MODEL_SOURCE);
    topology.addSink(
        BY_MODEL_SINK,
        byModel,
        new StringSerializer(),
        Sourced.serializer(),
        new ByModel.Partitioner(byModelPartitions),
        DECODE_FEEDBACK,
        DECODE_SERVED);
    topology.addProcessor(
        DEAD_LETTER_AT_DECODE,
        () -> new DeadLetterProcessor<>("decode"),
        DECODE_FEEDBACK,
        DECODE_SERVED);
    topology.addSink(
        DECODE_DEAD_LETTERS_SINK,
        topics.deadLetters(),
        new ByteArraySerializer(),
        rejectionSerde.serializer(),
        DEAD_LETTER_AT_DECODE);

    topology.addProcessor(
        PER_MODEL,
        () -> new PerModel(steps(config, reader), PAIRS_SINK, UNPAIRED_SINK, DEAD_LETTER),
        DECODE_FEEDBACK,
        DECODE_SERVED,
        RESTORE);
    addStores(topology, config);
    topology.addSink(
        PAIRS_SINK, topics.pairs(), new StringSerializer(), pairSerde.serializer(), PER_MODEL);
    topology.addSink(
        UNPAIRED_SINK,
        topics.unpaired(),
        new StringSerializer(),
        unpairedSerde.serializer(),
        PER_MODEL);
    topology.addProcessor(DEAD_LETTER, () -> new DeadLetterProcessor<>("stateful"), PER_MODEL);
    topology.addSink(
        DEAD_LETTERS_SINK,
        topics.deadLetters(),
        new ByteArraySerializer(),
        rejectionSerde.serializer(),
        DEAD_LETTER);
    return topology;
  }

  private static DecodeProcessor decoder(
      Sourced.Origin origin, RecordReader reader, int byModelPartitions) {
    return new DecodeProcessor(
        origin,
        reader,
        new ByModel.Placement(byModelPartitions, DEAD_LETTER_AT_DECODE, PER_MODEL, BY_MODEL_SINK));
  }

  /** The steps of a model's path, in order: fresh instances for each task. */
  private static List<Step> steps(IngestConfig config, RecordReader reader) {
    List<Step> steps = new ArrayList<>();
    steps.add(new Deduplicator(config.dedupRetention()));
    steps.add(new RateLimiter(config.rateLimitEvents(), config.rateLimitWindow()));
    steps.add(
        new ServedJoiner(
            reader, config.topics().served(), config.servedRetention(), config.servedWait()));
    steps.add(new BinaryPairer(reader, config.binaryPairWindow()));
    steps.add(new PairMaker(config.rankedPairs()));
    return steps;
  }

  private static void addStores(Topology topology, IngestConfig config) {
    Duration dedup = config.dedupRetention();
    topology.addStateStore(
        Stores.windowStoreBuilder(
            Stores.persistentWindowStore(Deduplicator.STORE, dedup, Duration.ofMillis(1), false),
            Serdes.String(),
            Serdes.String()),
        PER_MODEL);
    Duration rateWindow = config.rateLimitWindow();
    // the rate limiter reads its counts from a hash map (RateLimiter) and only writes here, for the
    // changelog and a restart; a put costs RocksDB a fifth of what it cost the in-memory store (a
    // skip list of byte arrays). Both kinds log the same changelog records: an upgrade restores.
    topology.addStateStore(
        Stores.windowStoreBuilder(
                Stores.persistentWindowStore(RateLimiter.STORE, rateWindow, rateWindow, false),
                Serdes.String(),
                Serdes.Long())
            .withCachingDisabled(),
        PER_MODEL);
    topology.addStateStore(
        Stores.windowStoreBuilder(
            Stores.persistentWindowStore(
                ServedJoiner.IMPRESSIONS, config.servedRetention(), Duration.ofMillis(1), false),
            Serdes.String(),
            Sourced.serde()),
        PER_MODEL);
    topology.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(ServedJoiner.WAITING),
            Serdes.String(),
            ServedJoiner.Waiting.serde()),
        PER_MODEL);
    if (!config.binaryPairWindow().isZero()) {
      topology.addStateStore(
          Stores.windowStoreBuilder(
              Stores.persistentWindowStore(
                  BinaryPairer.STORE, config.binaryPairWindow(), Duration.ofMillis(1), false),
              Serdes.String(),
              Sourced.serde()),
          PER_MODEL);
    }
  }
}
