package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.ServedResponses;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.ProcessingContext;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * Joins SERVED_CHOICE feedback with the impression it points at, by (model id, request id).
 *
 * <p>Impressions are kept in a window store for the served retention. A choice whose impression is
 * there becomes pairs at once; one that came first waits in {@code waiting-choices} until its
 * impression arrives, or until it has waited {@code ingest.served.wait.ms} — in served time, or in
 * real time — and then is dead-lettered as unknown_request. Both stores hold records as they
 * arrived ({@link Sourced}), so every dead letter keeps its original bytes.
 *
 * <p>Served time is the latest impression timestamp this instance has read, not the task's stream
 * time: only impressions past a choice's deadline show that its own will not come. Stream time also
 * moves with feedback, and ingest does not hold feedback back until the served partition is fetched
 * ({@code max.task.idle.ms=-1}, see {@link IngestService}): after downtime a backlog of choices can
 * run ahead of the impressions they wait for, which must not expire them. After a restart served
 * time is unknown until the first impression; until then only real time expires.
 */
final class ServedJoiner implements Step {
  static final String IMPRESSIONS = "impressions";
  static final String WAITING = "waiting-choices";

  private final RecordReader reader;
  private final String servedTopic;
  private final long retentionMs;
  private final long waitMs;
  private ProcessingContext context;
  private Next next;
  private WindowStore<String, Sourced> impressions;
  private KeyValueStore<String, Waiting> waiting;

  /** How often waiting choices are checked: in real time, and as served time advances. */
  private final long checkEveryMs;

  /** The latest impression timestamp read (not stored: unknown after a restart). */
  private long servedTime = Long.MIN_VALUE;

  /** Served time at the last check. */
  private long servedTimeChecked = Long.MIN_VALUE;

  ServedJoiner(RecordReader reader, String servedTopic, Duration retention, Duration wait) {
    this.reader = reader;
    this.servedTopic = servedTopic;
    this.retentionMs = retention.toMillis();
    this.waitMs = wait.toMillis();
    this.checkEveryMs = Math.max(100, Math.min(1_000, waitMs / 10));
  }

  @Override
  public void init(ProcessingContext context, Next next) {
    this.context = context;
    this.next = next;
    this.impressions = context.getStateStore(IMPRESSIONS);
    this.waiting = context.getStateStore(WAITING);
    if (waitMs > 0) {
      context.schedule(
          Duration.ofMillis(checkEveryMs), PunctuationType.WALL_CLOCK_TIME, this::expireWaiting);
    }
  }

  @Override
  public void process(String key, Staged value, long timestamp) {
    long now = Math.max(timestamp, context.currentStreamTimeMs());
    if (value instanceof Staged.Impression impression) {
      remember(impression, now, key, timestamp);
      servedTime = Math.max(servedTime, timestamp);
      if (waitMs > 0
          && (servedTimeChecked == Long.MIN_VALUE
              || servedTime - servedTimeChecked >= checkEveryMs)) {
        servedTimeChecked = servedTime;
        expireWaiting(servedTime);
      }
    } else if (value instanceof Staged.Feedback feedback
        && feedback.event().getKind() == FeedbackKind.SERVED_CHOICE) {
      choose(feedback, now, key, timestamp);
    } else {
      next.accept(key, value, timestamp);
    }
  }

  /** Stores an impression and joins the choices that waited for it, in the impression's record. */
  private void remember(Staged.Impression impression, long now, String key, long timestamp) {
    ServedResponses served = impression.impression();
    String request = StoreKeys.of(served.getModelId(), served.getRequestId());
    impressions.put(request, impression.source(), now);
    List<KeyValue<String, Waiting>> released = new ArrayList<>();
    try (KeyValueIterator<String, Waiting> it =
        waiting.prefixScan(StoreKeys.rangeFrom(request), new StringSerializer())) {
      it.forEachRemaining(released::add);
    }
    for (KeyValue<String, Waiting> entry : released) {
      waiting.delete(entry.key);
      Staged choice = reader.read(entry.value.choice(), context.currentSystemTimeMs());
      if (choice instanceof Staged.Feedback feedback) {
        join(feedback, served, key, timestamp);
      } else {
        next.accept(key, choice, timestamp);
      }
    }
  }

  private void choose(Staged.Feedback feedback, long now, String key, long timestamp) {
    FeedbackEvent event = feedback.event();
    String request = StoreKeys.of(event.getModelId(), event.getRequestId());
    Sourced latest = null;
    try (var it = impressions.fetch(request, Math.max(0, now - retentionMs), Long.MAX_VALUE)) {
      while (it.hasNext()) {
        latest = it.next().value;
      }
    }
    if (latest != null
        && reader.read(latest, context.currentSystemTimeMs())
            instanceof Staged.Impression impression) {
      join(feedback, impression.impression(), key, timestamp);
    } else if (waitMs == 0) {
      next.accept(key, unknownRequest(feedback), timestamp);
    } else {
      waiting.put(
          StoreKeys.of(request, event.getEventId()),
          new Waiting(
              feedback.source(), now, now + waitMs, context.currentSystemTimeMs() + waitMs));
    }
  }

