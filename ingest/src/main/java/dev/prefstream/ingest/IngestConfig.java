package dev.prefstream.ingest;

import dev.prefstream.schemas.config.CommonConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;

/** Settings of the ingest Kafka Streams job. */
public final class IngestConfig extends CommonConfig {
  public static final String APPLICATION_ID_CONFIG = "ingest.application.id";
  private static final String APPLICATION_ID_DOC =
      "Kafka Streams application.id of ingest: its consumer group and internal topic prefix.";

  public static final String MAX_TEXT_CHARS_CONFIG = "ingest.max.text.chars";
  private static final String MAX_TEXT_CHARS_DOC =
      "Longest prompt or response accepted, in UTF-16 chars after NFC normalization (a chat"
          + " prompt counts all its messages); longer ones are dead-lettered as text_too_long.";

  public static final String MAX_RESPONSES_CONFIG = "ingest.max.responses";
  private static final String MAX_RESPONSES_DOC =
      "Most responses in a RANKED list or a served impression; more are dead-lettered as"
          + " too_many_responses.";

  public static final String RANKED_PAIRS_CONFIG = "ingest.ranked.pairs";
  private static final String RANKED_PAIRS_DOC =
      "Pairs made from a RANKED list of n responses: all (every better/worse combination, n(n-1)/2"
          + " pairs) or adjacent (each response over the next one, n-1 pairs).";

  public static final String DEDUP_RETENTION_MS_CONFIG = "ingest.dedup.retention.ms";
  private static final String DEDUP_RETENTION_MS_DOC =
      "How long an event_id is remembered (per model id) to drop redelivered duplicates as"
          + " duplicate_event, in stream time.";

  public static final String RATE_LIMIT_EVENTS_CONFIG = "ingest.rate.limit.events";
  private static final String RATE_LIMIT_EVENTS_DOC =
      "Events one user_key may send for one model id per ingest.rate.limit.window.ms; the rest are"
          + " dead-lettered as rate_limited. 0 disables the limit. Events without a user_key are"
          + " not limited.";

  public static final String RATE_LIMIT_WINDOW_MS_CONFIG = "ingest.rate.limit.window.ms";
  private static final String RATE_LIMIT_WINDOW_MS_DOC =
      "The rate limit's window (tumbling, in stream time).";

  public static final String BINARY_PAIR_WINDOW_MS_CONFIG = "ingest.binary.pair.window.ms";
  private static final String BINARY_PAIR_WINDOW_MS_DOC =
      "When > 0, a thumbs up and a thumbs down on the same prompt of the same model within this"
          + " long (and with different responses) also become a pair, chosen = the up; each"
          + " BINARY event pairs at most once. Every BINARY event goes to unpaired either way. 0"
          + " disables pairing.";

  public static final String SERVED_RETENTION_MS_CONFIG = "ingest.served.retention.ms";
  private static final String SERVED_RETENTION_MS_DOC =
      "How long impressions from the served topic are kept for SERVED_CHOICE feedback to join, in"
          + " stream time.";

  public static final String SERVED_WAIT_MS_CONFIG = "ingest.served.wait.ms";
  private static final String SERVED_WAIT_MS_DOC =
      "How long SERVED_CHOICE feedback that arrived before its impression waits for it, in served"
          + " time (the latest impression timestamp read) or in real time, whichever passes first;"
          + " then it is dead-lettered as unknown_request.";

  public static final String STREAM_THREADS_CONFIG = "ingest.stream.threads";
  private static final String STREAM_THREADS_DOC =
      "Kafka Streams threads of this instance; 0: one per processor core, at most one per partition"
          + " of the larger input topic (a thread without a partition would idle).";

  public static final String COMMIT_INTERVAL_MS_CONFIG = "ingest.commit.interval.ms";
  private static final String COMMIT_INTERVAL_MS_DOC =
      "How often ingest commits its exactly-once transaction: the latency floor from feedback to"
          + " pairs.";

  private static final long HOUR_MS = Duration.ofHours(1).toMillis();

