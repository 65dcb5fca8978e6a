package dev.prefstream.ingest;

import dev.prefstream.schemas.config.CommonConfig;
import java.nio.file.Path;
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
      "Longest prompt or response accepted, in UTF-16 chars; longer ones are dead-lettered as"
          + " text_too_long.";

  public static final String STREAM_THREADS_CONFIG = "ingest.stream.threads";
  private static final String STREAM_THREADS_DOC = "Kafka Streams threads of this instance.";

  public static final String COMMIT_INTERVAL_MS_CONFIG = "ingest.commit.interval.ms";
  private static final String COMMIT_INTERVAL_MS_DOC =
      "How often ingest commits its exactly-once transaction: the latency floor from feedback to"
          + " pairs.";

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
              STREAM_THREADS_CONFIG,
              Type.INT,
              1,
              Range.between(1, 64),
              Importance.LOW,
              STREAM_THREADS_DOC)
          .define(
              COMMIT_INTERVAL_MS_CONFIG,
              Type.LONG,
              100L,
              Range.atLeast(1),
              Importance.LOW,
              COMMIT_INTERVAL_MS_DOC);

  public IngestConfig(Map<?, ?> originals) {
    super(CONFIG, originals);
  }

  public String applicationId() {
    return getString(APPLICATION_ID_CONFIG);
  }

  public int maxTextChars() {
    return getInt(MAX_TEXT_CHARS_CONFIG);
  }

  public Path stateDir() {
    return Path.of(getString(DATA_DIR_CONFIG)).resolve("streams");
  }
}
