package dev.prefstream.cli;

import dev.prefstream.schemas.config.ConfigFiles;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code --config FILE} and {@code -D key=value}, and how every command layers its settings. The
 * same precedence holds for every command: flags over {@code -D} over {@code --config} over the
 * command's own defaults over the declared defaults.
 */
class ConfigOptions {
  @Spec(Spec.Target.MIXEE)
  CommandSpec command;

  @Option(
      names = "--config",
      paramLabel = "FILE",
      description =
          "Properties file: prefstream keys (see README) and any Kafka client setting, e.g."
              + " security.protocol, sasl.*, ssl.*, passed through unchanged. One recipe file"
              + " serves train, eval, trainer and demo.")
  Path configFile;

  @Option(
      names = "-D",
      paramLabel = "KEY=VALUE",
      description = "Sets one configuration key; may be repeated. Overrides --config.")
  Map<String, String> properties = new LinkedHashMap<>();

  /** The merged settings: {@code defaults}, then the file, then -D, then alias flags. */
  Map<String, Object> settings(Map<String, ?> defaults) {
    Map<String, Object> merged = new LinkedHashMap<>(ConfigFiles.load(null, defaults));
    merged.putAll(ConfigFiles.load(configFile, properties));
    merged.putAll(flags());
    return merged;
  }

  /** Keys set by this command's flags (aliases of keys). */
  Map<String, Object> flags() {
    return KeyFlags.values(command);
  }
}