  private void join(Staged.Feedback feedback, ServedResponses served, String key, long timestamp) {
    FeedbackEvent event = feedback.event();
    int index = event.getChosenIndex();
    int n = served.getResponses().size();
    if (index >= n) {
      next.accept(
          key,
          reject(
              feedback,
              DeadLetterReason.BAD_CHOSEN_INDEX,
              "chosen_index "
                  + index
                  + ", but request "
                  + Texts.abbreviate(served.getRequestId())
                  + " served "
                  + n
                  + " responses (0 to "
                  + (n - 1)
                  + ")"),
          timestamp);
      return;
    }
    List<PreferencePair> pairs = Preferences.choice(event, served);
    if (pairs.isEmpty()) {
      next.accept(
          key,
          reject(
              feedback,
              DeadLetterReason.IDENTICAL_RESPONSES,
              "every other response of request "
                  + Texts.abbreviate(served.getRequestId())
                  + " is the same text as the chosen one ("
                  + index
                  + ")"),
          timestamp);
      return;
    }
    for (PreferencePair pair : pairs) {
      next.accept(key, new Staged.Pair(pair), timestamp);
    }
  }

  /** Dead-letters the choices that waited too long, in served time or in real time. */
  private void expireWaiting(long ignoredTrigger) {
    long servedNow = servedTime;
    long wallNow = context.currentSystemTimeMs();
    List<KeyValue<String, Waiting>> expired = new ArrayList<>();
    try (KeyValueIterator<String, Waiting> it = waiting.all()) {
      while (it.hasNext()) {
        KeyValue<String, Waiting> entry = it.next();
        if (servedNow >= entry.value.servedDeadline() || wallNow >= entry.value.wallDeadline()) {
          expired.add(entry);
        }
      }
    }
    for (KeyValue<String, Waiting> entry : expired) {
      waiting.delete(entry.key);
      Staged choice = reader.read(entry.value.choice(), wallNow);
      Staged outcome =
          choice instanceof Staged.Feedback feedback ? unknownRequest(feedback) : choice;
      String modelId = entry.key.substring(0, entry.key.indexOf(StoreKeys.SEPARATOR));
      next.accept(modelId, outcome, entry.value.timestamp());
    }
  }

  private Staged.Rejected unknownRequest(Staged.Feedback feedback) {
    FeedbackEvent event = feedback.event();
    return reject(
        feedback,
        DeadLetterReason.UNKNOWN_REQUEST,
        "no impression for request "
            + Texts.abbreviate(event.getRequestId())
            + " of model "
            + event.getModelId()
            + " arrived on "
            + servedTopic
            + " within ingest.served.wait.ms="
            + waitMs
            + " (impressions are kept ingest.served.retention.ms="
            + retentionMs
            + "; the impression's model_id must be the choice's)");
  }

  private Staged.Rejected reject(Staged.Feedback feedback, DeadLetterReason reason, String text) {
    return RecordReader.reject(
        feedback.source(),
        reason,
        text,
        feedback.event().getEventId(),
        feedback.event().getModelId(),
        context.currentSystemTimeMs());
  }

  /** A choice waiting for its impression, with both of its deadlines. */
  record Waiting(Sourced choice, long timestamp, long servedDeadline, long wallDeadline) {

    static Serde<Waiting> serde() {
      return Serdes.serdeFrom(
          (topic, w) -> w == null ? null : w.toBytes(),
          (topic, bytes) -> bytes == null ? null : fromBytes(bytes));
    }

    byte[] toBytes() {
      ByteArrayOutputStream buffer = new ByteArrayOutputStream();
      try (DataOutputStream out = new DataOutputStream(buffer)) {
        out.writeLong(timestamp);
        out.writeLong(servedDeadline);
        out.writeLong(wallDeadline);
        choice.write(out);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot happen: writing to memory", e);
      }
      return buffer.toByteArray();
    }

    static Waiting fromBytes(byte[] bytes) {
      try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(bytes))) {
        long timestamp = in.readLong();
        long servedDeadline = in.readLong();
        long wallDeadline = in.readLong();
        return new Waiting(Sourced.read(in), timestamp, servedDeadline, wallDeadline);
      } catch (IOException e) {
        throw new IllegalStateException(
            "unreadable waiting choice (" + bytes.length + " bytes)", e);
      }
    }
  }
}
