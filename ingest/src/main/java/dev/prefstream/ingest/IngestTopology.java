package dev.prefstream.ingest;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import java.time.Duration;
import java.util.Map;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.state.Stores;

/**
 * The ingest topology as a pure function of its configuration:
 *
 * <pre>
 * feedback ─ decode-feedback ─┐                       ┌─ rejected ─ dead-letters
 * served ─── decode-served ───┴─ merge ─ route-at-decode ┤
 *                                                      └─ valid ─ key-by-model ─ by-model (repartition)
 * by-model ─ restore ─ deduplicate ─ rate-limit ─ join-served ─ pair-binary ─ make-pairs ─ route ─┬─ pairs
 *                      [event-ids]   [user-rates]  [impressions,   [binary-pending]                  ├─ unpaired
 *                                                   waiting-choices]                                 └─ dead-letters
 * </pre>
 *
 * One repartition, by the model id read from the value, co-locates every piece of state: event-id
 * dedup, per-user rate limits, the served join (keyed by model id and request id) and binary
 * pairing (model id and prompt). Input keys are never trusted for this (a Confluent Avro producer
 * frames keys as Avro, or sends none); they only travel along, so that a dead letter keeps the
 * record's original key and value bytes and its source offset. Every operator and store is named,
 * so internal topic names never shift when the topology grows.
 */
public final class IngestTopology {
  static final String FEEDBACK_SOURCE = "feedback-source";
  static final String SERVED_SOURCE = "served-source";
  static final String REPARTITION = "by-model";
  static final String PAIRS_SINK = "pairs-sink";
  static final String UNPAIRED_SINK = "unpaired-sink";
  static final String DECODE_DEAD_LETTERS_SINK = "dead-letters-at-decode-sink";
  static final String DEAD_LETTERS_SINK = "dead-letters-sink";

  private IngestTopology() {}

  public static Topology build(IngestConfig config, SchemaRegistry registry) {
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

    Map<String, KStream<byte[], Staged>> decoded =
        feedback
            .merge(served, Named.as("merge-inputs"))
            .split(Named.as("route-at-decode-"))
            .branch((key, staged) -> staged instanceof Staged.Rejected, Branched.as("rejected"))
            .defaultBranch(Branched.as("valid"));

    decoded
        .get("route-at-decode-rejected")
        .process(() -> new DeadLetterProcessor<byte[]>("decode"), Named.as("dead-letter-at-decode"))
        .to(
            topics.deadLetters(),
            Produced.with(Serdes.ByteArray(), rejectionSerde).withName(DECODE_DEAD_LETTERS_SINK));

    KStream<String, Staged> outcomes =
        decoded
            .get("route-at-decode-valid")
            .map(
                (key, staged) -> KeyValue.pair(modelIdOf(staged), sourceOf(staged)),
                Named.as("key-by-model"))
            .repartition(
                Repartitioned.<String, Sourced>as(REPARTITION)
                    .withKeySerde(Serdes.String())
                    .withValueSerde(Sourced.serde()))
            .processValues(() -> new RestoreProcessor(reader), Named.as("restore"))
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
            .processValues(() -> new PairMaker(config.rankedPairs()), Named.as("make-pairs"));

    Map<String, KStream<String, Staged>> routes =
        outcomes
            .split(Named.as("route-"))
            .branch((key, staged) -> staged instanceof Staged.Pair, Branched.as("pairs"))
            .branch((key, staged) -> staged instanceof Staged.Unpaired, Branched.as("unpaired"))
            .defaultBranch(Branched.as("rejected"));

    routes
        .get("route-pairs")
        .mapValues(staged -> ((Staged.Pair) staged).pair(), Named.as("to-pair"))
        .to(topics.pairs(), Produced.with(Serdes.String(), pairSerde).withName(PAIRS_SINK));
    routes
        .get("route-unpaired")
        .mapValues(staged -> ((Staged.Unpaired) staged).feedback(), Named.as("to-unpaired"))
        .to(
            topics.unpaired(),
            Produced.with(Serdes.String(), unpairedSerde).withName(UNPAIRED_SINK));
    routes
        .get("route-rejected")
        .process(() -> new DeadLetterProcessor<String>("stateful"), Named.as("dead-letter"))
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
    builder.addStateStore(
        Stores.windowStoreBuilder(
                Stores.persistentWindowStore(RateLimiter.STORE, rateWindow, rateWindow, false),
                Serdes.String(),
                Serdes.Long())
            // counters of one user are bumped many times between commits: write the changelog once
            .withCachingEnabled());
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

  private static String modelIdOf(Staged staged) {
    if (staged instanceof Staged.Feedback feedback) {
      return feedback.event().getModelId();
    }
    return ((Staged.Impression) staged).impression().getModelId();
  }

  private static Sourced sourceOf(Staged staged) {
    if (staged instanceof Staged.Feedback feedback) {
      return feedback.source();
    }
    return ((Staged.Impression) staged).source();
  }
}
