package dev.prefstream.ingest;

import dev.prefstream.schemas.avro.Rejection;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.metrics.Sensor;
import org.apache.kafka.common.metrics.stats.CumulativeCount;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * The step before the dead-letter topic: counts each rejection by reason in a Kafka Streams metric
 * ({@value #METRIC_GROUP} / {@value #METRIC_NAME}, tagged with the reason, task and node) and keys
 * it by the record's original key bytes.
 *
 * <p>The counters count attempts: a transaction that aborts and is retried counts its rejections
 * again. The dead-letter topic, read committed, is the exact record.
 */
final class DeadLetterProcessor<K> implements Processor<K, Staged, byte[], Rejection> {
  static final String METRIC_GROUP = "prefstream-ingest";
  static final String METRIC_NAME = "dead-letters-total";

  private final String node;
  private final Map<String, Sensor> sensors = new HashMap<>();
  private ProcessorContext<byte[], Rejection> context;

  DeadLetterProcessor(String node) {
    this.node = node;
  }

  @Override
  public void init(ProcessorContext<byte[], Rejection> context) {
    this.context = context;
  }

  @Override
  public void process(Record<K, Staged> record) {
    Rejection rejection = ((Staged.Rejected) record.value()).rejection();
    sensors.computeIfAbsent(rejection.getReason(), this::sensor).record();
    ByteBuffer key = rejection.getOriginalKey();
    context.forward(record.withKey(key == null ? null : bytes(key)).withValue(rejection));
  }

  private Sensor sensor(String reason) {
    String task = context.taskId().toString();
    Sensor sensor =
        context
            .metrics()
            .addSensor(
                String.join(".", "prefstream", "dead-letters", node, task, reason),
                Sensor.RecordingLevel.INFO);
    sensor.add(
        new MetricName(
            METRIC_NAME,
            METRIC_GROUP,
            "Records sent to the dead-letter topic with this reason (attempts, see the docs).",
            Map.of("reason", reason, "task-id", task, "node", node)),
        new CumulativeCount());
    return sensor;
  }

  @Override
  public void close() {
    sensors.values().forEach(s -> context.metrics().removeSensor(s));
    sensors.clear();
  }

  private static byte[] bytes(ByteBuffer buffer) {
    ByteBuffer copy = buffer.duplicate();
    byte[] out = new byte[copy.remaining()];
    copy.get(out);
    return out;
  }
}
