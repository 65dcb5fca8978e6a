package dev.prefstream.schemas.config;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.config.ConfigException;

/** Reads {@code --config FILE} (Java properties) and layers command-line values over it. */
public final class ConfigFiles {
  private ConfigFiles() {}

  /**
   * The effective settings: the file's (if any), then every non-null override on top.
   *
   * @throws ConfigException naming the file when it cannot be read
   */
  public static Map<String, Object> load(Path file, Map<String, ?> overrides) {
    Map<String, Object> merged = new LinkedHashMap<>();
    if (file != null) {
      Properties props = new Properties();
      try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        props.load(in);
      } catch (IOException e) {
        throw new ConfigException("--config", file.toString(), "cannot read it: " + e.getMessage());
      }
      props.stringPropertyNames().forEach(k -> merged.put(k, props.getProperty(k).trim()));
    }
    overrides.forEach(
        (k, v) -> {
          if (v != null) {
            merged.put(k, v);
          }
        });
    return merged;
  }
}
