package dev.prefstream.publisher;

import dev.prefstream.schemas.config.CommonConfig;
import java.nio.file.Path;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;

/** Settings of the serving-side sink that materializes adapter versions as PEFT directories. */
public final class SinkConfig extends CommonConfig {
  public static final String DIR_CONFIG = "sink.dir";
  private static final String DIR_DOC =
      "Where versions are written, as <sink.dir>/<model>/v<version>/ (a PEFT adapter directory).";

  public static final String GROUP_ID_CONFIG = "sink.group.id";
  private static final String GROUP_ID_DOC =
      "Consumer group of this sink. Every serving host needs its own group to see every version;"
          + " empty derives one from sink.dir.";

  public static final String KEEP_VERSIONS_CONFIG = "sink.keep.versions";
  private static final String KEEP_VERSIONS_DOC =
      "How many newest versions per model stay on disk; older ones are deleted. 0 keeps all.";

  public static final ConfigDef CONFIG =
      commonDef()
          .define(DIR_CONFIG, Type.STRING, "adapters", Importance.HIGH, DIR_DOC)
          .define(GROUP_ID_CONFIG, Type.STRING, "", Importance.MEDIUM, GROUP_ID_DOC)
          .define(
              KEEP_VERSIONS_CONFIG,
              Type.INT,
              0,
              Range.atLeast(0),
              Importance.MEDIUM,
              KEEP_VERSIONS_DOC);

  public SinkConfig(Map<?, ?> originals) {
    super(CONFIG, originals);
  }

  public Path dir() {
    return Path.of(getString(DIR_CONFIG)).toAbsolutePath().normalize();
  }

  public String groupId() {
    String configured = getString(GROUP_ID_CONFIG);
    return configured.isBlank()
        ? "prefstream-sink-" + Integer.toHexString(dir().toString().hashCode())
        : configured;
  }

  public int keepVersions() {
    return getInt(KEEP_VERSIONS_CONFIG);
  }
}
