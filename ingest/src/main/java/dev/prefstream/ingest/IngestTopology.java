package dev.prefstream.ingest;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import dev.prefstream.schemas.serde.ConfluentAvro;
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

/**
 * The ingest topology as a pure function of its configuration:
 *
 * <pre>
 * feedback (raw bytes) -> validate-feedback -> accepted -> pairs, keyed by model id
 *                                           -> rejected -> dead-letters, keyed by the original key
 * </pre>
 *
 * Every operator is named, so internal names never shift when the topology grows.
 */
public final class IngestTopology {
  static final String SOURCE = "feedback-source";
  static final String VALIDATE = "validate-feedback";
  static final String PAIRS_SINK = "pairs-sink";
  static final String DEAD_LETTERS_SINK = "dead-letters-sink";

  private IngestTopology() {}

  public static Topology build(IngestConfig config, SchemaRegistry registry) {
    Topics topics = config.topics();
    ConfluentAvro<FeedbackEvent> feedback =
        new ConfluentAvro<>(FeedbackEvent.class, registry, false);
    FeedbackRules rules = new FeedbackRules(config.maxTextChars());
    AvroSerde<PreferencePair> pairSerde = AvroSerde.forValues(PreferencePair.class, registry);
    AvroSerde<Rejection> rejectionSerde = AvroSerde.forValues(Rejection.class, registry);

    StreamsBuilder builder = new StreamsBuilder();
    KStream<byte[], Outcome> outcomes =
        builder.stream(
                topics.feedback(),
                Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName(SOURCE))
            .processValues(() -> new FeedbackValidator(feedback, rules), Named.as(VALIDATE));

    Map<String, KStream<byte[], Outcome>> routes =
        outcomes
            .split(Named.as("route-"))
            .branch((key, outcome) -> outcome instanceof Outcome.Accepted, Branched.as("accepted"))
            .defaultBranch(Branched.as("rejected"));

    routes
        .get("route-accepted")
        .flatMap(
            (key, outcome) ->
                ((Outcome.Accepted) outcome)
                    .pairs().stream().map(pair -> KeyValue.pair(pair.getModelId(), pair)).toList(),
            Named.as("pairs-by-model"))
        .to(topics.pairs(), Produced.with(Serdes.String(), pairSerde).withName(PAIRS_SINK));

    routes
        .get("route-rejected")
        .mapValues(outcome -> ((Outcome.Rejected) outcome).rejection(), Named.as("to-rejection"))
        .to(
            topics.deadLetters(),
            Produced.with(Serdes.ByteArray(), rejectionSerde).withName(DEAD_LETTERS_SINK));

    return builder.build();
  }
}
