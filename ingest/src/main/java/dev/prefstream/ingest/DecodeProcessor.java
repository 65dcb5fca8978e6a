package dev.prefstream.ingest;

import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * The first step after a source topic: decodes and checks the raw bytes. Decoding happens here, not
 * in a serde, so that a record that cannot be read becomes a dead letter with its original bytes
 * and source offset instead of stopping the stream.
 *
 * <p>It also caps record timestamps at the wall clock plus {@link #MAX_FUTURE_SKEW_MS}: producers
 * set them, and one far in the future would advance stream time and expire every window (dedup,
 * rate limits, impressions) at once.
 */
final class DecodeProcessor implements FixedKeyProcessor<byte[], byte[], Staged> {
  static final long MAX_FUTURE_SKEW_MS = 5 * 60_000L;

  private final Sourced.Origin origin;
  private final RecordReader reader;
  private FixedKeyProcessorContext<byte[], Staged> context;

  DecodeProcessor(Sourced.Origin origin, RecordReader reader) {
    this.origin = origin;
    this.reader = reader;
  }

  @Override
  public void init(FixedKeyProcessorContext<byte[], Staged> context) {
    this.context = context;
  }

  @Override
  public void process(FixedKeyRecord<byte[], byte[]> record) {
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
    context.forward(
        record
            .withValue(staged)
            .withTimestamp(Math.min(record.timestamp(), now + MAX_FUTURE_SKEW_MS)));
  }
}
