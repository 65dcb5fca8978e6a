package dev.prefstream.ingest;

import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import java.time.Duration;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.api.ProcessingContext;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.WindowStore;

/**
 * BINARY feedback: every event becomes unpaired feedback. With pairing on (a window > 0), a thumbs
 * up and a thumbs down on the same prompt of the same model within the window, with different
 * responses, also become one pair. Each event pairs at most once, with the oldest unpaired event of
 * the opposite label; unmatched events wait in a window store and expire with it.
 */
final class BinaryPairer implements Step {
  static final String STORE = "binary-pending";

  private final RecordReader reader;
  private final long windowMs;
  private ProcessingContext context;
  private Next next;
  private WindowStore<String, Sourced> pending;

  BinaryPairer(RecordReader reader, Duration window) {
    this.reader = reader;
    this.windowMs = window.toMillis();
  }

  @Override
  public void init(ProcessingContext context, Next next) {
    this.context = context;
    this.next = next;
    if (windowMs > 0) {
      this.pending = context.getStateStore(STORE);
    }
  }

  @Override
  public void process(String key, Staged value, long timestamp) {
    if (!(value instanceof Staged.Feedback feedback)
        || feedback.event().getKind() != FeedbackKind.BINARY) {
      next.accept(key, value, timestamp);
      return;
    }
    FeedbackEvent event = feedback.event();
    next.accept(key, new Staged.Unpaired(Preferences.unpaired(event)), timestamp);
    if (windowMs == 0) {
      return;
    }
    long now = Math.max(timestamp, context.currentStreamTimeMs());
    String prompt = StoreKeys.of(event.getModelId(), StoreKeys.promptHash(event.getPrompt()));
    String opposite = StoreKeys.of(prompt, event.getLabel() ? "down" : "up");
    KeyValue<Windowed<String>, FeedbackEvent> match = oldestMatch(opposite, event, now);
    if (match != null) {
      pending.put(match.key.key(), null, match.key.window().start());
      FeedbackEvent up = event.getLabel() ? event : match.value;
      FeedbackEvent down = event.getLabel() ? match.value : event;
      next.accept(key, new Staged.Pair(Preferences.binary(up, down)), timestamp);
      return;
    }
    String own = StoreKeys.of(prompt, event.getLabel() ? "up" : "down");
    // the time in the key keeps a range scan in arrival order within a segment
    pending.put(StoreKeys.of(own, StoreKeys.time(now), event.getEventId()), feedback.source(), now);
  }

  /** The oldest waiting event of the opposite label with a different response, if any. */
  private KeyValue<Windowed<String>, FeedbackEvent> oldestMatch(
      String opposite, FeedbackEvent event, long now) {
    try (KeyValueIterator<Windowed<String>, Sourced> it =
        pending.fetch(
            StoreKeys.rangeFrom(opposite),
            StoreKeys.rangeTo(opposite),
            Math.max(0, now - windowMs),
            Long.MAX_VALUE)) {
      while (it.hasNext()) {
        KeyValue<Windowed<String>, Sourced> entry = it.next();
        Staged other = reader.read(entry.value, context.currentSystemTimeMs());
        if (other instanceof Staged.Feedback waitingFeedback
            && !waitingFeedback.event().getResponse().equals(event.getResponse())) {
          return KeyValue.pair(entry.key, waitingFeedback.event());
        }
      }
    }
    return null;
  }
}
