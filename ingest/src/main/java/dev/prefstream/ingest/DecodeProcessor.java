package dev.prefstream.ingest;

import dev.prefstream.schemas.avro.FeedbackKind;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.metrics.Sensor;
import org.apache.kafka.common.metrics.stats.CumulativeCount;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * The first step after a source topic: decodes and checks the raw bytes, and sends the result where
 * it belongs ({@link ByModel.Placement}). Decoding happens here, not in a serde, so that a record
 * that cannot be read becomes a dead letter with its original bytes and source offset instead of
 * stopping the stream.
 *
 * <p>It also caps record timestamps at the wall clock plus {@link #MAX_FUTURE_SKEW_MS}: producers
 * set them, and one far in the future would advance stream time and expire every window (dedup,
 * rate limits, impressions) at once.
 */
final class DecodeProcessor implements Processor<byte[], byte[], String, Object> {
  static final long MAX_FUTURE_SKEW_MS = 5 * 60_000L;

  /** Records read, by kind: a feedback kind (lower case), served, or rejected (unusable). */
  static final String EVENTS_METRIC_NAME = "events-total";

  private final Sourced.Origin origin;
  private final RecordReader reader;
  private final ByModel.Placement placement;
  private ProcessorContext<String, Object> context;
  private final Map<String, Sensor> sensors = new HashMap<>();

  DecodeProcessor(Sourced.Origin origin, RecordReader reader, ByModel.Placement placement) {
    this.origin = origin;
    this.reader = reader;
    this.placement = placement;
  }

  @Override
  public void init(ProcessorContext<String, Object> context) {
    this.context = context;
  }

  @Override
  public void process(Record<byte[], byte[]> record) {
    RecordMetadata metadata = context.recordMetadata().orElseThrow();
    Sourced source =
        new Sourced(
            origin,
            metadata.topic(),
            metadata.partition(),
            metadata.offset(),
            record.key(),
            record.value());
    long now = context.currentSystemTimeMs();
    Staged staged = reader.read(source, now);
    sensors.computeIfAbsent(kind(staged), this::sensor).record();
    placement.forward(
        context, record, staged, Math.min(record.timestamp(), now + MAX_FUTURE_SKEW_MS));
  }

  /** The metric's kind names, by {@link FeedbackKind} ordinal (not lower-cased per record). */
  private static final String[] KIND_NAMES =
      Arrays.stream(FeedbackKind.values())
          .map(k -> k.name().toLowerCase(Locale.ROOT))
          .toArray(String[]::new);

  private static String kind(Staged staged) {
    if (staged instanceof Staged.Feedback f) {
      return KIND_NAMES[f.event().getKind().ordinal()];
    }
    return staged instanceof Staged.Impression ? "served" : "rejected";
  }

  private Sensor sensor(String kind) {
    String task = context.taskId().toString();
    Sensor sensor =
        context
            .metrics()
            .addSensor(
                String.join(".", "prefstream", "events", origin.name(), task, kind),
                Sensor.RecordingLevel.INFO);
    sensor.add(
        new MetricName(
            EVENTS_METRIC_NAME,
            DeadLetterProcessor.METRIC_GROUP,
            "Records read from an input topic, by kind (attempts: a retried transaction counts"
                + " again).",
            Map.of("kind", kind, "task-id", task, "origin", origin.name())),
        new CumulativeCount());
    return sensor;
  }

  @Override
  public void close() {
    sensors.values().forEach(s -> context.metrics().removeSensor(s));
    sensors.clear();
  }
}
