package dev.prefstream.ingest;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import java.time.Duration;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;

/**
 * The ingest topology as a pure function of its configuration:
 *
 * <pre>
 * feedback ─ decode-feedback ─┐                  ┌─ rejected ─ dead-letters
 * served ─── decode-served ───┴─ place-by-model ─┼─ elsewhere ─ by-model topic
 *                                                └─ local ──────────┐
 * by-model topic ─ restore ─────────────────────────────── merge ───┘
 *   ─ deduplicate ─ rate-limit ─ join-served ─ pair-binary ─ make-pairs ─┬─ pairs
 *     [event-ids]   [user-rates]  [impressions,   [binary-pending]       ├─ unpaired
 *                                  waiting-choices]                      └─ dead-letters
 * </pre>
 *
 * <p>place-by-model and make-pairs forward each record to one named child rather than through split
 * branches: every node costs each record Kafka Streams' per-node work, and the hot path went from
 * 19 nodes to 12 (IngestTopologyTest checks the path).
 *
 * <p>Every piece of state (event-id dedup, per-user rate limits, the served join keyed by model id
 * and request id, binary pairing by model id and prompt) lives in the task that owns the model id
 * ({@link ByModel#partition}). Input keys are never trusted for this (a Confluent Avro producer
 * frames keys as Avro, or sends none): the model id is read from the value. A record that the
 * owning task read itself (feedback keyed by model id, the usual case) is processed at once; any
 * other goes through the by-model topic, which the same sub-topology reads, to its owner. That hop
 * costs a transactional write, a read one commit later and a second decode, so it is taken only
 * when needed. Records travel it as they arrived ({@link Sourced}), so that a dead letter keeps the
 * record's original key and value bytes and its source offset. Every operator and store is named,
 * so internal topic names never shift when the topology grows.
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
  // nodes that processors forward to by name (ByModel.Placement, PairMaker)
  static final String DEAD_LETTER_AT_DECODE = "dead-letter-at-decode";
  static final String TO_BY_MODEL = "to-sourced";
  static final String MERGE_BY_MODEL = "merge-by-model";
  static final String TO_PAIR = "to-pair";
  static final String TO_UNPAIRED = "to-unpaired";
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

    StreamsBuilder builder = new StreamsBuilder();
    addStores(builder, config);

    KStream<byte[], Staged> feedback =
        builder.stream(
                topics.feedback(),
                Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName(FEEDBACK_SOURCE))
            .processValues(
                () -> new DecodeProcessor(Sourced.Origin.FEEDBACK, reader),
                Named.as("decode-feedback"));
    KStream<byte[], Staged> served =
        builder.stream(
                topics.served(),
                Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName(SERVED_SOURCE))
            .processValues(
                () -> new DecodeProcessor(Sourced.Origin.SERVED, reader),
                Named.as("decode-served"));

    KStream<String, Staged> placed =
        feedback
            .merge(served, Named.as("merge-inputs"))
            .process(
                () ->
                    new ByModel.Placement(
                        byModelPartitions, DEAD_LETTER_AT_DECODE, MERGE_BY_MODEL, TO_BY_MODEL),
                Named.as("place-by-model"));

    placed
        .process(() -> new DeadLetterProcessor<String>("decode"), Named.as(DEAD_LETTER_AT_DECODE))
        .to(
            topics.deadLetters(),
            Produced.with(Serdes.ByteArray(), rejectionSerde).withName(DECODE_DEAD_LETTERS_SINK));
    placed
        .mapValues(ByModel::sourceOf, Named.as(TO_BY_MODEL))
        .to(
            byModelTopic(config),
            Produced.with(Serdes.String(), Sourced.serde())
                .withStreamPartitioner(new ByModel.Partitioner(byModelPartitions))
                .withName(BY_MODEL_SINK));
    KStream<String, Staged> arrived =
        builder.stream(
                byModelTopic(config),
                Consumed.with(Serdes.String(), Sourced.serde()).withName(BY_MODEL_SOURCE))
            .processValues(() -> new RestoreProcessor(reader), Named.as("restore"));

    KStream<String, Staged> outcomes =
        placed
            .merge(arrived, Named.as(MERGE_BY_MODEL))
            .processValues(
                () -> new Deduplicator(config.dedupRetention()),
                Named.as("deduplicate"),
                Deduplicator.STORE)
            .processValues(
                () -> new RateLimiter(config.rateLimitEvents(), config.rateLimitWindow()),
                Named.as("rate-limit"),
                RateLimiter.STORE)
            .process(
                () ->
                    new ServedJoiner(
                        reader, topics.served(), config.servedRetention(), config.servedWait()),
                Named.as("join-served"),
                ServedJoiner.IMPRESSIONS,
                ServedJoiner.WAITING)
            .processValues(
                () -> new BinaryPairer(reader, config.binaryPairWindow()),
                Named.as("pair-binary"),
                binaryStores(config))
            .processValues(
                () -> new PairMaker(config.rankedPairs(), TO_PAIR, TO_UNPAIRED, DEAD_LETTER),
                Named.as("make-pairs"));

    outcomes
        .mapValues(staged -> ((Staged.Pair) staged).pair(), Named.as(TO_PAIR))
        .to(topics.pairs(), Produced.with(Serdes.String(), pairSerde).withName(PAIRS_SINK));
    outcomes
        .mapValues(staged -> ((Staged.Unpaired) staged).feedback(), Named.as(TO_UNPAIRED))
        .to(
            topics.unpaired(),
            Produced.with(Serdes.String(), unpairedSerde).withName(UNPAIRED_SINK));
    outcomes
        .process(() -> new DeadLetterProcessor<String>("stateful"), Named.as(DEAD_LETTER))
        .to(
            topics.deadLetters(),
            Produced.with(Serdes.ByteArray(), rejectionSerde).withName(DEAD_LETTERS_SINK));

    return builder.build();
  }

  private static void addStores(StreamsBuilder builder, IngestConfig config) {
    Duration dedup = config.dedupRetention();
    builder.addStateStore(
        Stores.windowStoreBuilder(
            Stores.persistentWindowStore(Deduplicator.STORE, dedup, Duration.ofMillis(1), false),
            Serdes.String(),
            Serdes.String()));
    Duration rateWindow = config.rateLimitWindow();
    // the rate limiter reads its counts from a hash map (RateLimiter) and only writes here, for the
    // changelog and a restart; a put costs RocksDB a fifth of what it cost the in-memory store (a
    // skip list of byte arrays). Both kinds log the same changelog records: an upgrade restores.
    builder.addStateStore(
        Stores.windowStoreBuilder(
                Stores.persistentWindowStore(RateLimiter.STORE, rateWindow, rateWindow, false),
                Serdes.String(),
                Serdes.Long())
            .withCachingDisabled());
    builder.addStateStore(
        Stores.windowStoreBuilder(
            Stores.persistentWindowStore(
                ServedJoiner.IMPRESSIONS, config.servedRetention(), Duration.ofMillis(1), false),
            Serdes.String(),
            Sourced.serde()));
    builder.addStateStore(
        Stores.keyValueStoreBuilder(
            Stores.persistentKeyValueStore(ServedJoiner.WAITING),
            Serdes.String(),
            ServedJoiner.Waiting.serde()));
    if (!config.binaryPairWindow().isZero()) {
      builder.addStateStore(
          Stores.windowStoreBuilder(
              Stores.persistentWindowStore(
                  BinaryPairer.STORE, config.binaryPairWindow(), Duration.ofMillis(1), false),
              Serdes.String(),
              Sourced.serde()));
    }
  }

  private static String[] binaryStores(IngestConfig config) {
    return config.binaryPairWindow().isZero() ? new String[0] : new String[] {BinaryPairer.STORE};
  }
}
