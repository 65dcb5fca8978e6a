package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import java.time.Duration;
import java.time.Instant;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Past {@code limit} events from one user_key for one model in a tumbling window (stream time), the
 * rest of the window's events are dead-lettered as rate_limited. The budget is per model because
 * that is what one person's flood can skew, and because ingest keeps all its state partitioned by
 * model id. Events without a user_key are not limited.
 */
final class RateLimiter implements FixedKeyProcessor<String, Staged, Staged> {
  static final String STORE = "user-rates";

  private final int limit;
  private final long windowMs;
  private FixedKeyProcessorContext<String, Staged> context;
  private WindowStore<String, Long> counts;

  RateLimiter(int limit, Duration window) {
    this.limit = limit;
    this.windowMs = window.toMillis();
  }

  @Override
  public void init(FixedKeyProcessorContext<String, Staged> context) {
    this.context = context;
    this.counts = context.getStateStore(STORE);
  }

  @Override
  public void process(FixedKeyRecord<String, Staged> record) {
    if (limit == 0
        || !(record.value() instanceof Staged.Feedback feedback)
        || feedback.event().getUserKey() == null
        || feedback.event().getUserKey().isEmpty()) {
      context.forward(record);
      return;
    }
    FeedbackEvent event = feedback.event();
    String key = StoreKeys.of(event.getModelId(), event.getUserKey());
    long now = Math.max(record.timestamp(), context.currentStreamTimeMs());
    long windowStart = now - now % windowMs;
    Long before = counts.fetch(key, windowStart);
    long count = (before == null ? 0 : before) + 1;
    if (count <= limit + 1L) {
      // once over the limit the count stops growing: the decision is made, spare the changelog
      counts.put(key, count, windowStart);
    }
    if (count <= limit) {
      context.forward(record);
      return;
    }
    context.forward(
        record.withValue(
            RecordReader.reject(
                feedback.source(),
                DeadLetterReason.RATE_LIMITED,
                "user_key '"
                    + Texts.abbreviate(event.getUserKey())
                    + "' already sent "
                    + limit
                    + " events for model "
                    + event.getModelId()
                    + " in the window from "
                    + Instant.ofEpochMilli(windowStart)
                    + " (ingest.rate.limit.events="
                    + limit
                    + " per ingest.rate.limit.window.ms="
                    + windowMs
                    + ")",
                event.getEventId(),
                event.getModelId(),
                context.currentSystemTimeMs())));
  }
}
