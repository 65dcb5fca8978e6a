package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.nio.ByteBuffer;
import java.time.Instant;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * Decodes raw feedback bytes and applies the rules. Decoding happens here, not in a serde, so that
 * a record that cannot be read becomes a dead letter with its original bytes and source offset
 * instead of stopping the stream. Registry outages are not data errors: they propagate, the
 * transaction aborts and the record is retried.
 */
final class FeedbackValidator implements FixedKeyProcessor<byte[], byte[], Outcome> {
  private final ConfluentAvro<FeedbackEvent> codec;
  private final FeedbackRules rules;
  private FixedKeyProcessorContext<byte[], Outcome> context;

  FeedbackValidator(ConfluentAvro<FeedbackEvent> codec, FeedbackRules rules) {
    this.codec = codec;
    this.rules = rules;
  }

  @Override
  public void init(FixedKeyProcessorContext<byte[], Outcome> context) {
    this.context = context;
  }

  @Override
  public void process(FixedKeyRecord<byte[], byte[]> record) {
    FeedbackEvent event;
    try {
      event = codec.decode(record.value());
    } catch (WireFormatException e) {
      context.forward(record.withValue(reject(record, e.reason(), e.getMessage(), null)));
      return;
    }
    Verdict verdict = rules.apply(event);
    Outcome outcome;
    if (verdict instanceof Verdict.Problem problem) {
      outcome = reject(record, problem.reason(), problem.message(), event);
    } else {
      outcome = new Outcome.Accepted(event.getModelId(), ((Verdict.Pairs) verdict).pairs());
    }
    context.forward(record.withValue(outcome));
  }

  private Outcome.Rejected reject(
      FixedKeyRecord<byte[], byte[]> record,
      DeadLetterReason reason,
      String message,
      FeedbackEvent event) {
    RecordMetadata source = context.recordMetadata().orElseThrow();
    Rejection rejection =
        Rejection.newBuilder()
            .setReason(reason.code())
            .setMessage(message)
            .setSourceTopic(source.topic())
            .setSourcePartition(source.partition())
            .setSourceOffset(source.offset())
            .setOriginalKey(record.key() == null ? null : ByteBuffer.wrap(record.key()))
            .setOriginalValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
            .setEventId(event == null ? null : event.getEventId())
            .setModelId(event == null ? null : event.getModelId())
            .setRejectedAt(Instant.ofEpochMilli(context.currentSystemTimeMs()))
            .setStage("ingest")
            .build();
    return new Outcome.Rejected(rejection);
  }
}
