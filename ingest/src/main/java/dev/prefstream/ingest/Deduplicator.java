package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import java.time.Duration;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * Drops redelivered feedback: an event whose (model id, event id) was seen within the retention is
 * dead-lettered as duplicate_event, naming where the first copy was read. The store remembers each
 * id in a window store, so old ids expire segment by segment without a scan.
 */
final class Deduplicator implements FixedKeyProcessor<String, Staged, Staged> {
  static final String STORE = "event-ids";

  private final long retentionMs;
  private FixedKeyProcessorContext<String, Staged> context;
  private WindowStore<String, String> seen;

  Deduplicator(Duration retention) {
    this.retentionMs = retention.toMillis();
  }

  @Override
  public void init(FixedKeyProcessorContext<String, Staged> context) {
    this.context = context;
    this.seen = context.getStateStore(STORE);
  }

  @Override
  public void process(FixedKeyRecord<String, Staged> record) {
    if (!(record.value() instanceof Staged.Feedback feedback)) {
      context.forward(record);
      return;
    }
    FeedbackEvent event = feedback.event();
    String key = StoreKeys.of(event.getModelId(), event.getEventId());
    long now = Math.max(record.timestamp(), context.currentStreamTimeMs());
    String first = null;
    try (WindowStoreIterator<String> earlier =
        seen.fetch(key, Math.max(0, now - retentionMs), Long.MAX_VALUE)) {
      if (earlier.hasNext()) {
        first = earlier.next().value;
      }
    }
    if (first != null) {
      context.forward(
          record.withValue(
              RecordReader.reject(
                  feedback.source(),
                  DeadLetterReason.DUPLICATE_EVENT,
                  "event_id '"
                      + Texts.abbreviate(event.getEventId())
                      + "' of model "
                      + event.getModelId()
                      + " was already ingested from "
                      + first,
                  event.getEventId(),
                  event.getModelId(),
                  context.currentSystemTimeMs())));
      return;
    }
    seen.put(key, feedback.source().coordinates(), now);
    context.forward(record);
  }
}
