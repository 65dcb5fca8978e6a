package dev.prefstream.cli;

import dev.prefstream.trainer.bench.TrainBenchmark;
import dev.prefstream.trainer.recipe.Recipe;
import java.io.PrintWriter;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code prefstream bench train}: DPO step throughput and FLOP efficiency. */
@Command(
    name = "bench",
    description = "Benchmarks.",
    mixinStandardHelpOptions = true,
    subcommands = {BenchCommand.Train.class, BenchIngestCommand.class})
public final class BenchCommand implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(
        spec.commandLine(), "Missing subcommand: train or ingest");
  }

  @Command(
      name = "train",
      description =
          "Tokens/s of a DPO step on a bench preset and its FLOP efficiency against the sgemm peak"
              + " of the same libtorch, measured in the same run.",
      mixinStandardHelpOptions = true,
      modelTransformer = Train.Flags.class)
  static final class Train implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Option(names = "--hidden-size", defaultValue = "512")
    int hiddenSize;

    @Option(names = "--layers", defaultValue = "8")
    int layers;

    @Option(names = "--heads", defaultValue = "8")
    int heads;

    @Option(names = "--kv-heads", defaultValue = "8")
    int kvHeads;

    @Option(names = "--intermediate-size", defaultValue = "1408")
    int intermediateSize;

    @Option(names = "--seq-len", defaultValue = "512")
    int seqLen;

    @Option(names = "--pairs", defaultValue = "4")
    int pairs;

    @Option(names = "--lora-r", defaultValue = "16")
    int loraR;

    @Option(names = "--warmup", defaultValue = "1")
    int warmup;

    @Option(names = "--steps", defaultValue = "3")
    int steps;

    @Mixin ConfigOptions config;

    /** --device is an alias of trainer.device. */
    static final class Flags implements CommandLine.IModelTransformer {
      @Override
      public CommandSpec transform(CommandSpec spec) {
        return KeyFlags.add(
            spec,
            Recipe.CONFIG,
            KeyFlags.TRAINING.stream().filter(a -> a.key().equals(Recipe.DEVICE_CONFIG)).toList());
      }
    }

    @Override
    public Integer call() {
      return Cli.run(
          spec,
          () -> {
            PrintWriter out = spec.commandLine().getOut();
            TrainBenchmark.Result r =
                TrainBenchmark.run(
                    new TrainBenchmark.Options(
                        hiddenSize,
                        layers,
                        heads,
                        kvHeads,
                        intermediateSize,
                        seqLen,
                        pairs,
                        loraR,
                        warmup,
                        steps,
                        new Recipe(config.settings(Map.of())).device()),
                    line -> {
                      out.println(line);
                      out.flush();
                    });
            out.println(r.describe());
            out.flush();
            return 0;
          });
    }
  }
}
