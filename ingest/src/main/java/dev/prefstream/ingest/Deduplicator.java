package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import java.time.Duration;
import org.apache.kafka.streams.processor.api.ProcessingContext;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * Drops redelivered feedback: an event whose (model id, event id) was seen within the retention is
 * dead-lettered as duplicate_event, naming where the first copy was read. The store remembers each
 * id in a window store, so old ids expire segment by segment without a scan.
 */
final class Deduplicator implements Step {
  static final String STORE = "event-ids";

  private final long retentionMs;
  private ProcessingContext context;
  private Next next;
  private WindowStore<String, String> seen;

  Deduplicator(Duration retention) {
    this.retentionMs = retention.toMillis();
  }

  @Override
  public void init(ProcessingContext context, Next next) {
    this.context = context;
    this.next = next;
    this.seen = context.getStateStore(STORE);
  }

  @Override
  public void process(String key, Staged value, long timestamp) {
    if (!(value instanceof Staged.Feedback feedback)) {
      next.accept(key, value, timestamp);
      return;
    }
    FeedbackEvent event = feedback.event();
    String id = StoreKeys.of(event.getModelId(), event.getEventId());
    long now = Math.max(timestamp, context.currentStreamTimeMs());
    String first = null;
    try (WindowStoreIterator<String> earlier =
        seen.fetch(id, Math.max(0, now - retentionMs), Long.MAX_VALUE)) {
      if (earlier.hasNext()) {
        first = earlier.next().value;
      }
    }
    if (first != null) {
      next.accept(
          key,
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
              context.currentSystemTimeMs()),
          timestamp);
      return;
    }
    seen.put(id, feedback.source().coordinates(), now);
    next.accept(key, value, timestamp);
  }
}
