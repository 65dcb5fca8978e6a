package dev.prefstream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.publisher.SinkConfig;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.stream.TrainerConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.config.ConfigDef;

/**
 * The README's configuration table, generated from the {@link ConfigDef} declarations so that it is
 * never written twice. {@code ConfigDocsTest} fails when the README is stale.
 */
final class ConfigDocs {
  static final String BEGIN =
      "<!-- config-table:begin (generated: ./prefstream config --readme README.md) -->";
  static final String END = "<!-- config-table:end -->";

  private static final ObjectMapper JSON = new ObjectMapper();

  private ConfigDocs() {}

  /** The sections of the table: the shared keys, the recipe, then each service's own. */
  private static Map<String, ConfigDef> sections() {
    Map<String, ConfigDef> sections = new LinkedHashMap<>();
    sections.put("Every process", CommonConfig.commonDef());
    sections.put(
        "Training recipe (train, eval, trainer, demo: one recipe file serves them all)",
        Recipe.CONFIG);
    sections.put("ingest", IngestConfig.CONFIG);
    sections.put("trainer", TrainerConfig.CONFIG);
    sections.put("sink", SinkConfig.CONFIG);
    return sections;
  }

  /**
   * Which commands read which keys: every command that talks to Kafka reads the shared keys; the
   * services read their own; train and eval read the recipe (eval only what scoring needs).
   */
  static Map<String, Set<String>> readers() {
    Set<String> common = new TreeSet<>(CommonConfig.commonDef().names());
    // only the long-running commands serve metrics
    common.removeAll(
        List.of(CommonConfig.METRICS_PORT_CONFIG, CommonConfig.METRICS_ADDRESS_CONFIG));
    Set<String> eval = new TreeSet<>(Recipe.LOSS_KEYS);
    eval.addAll(
        List.of(Recipe.MAX_LENGTH_CONFIG, Recipe.EVAL_BATCH_SIZE_CONFIG, Recipe.DEVICE_CONFIG));
    Set<String> adapters = new TreeSet<>(common);
    adapters.add(TrainerConfig.ID_CONFIG);
    Set<String> demo = new TreeSet<>(IngestConfig.CONFIG.names());
    demo.addAll(TrainerConfig.CONFIG.names());
    demo.addAll(SinkConfig.CONFIG.names());
    Map<String, Set<String>> readers = new LinkedHashMap<>();
    readers.put("demo", demo);
    readers.put("stack", Set.of(CommonConfig.DATA_DIR_CONFIG));
    readers.put("ingest", IngestConfig.CONFIG.names());
    readers.put("bench ingest", IngestConfig.CONFIG.names());
    readers.put("trainer", TrainerConfig.CONFIG.names());
    readers.put("sink", SinkConfig.CONFIG.names());
    readers.put("train", Recipe.CONFIG.names());
    readers.put("eval", eval);
    readers.put("emit", common);
    readers.put("dead-letters", common);
    readers.put("adapters", adapters);
    Set<String> audit = new TreeSet<>(TrainerConfig.CONFIG.names());
    audit.add(SinkConfig.TRUSTED_KEYS_CONFIG);
    readers.put("audit", audit);
    return readers;
  }

  /**
   * Every key once, as JSON objects: {@code name}, {@code type}, {@code default} (null when unset),
   * {@code valid}, {@code doc}, {@code commands} (the commands that read it).
   */
  static ArrayNode json() {
    ArrayNode out = JSON.createArrayNode();
    Map<String, Set<String>> readers = readers();
    Set<String> seen = new HashSet<>();
    for (ConfigDef def : sections().values()) {
      for (ConfigDef.ConfigKey key : def.configKeys().values()) {
        if (!seen.add(key.name)) {
          continue;
        }
        ObjectNode o = out.addObject();
        o.put("name", key.name);
        o.put("type", key.type.name().toLowerCase(Locale.ROOT));
        if (!key.hasDefault() || key.defaultValue == null) {
          o.putNull("default");
        } else {
          o.put("default", defaultText(key));
        }
        o.put("valid", key.validator == null ? "" : key.validator.toString());
        o.put("doc", key.documentation);
        ArrayNode commands = o.putArray("commands");
        readers.forEach(
            (command, keys) -> {
              if (keys.contains(key.name)) {
                commands.add(command);
              }
            });
      }
    }
    return out;
  }

  /** Every section: the shared keys, then each component's own. */
  static String markdown() {
    Map<String, ConfigDef> sections = sections();
    Set<String> shown = new HashSet<>();
    StringBuilder out = new StringBuilder();
    for (Map.Entry<String, ConfigDef> section : sections.entrySet()) {
      Set<String> skip = Set.copyOf(shown);
      shown.addAll(section.getValue().names());
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
    if (key.defaultValue == null) {
      return "(unset)";
    }
    String text = defaultText(key);
    return text.isEmpty() ? "\"\"" : "`" + text + "`";
  }

  /** The default as a user would write it in a properties file. */
  static String defaultText(ConfigDef.ConfigKey key) {
    Object value = key.defaultValue;
    return value instanceof List<?> list
        ? String.join(",", list.stream().map(String::valueOf).toList())
        : String.valueOf(value);
  }

  private static String cell(String text) {
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;");
  }
}
