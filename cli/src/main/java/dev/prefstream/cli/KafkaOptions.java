package dev.prefstream.cli;

import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.config.ConfigFiles;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * Options shared by every command that talks to Kafka. Precedence: built-in defaults, then {@code
 * --config FILE}, then {@code -D key=value}, then the dedicated flags.
 */
final class KafkaOptions {
  @Option(
      names = "--bootstrap-servers",
      paramLabel = "HOST:PORT[,...]",
      description = "Kafka brokers (bootstrap.servers).")
  String bootstrapServers;

  @Option(
      names = "--registry-url",
      paramLabel = "URL",
      description = "Schema registry base URL (schema.registry.url).")
  String registryUrl;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description =
          "Properties file: prefstream keys (see README) and any Kafka client setting, e.g."
              + " security.protocol, sasl.*, ssl.*, passed through unchanged.")
  Path configFile;

  @Option(
      names = "-D",
      paramLabel = "KEY=VALUE",
      description = "Sets one configuration key; may be repeated.")
  Map<String, String> properties = new LinkedHashMap<>();

  /** The merged settings, with command-specific values layered last. */
  Map<String, Object> settings(Map<String, ?> commandValues) {
    Map<String, Object> top = new HashMap<>(properties);
    top.putAll(nonNull(commandValues));
    if (bootstrapServers != null) {
      top.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    }
    if (registryUrl != null) {
      top.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, registryUrl);
    }
    return ConfigFiles.load(configFile, top);
  }

  private static Map<String, Object> nonNull(Map<String, ?> values) {
    Map<String, Object> out = new HashMap<>();
    values.forEach(
        (k, v) -> {
          if (v != null) {
            out.put(k, v);
          }
        });
    return out;
  }
}
