package dev.prefstream.cli;

import dev.prefstream.schemas.config.CommonConfig;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@link ConfigOptions} plus where Kafka and the registry are, for every command that uses them.
 */
final class KafkaOptions extends ConfigOptions {
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

  /** No command defaults: the declared ones. */
  Map<String, Object> settings() {
    return settings(Map.of());
  }

  @Override
  Map<String, Object> flags() {
    Map<String, Object> flags = super.flags();
    if (bootstrapServers != null) {
      flags.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    }
    if (registryUrl != null) {
      flags.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, registryUrl);
    }
    return flags;
  }
}
