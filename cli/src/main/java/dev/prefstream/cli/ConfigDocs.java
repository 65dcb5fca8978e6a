package dev.prefstream.cli;

import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.publisher.SinkConfig;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.stream.TrainerConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.config.ConfigDef;

/**
 * The README's configuration table, generated from the {@link ConfigDef} declarations so that it is
 * never written twice. {@code ConfigDocsTest} fails when the README is stale.
 */
final class ConfigDocs {
  static final String BEGIN =
      "<!-- config-table:begin (generated: ./prefstream config --readme README.md) -->";
  static final String END = "<!-- config-table:end -->";

  private ConfigDocs() {}

  /** Every section: the shared keys, then each component's own. */
  static String markdown() {
    ConfigDef common = CommonConfig.commonDef();
    Map<String, ConfigDef> sections = new LinkedHashMap<>();
    sections.put("Every process", common);
    sections.put("ingest", IngestConfig.CONFIG);
    sections.put("trainer", TrainerConfig.CONFIG);
    sections.put("sink", SinkConfig.CONFIG);
    StringBuilder out = new StringBuilder();
    for (Map.Entry<String, ConfigDef> section : sections.entrySet()) {
      Set<String> skip = section.getValue() == common ? Set.of() : common.names();
      out.append("\n**").append(section.getKey()).append("**\n\n");
      out.append("| key | type | default | valid values | description |\n");
      out.append("| --- | --- | --- | --- | --- |\n");
      List<ConfigDef.ConfigKey> keys =
          section.getValue().configKeys().values().stream()
              .filter(k -> !skip.contains(k.name))
              .toList();
      for (ConfigDef.ConfigKey key : keys) {
        out.append("| `")
            .append(key.name)
            .append("` | ")
            .append(key.type.name().toLowerCase(java.util.Locale.ROOT))
            .append(" | ")
            .append(defaultOf(key))
            .append(" | ")
            .append(key.validator == null ? "" : cell(key.validator.toString()))
            .append(" | ")
            .append(cell(key.documentation))
            .append(" |\n");
      }
    }
    return out.toString();
  }

  /** The README with its table section replaced by {@link #markdown()}. */
  static String withTable(String readme) {
    int begin = readme.indexOf(BEGIN);
    int end = readme.indexOf(END);
    if (begin < 0 || end < begin) {
      throw new IllegalArgumentException("the README has no " + BEGIN + " ... " + END + " section");
    }
    return readme.substring(0, begin + BEGIN.length())
        + "\n"
        + markdown()
        + "\n"
        + readme.substring(end);
  }

  static void rewrite(Path readme) throws IOException {
    String text = Files.readString(readme, StandardCharsets.UTF_8);
    Files.writeString(readme, withTable(text), StandardCharsets.UTF_8);
  }

  private static String defaultOf(ConfigDef.ConfigKey key) {
    if (!key.hasDefault()) {
      return "(required)";
    }
    Object value = key.defaultValue;
    String text =
        value instanceof List<?> list
            ? String.join(",", list.stream().map(String::valueOf).toList())
            : String.valueOf(value);
    return text.isEmpty() ? "\"\"" : "`" + text + "`";
  }

  private static String cell(String text) {
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;");
  }
}
