package dev.prefstream.cli;

import dev.prefstream.trainer.offline.Evaluator;
import dev.prefstream.trainer.recipe.Recipe;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code prefstream eval}: per-pair log-probs and losses of a preference file. */
@Command(
    name = "eval",
    description =
        "Score a preference file: per pair the scored response token ids, summed log-probs of"
            + " policy (base + adapter) and reference (base), and the loss; then summary metrics.",
    mixinStandardHelpOptions = true,
    modelTransformer = EvalCommand.Flags.class)
public final class EvalCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(
      names = "--adapter",
      description = "PEFT adapter directory (default: none, policy = base).")
  Path adapter;

  @Option(
      names = "--output",
      defaultValue = "table",
      description = "json or table (default: ${DEFAULT-VALUE}).")
  String output;

  @Mixin DataOptions data;

  @Mixin ConfigOptions config;

  /** Flags that are aliases of recipe keys: the loss's, the data's and the device. */
  static final class Flags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      List<KeyFlags.Alias> aliases =
          new ArrayList<>(
              KeyFlags.TRAINING.stream()
                  .filter(
                      a ->
                          Recipe.LOSS_KEYS.contains(a.key())
                              || a.key().equals(Recipe.MAX_LENGTH_CONFIG)
                              || a.key().equals(Recipe.DEVICE_CONFIG))
                  .toList());
      aliases.add(KeyFlags.alias("--batch-size", Recipe.EVAL_BATCH_SIZE_CONFIG));
      return KeyFlags.add(spec, Recipe.CONFIG, aliases);
    }
  }

  @Override
  public Integer call() {
    return Cli.run(
        spec,
        () -> {
          if (!output.equals("json") && !output.equals("table")) {
            throw new IllegalArgumentException("--output must be json or table, got " + output);
          }
          Recipe recipe = new Recipe(config.settings(Map.of()));
          Evaluator.Report r =
              Evaluator.run(new Evaluator.Options(data.model, adapter, data.pairs, recipe));
          PrintWriter out = spec.commandLine().getOut();
          if (output.equals("json")) {
            Evaluator.writeJson(r, out);
          } else {
            Evaluator.writeTable(r, out);
          }
          return 0;
        });
  }
}
