package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Past {@code limit} events from one user_key for one model in a tumbling window (stream time), the
 * rest of the window's events are dead-lettered as rate_limited. The budget is per model because
 * that is what one person's flood can skew, and because ingest keeps all its state partitioned by
 * model id. Events without a user_key are not limited.
 *
 * <p>The store holds the counts: its changelog makes them exactly-once and restores them. The
 * counts are read from a hash map instead, because a window-store lookup (nearly always a miss with
 * many users) was the largest single cost of ingest when the store was in memory (a skip list of
 * byte-array keys). The map holds exactly what the store holds for the windows still open: {@link
 * #init} (which Kafka Streams calls again whenever it has wiped and restored the store, e.g. after
 * an aborted transaction) loads it from the store, and every count is written to both.
 */
final class RateLimiter implements FixedKeyProcessor<String, Staged, Staged> {
  static final String STORE = "user-rates";

  private final int limit;
  private final long windowMs;
  private FixedKeyProcessorContext<String, Staged> context;
  private WindowStore<String, Long> counts;

  /** The store's counts by window start, then key; windows before the current one are dropped. */
  private final TreeMap<Long, Map<String, Long>> windows = new TreeMap<>();

  RateLimiter(int limit, Duration window) {
    this.limit = limit;
    this.windowMs = window.toMillis();
  }

  @Override
  public void init(FixedKeyProcessorContext<String, Staged> context) {
    this.context = context;
    this.counts = context.getStateStore(STORE);
    windows.clear();
    try (KeyValueIterator<Windowed<String>, Long> all = counts.all()) {
      all.forEachRemaining(
          kv ->
              windows
                  .computeIfAbsent(kv.key.window().start(), w -> new HashMap<>())
                  .put(kv.key.key(), kv.value));
    }
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
    Map<String, Long> window = windows.get(windowStart);
    if (window == null) {
      windows.headMap(windowStart).clear(); // stream time moved on: the store expires them too
      window = new HashMap<>();
      windows.put(windowStart, window);
    }
    long count = window.getOrDefault(key, 0L) + 1;
    if (count <= limit + 1L) {
      // once over the limit the count stops growing: the decision is made, spare the changelog
      counts.put(key, count, windowStart);
    }
    window.put(key, Math.min(count, limit + 1L)); // what the store holds now
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
