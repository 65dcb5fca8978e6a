package dev.prefstream.cli;

import dev.prefstream.schemas.MetricNames;
import dev.prefstream.trainer.StepResult;
import dev.prefstream.trainer.offline.OfflineTrainer;
import dev.prefstream.trainer.recipe.Recipe;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream train}: offline DPO-family training on a JSON-lines file into a PEFT adapter.
 */
@Command(
    name = "train",
    description =
        "Train a LoRA adapter on a preference file (JSON lines: prompt, chosen, rejected) and write"
            + " it as a PEFT adapter directory.",
    mixinStandardHelpOptions = true,
    modelTransformer = TrainCommand.Flags.class)
public final class TrainCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(names = "--out", required = true, description = "Adapter directory to write.")
  Path out;

  @Option(names = "--adapter", description = "PEFT adapter directory to start from.")
  Path adapter;

  @Mixin DataOptions data;

  @Mixin ConfigOptions config;

  /** Flags that are aliases of recipe keys. */
  static final class Flags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      List<KeyFlags.Alias> aliases = new ArrayList<>(KeyFlags.TRAINING);
      aliases.add(KeyFlags.alias("--steps", Recipe.STEPS_CONFIG));
      return KeyFlags.add(spec, Recipe.CONFIG, aliases);
    }
  }

  @Override
  public Integer call() {
    return Cli.run(
        spec,
        () -> {
          Recipe recipe = new Recipe(config.settings(Map.of()));
          ProgressBar bar = new ProgressBar(spec.commandLine().getErr());
          OfflineTrainer.Result r =
              OfflineTrainer.run(
                  new OfflineTrainer.Options(data.model, data.pairs, out, adapter, recipe),
                  bar::update);
          bar.finish();
          PrintWriter o = spec.commandLine().getOut();
          o.printf(
              Locale.ROOT,
              "wrote adapter %s (sha256 %s) after %d steps%s%n",
              out,
              r.adapterSha256(),
              r.steps(),
              r.skipped() > 0 ? ", " + r.skipped() + " skipped (non-finite)" : "");
          r.lastMetrics().forEach((k, v) -> o.printf(Locale.ROOT, "  %-20s %.6f%n", k, v));
          o.flush();
          return 0;
        });
  }

  /** A one-line progress bar on stderr (redrawn in place on a terminal, every 10% otherwise). */
  static final class ProgressBar {
    private final PrintWriter err;
    private final boolean terminal = System.console() != null;
    private final long start = System.nanoTime();
    private int lastDecile = -1;

    ProgressBar(PrintWriter err) {
      this.err = err;
    }

    void update(int step, int total, StepResult r) {
      int width = 30;
      int done = (int) ((long) width * step / total);
      double seconds = (System.nanoTime() - start) / 1e9;
      String line =
          String.format(
              Locale.ROOT,
              "[%s%s] %d/%d loss %.4f acc %.2f %.2f s/step",
              "#".repeat(done),
              ".".repeat(width - done),
              step,
              total,
              r.loss(),
              r.metrics().getOrDefault(MetricNames.REWARD_ACCURACY, Double.NaN),
              seconds / step);
      int decile = 10 * step / total;
      if (terminal) {
        err.print("\r" + line);
        err.flush();
      } else if (decile != lastDecile || step == total) {
        err.println(line);
        err.flush();
      }
      lastDecile = decile;
    }

    void finish() {
      if (terminal) {
        err.println();
        err.flush();
      }
    }
  }
}
