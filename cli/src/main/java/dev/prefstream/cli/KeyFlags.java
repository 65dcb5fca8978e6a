package dev.prefstream.cli;

import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.recipe.Recipe;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Command-line flags that are aliases of configuration keys. A flag has no default, type or rule of
 * its own: its help text, default and valid values are the key's declaration, and its value is
 * validated where every value of that key is, when the command builds its configuration. A command
 * adds its aliases with a {@link CommandLine.IModelTransformer}.
 */
final class KeyFlags {
  private static final String MARK = "key:";

  private KeyFlags() {}

  /** One flag and the key it sets. */
  record Alias(String flag, String key) {}

  static Alias alias(String flag, String key) {
    return new Alias(flag, key);
  }

  /** --metrics-port, taken by every long-running command (ingest, trainer, sink, demo). */
  static final Alias METRICS_PORT = alias("--metrics-port", CommonConfig.METRICS_PORT_CONFIG);

  /** The flags of the training recipe, shared by train and trainer. */
  static final List<Alias> TRAINING =
      List.of(
          alias("--loss", Recipe.LOSS_CONFIG),
          alias("--beta", Recipe.BETA_CONFIG),
          alias("--label-smoothing", Recipe.LABEL_SMOOTHING_CONFIG),
          alias("--simpo-gamma", Recipe.SIMPO_GAMMA_CONFIG),
          alias("--ld-alpha", Recipe.LD_ALPHA_CONFIG),
          alias("--pref-ftx", Recipe.PREF_FTX_CONFIG),
          alias("--desirable-weight", Recipe.DESIRABLE_WEIGHT_CONFIG),
          alias("--undesirable-weight", Recipe.UNDESIRABLE_WEIGHT_CONFIG),
          alias("--lr", Recipe.LR_CONFIG),
          alias("--weight-decay", Recipe.WEIGHT_DECAY_CONFIG),
          alias("--max-grad-norm", Recipe.MAX_GRAD_NORM_CONFIG),
          alias("--lora-r", Recipe.LORA_R_CONFIG),
          alias("--lora-alpha", Recipe.LORA_ALPHA_CONFIG),
          alias("--lora-dropout", Recipe.LORA_DROPOUT_CONFIG),
          alias("--use-rslora", Recipe.LORA_USE_RSLORA_CONFIG),
          alias("--target-modules", Recipe.LORA_TARGET_MODULES_CONFIG),
          alias("--seed", Recipe.SEED_CONFIG),
          alias("--batch-size", Recipe.BATCH_SIZE_CONFIG),
          alias("--max-length", Recipe.MAX_LENGTH_CONFIG),
          alias("--device", Recipe.DEVICE_CONFIG));

  /** Adds an option per alias to {@code spec}, documented from {@code def}'s declaration. */
  static CommandSpec add(CommandSpec spec, ConfigDef def, List<Alias> aliases) {
    for (Alias a : aliases) {
      ConfigDef.ConfigKey key = def.configKeys().get(a.key());
      if (key == null) {
        throw new IllegalStateException(a.flag() + " names an undeclared key " + a.key());
      }
      boolean flag = key.type == ConfigDef.Type.BOOLEAN;
      // a list key's flag may be repeated (--trusted-key A --trusted-key B) or given A,B
      boolean list = key.type == ConfigDef.Type.LIST;
      OptionSpec.Builder builder = OptionSpec.builder(a.flag());
      if (list) {
        builder.type(List.class).auxiliaryTypes(String.class).splitRegex(",");
      } else {
        builder.type(String.class);
      }
      if (flag) {
        // a bare --flag means true; a null fallback would break picocli's usage help (NPE)
        builder.fallbackValue("true");
      }
      spec.addOption(
          builder
              .arity(flag ? "0..1" : "1")
              .paramLabel(flag ? "true|false" : label(key))
              .descriptionKey(MARK + key.name)
              .description(
                  key.documentation
                      + " ("
                      + key.name
                      + (key.hasDefault() ? ", default: " + ConfigDocs.defaultText(key) : "")
                      + ")")
              .build());
    }
    return spec;
  }

  /** The keys set by alias flags on this command line, with their values as typed. */
  static Map<String, Object> values(CommandSpec spec) {
    Map<String, Object> values = new LinkedHashMap<>();
    CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
    for (OptionSpec option : spec.options()) {
      String mark = option.descriptionKey();
      if (mark != null && mark.startsWith(MARK) && parsed.hasMatchedOption(option)) {
        Object value = option.getValue();
        // a repeated list flag arrives as a list: hand it on as the comma-separated text a
        // --config file or -D would hold, so every source of a key looks the same downstream
        values.put(
            mark.substring(MARK.length()),
            value instanceof List<?> list
                ? String.join(",", list.stream().map(String::valueOf).toList())
                : value);
      }
    }
    return values;
  }

  private static String label(ConfigDef.ConfigKey key) {
    return switch (key.type) {
      case INT, LONG, SHORT -> "N";
      case DOUBLE -> "X";
      case LIST -> "A[,B...]";
      default -> "VALUE";
    };
  }
}