  public static final ConfigDef CONFIG =
      commonDef()
          .define(
              APPLICATION_ID_CONFIG,
              Type.STRING,
              "prefstream-ingest",
              new ConfigDef.NonEmptyString(),
              Importance.MEDIUM,
              APPLICATION_ID_DOC)
          .define(
              MAX_TEXT_CHARS_CONFIG,
              Type.INT,
              32_768,
              Range.between(1, 16 << 20),
              Importance.MEDIUM,
              MAX_TEXT_CHARS_DOC)
          .define(
              MAX_RESPONSES_CONFIG,
              Type.INT,
              16,
              Range.between(2, 1024),
              Importance.LOW,
              MAX_RESPONSES_DOC)
          .define(
              RANKED_PAIRS_CONFIG,
              Type.STRING,
              "all",
              ConfigDef.ValidString.in("all", "adjacent"),
              Importance.MEDIUM,
              RANKED_PAIRS_DOC)
          .define(
              DEDUP_RETENTION_MS_CONFIG,
              Type.LONG,
              24 * HOUR_MS,
              Range.atLeast(1),
              Importance.MEDIUM,
              DEDUP_RETENTION_MS_DOC)
          .define(
              RATE_LIMIT_EVENTS_CONFIG,
              Type.INT,
              120,
              Range.atLeast(0),
              Importance.MEDIUM,
              RATE_LIMIT_EVENTS_DOC)
          .define(
              RATE_LIMIT_WINDOW_MS_CONFIG,
              Type.LONG,
              60_000L,
              Range.atLeast(1),
              Importance.MEDIUM,
              RATE_LIMIT_WINDOW_MS_DOC)
          .define(
              BINARY_PAIR_WINDOW_MS_CONFIG,
              Type.LONG,
              0L,
              Range.atLeast(0),
              Importance.MEDIUM,
              BINARY_PAIR_WINDOW_MS_DOC)
          .define(
              SERVED_RETENTION_MS_CONFIG,
              Type.LONG,
              24 * HOUR_MS,
              Range.atLeast(1),
              Importance.MEDIUM,
              SERVED_RETENTION_MS_DOC)
          .define(
              SERVED_WAIT_MS_CONFIG,
              Type.LONG,
              60_000L,
              Range.atLeast(0),
              Importance.MEDIUM,
              SERVED_WAIT_MS_DOC)
          .define(
              STREAM_THREADS_CONFIG,
              Type.INT,
              0,
              Range.between(0, 64),
              Importance.LOW,
              STREAM_THREADS_DOC)
          .define(
              COMMIT_INTERVAL_MS_CONFIG,
              Type.LONG,
              100L,
              Range.atLeast(1),
              Importance.LOW,
              COMMIT_INTERVAL_MS_DOC);

  /** How a RANKED list becomes pairs. */
  public enum RankedPairs {
    ALL,
    ADJACENT
  }

  public IngestConfig(Map<?, ?> originals) {
    super(CONFIG, originals);
  }

  public String applicationId() {
    return getString(APPLICATION_ID_CONFIG);
  }

  public int maxTextChars() {
    return getInt(MAX_TEXT_CHARS_CONFIG);
  }

  public int maxResponses() {
    return getInt(MAX_RESPONSES_CONFIG);
  }

  public RankedPairs rankedPairs() {
    return RankedPairs.valueOf(getString(RANKED_PAIRS_CONFIG).toUpperCase(Locale.ROOT));
  }

  public Duration dedupRetention() {
    return Duration.ofMillis(getLong(DEDUP_RETENTION_MS_CONFIG));
  }

  /** Events per user and model per window; 0 when unlimited. */
  public int rateLimitEvents() {
    return getInt(RATE_LIMIT_EVENTS_CONFIG);
  }

  public Duration rateLimitWindow() {
    return Duration.ofMillis(getLong(RATE_LIMIT_WINDOW_MS_CONFIG));
  }

  /** Zero when BINARY feedback is not paired. */
  public Duration binaryPairWindow() {
    return Duration.ofMillis(getLong(BINARY_PAIR_WINDOW_MS_CONFIG));
  }

  public Duration servedRetention() {
    return Duration.ofMillis(getLong(SERVED_RETENTION_MS_CONFIG));
  }

  /**
   * The stream threads to run: {@code ingest.stream.threads}, or when it is 0, one per processor
   * core but no more than {@code inputPartitions} (Kafka Streams gives each thread whole tasks, one
   * per input partition).
   */
  public int streamThreads(int inputPartitions) {
    int configured = getInt(STREAM_THREADS_CONFIG);
    if (configured > 0) {
      return configured;
    }
    return Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), inputPartitions));
  }

  public Duration servedWait() {
    return Duration.ofMillis(getLong(SERVED_WAIT_MS_CONFIG));
  }

  public Path stateDir() {
    return Path.of(getString(DATA_DIR_CONFIG)).resolve("streams");
  }
}
