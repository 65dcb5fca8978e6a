package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.api.ProcessingContext;
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
final class RateLimiter implements Step {
  static final String STORE = "user-rates";

  private final int limit;
  private final long windowMs;
  private ProcessingContext context;
  private Next next;
  private WindowStore<String, Long> counts;

  /**
   * The store's counts by window start, then key; windows before the current one are dropped. A
   * count is a one-element array, so that one hash lookup both reads and updates it.
   */
  private final TreeMap<Long, Map<String, long[]>> windows = new TreeMap<>();

  RateLimiter(int limit, Duration window) {
    this.limit = limit;
    this.windowMs = window.toMillis();
  }

  @Override
  public void init(ProcessingContext context, Next next) {
    this.context = context;
    this.next = next;
    this.counts = context.getStateStore(STORE);
    windows.clear();
    try (KeyValueIterator<Windowed<String>, Long> all = counts.all()) {
      all.forEachRemaining(
          kv ->
              windows
                  .computeIfAbsent(kv.key.window().start(), w -> new HashMap<>())
                  .put(kv.key.key(), new long[] {kv.value}));
    }
  }

  @Override
  public void process(String key, Staged value, long timestamp) {
    if (limit == 0
        || !(value instanceof Staged.Feedback feedback)
        || feedback.event().getUserKey() == null
        || feedback.event().getUserKey().isEmpty()) {
      next.accept(key, value, timestamp);
      return;
    }
    FeedbackEvent event = feedback.event();
    String user = StoreKeys.of(event.getModelId(), event.getUserKey());
    long now = Math.max(timestamp, context.currentStreamTimeMs());
    long windowStart = now - now % windowMs;
    Map<String, long[]> window = windows.get(windowStart);
    if (window == null) {
      // sized like the last window, not rehashed as every window's users come back
      Map.Entry<Long, Map<String, long[]>> last = windows.lastEntry();
      int expected = last == null ? 0 : last.getValue().size();
      windows.headMap(windowStart).clear(); // stream time moved on: the store expires them too
      window = new HashMap<>(Math.max(16, (int) (expected / 0.75f) + 1));
      windows.put(windowStart, window);
    }
    long[] held = window.computeIfAbsent(user, u -> new long[1]);
    long count = held[0] + 1;
    if (count <= limit + 1L) {
      // once over the limit the count stops growing: the decision is made, spare the changelog
      counts.put(user, count, windowStart);
      held[0] = count; // what the store holds now
    }
    if (count <= limit) {
      next.accept(key, value, timestamp);
      return;
    }
    next.accept(
        key,
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
            context.currentSystemTimeMs()),
        timestamp);
  }
}
