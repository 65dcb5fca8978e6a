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
    subcommands = {BenchCommand.Train.class})
public final class BenchCommand implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "Missing subcommand: train");
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

    @Option(
        names = "--metrics-cost",
        description =
            "Also runs the same steps with the trainer's meters recorded and the registry scraped"
                + " after every step (a scrape per step: far more than Prometheus does), twice"
                + " each way, alternating, and prints best step with / without.")
    boolean metricsCost;

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

    /**
     * Best step time with the meters the streaming trainer records per step (and a scrape) over the
     * best without, alternating runs in this JVM so both see the same machine.
     */
    static String metricsCost(
        TrainBenchmark.Options options, java.util.function.Consumer<String> log, double firstBest)
        throws java.io.IOException {
      double without = firstBest;
      double with = Double.POSITIVE_INFINITY;
      try (Telemetry telemetry = Telemetry.withRegistry()) {
        dev.prefstream.trainer.stream.TrainerListener listener =
            telemetry.trainerListener(dev.prefstream.trainer.stream.TrainerListener.NONE);
        java.util.concurrent.atomic.AtomicLong step = new java.util.concurrent.atomic.AtomicLong();
        Map<String, Double> metrics = new java.util.TreeMap<>();
        for (String name :
            java.util.List.of(
                dev.prefstream.schemas.MetricNames.LOSS,
                dev.prefstream.schemas.MetricNames.REWARDS_CHOSEN,
                dev.prefstream.schemas.MetricNames.REWARDS_REJECTED,
                dev.prefstream.schemas.MetricNames.REWARD_ACCURACY,
                dev.prefstream.schemas.MetricNames.REWARD_MARGINS,
                dev.prefstream.schemas.MetricNames.LOGPS_CHOSEN,
                dev.prefstream.schemas.MetricNames.LOGPS_REJECTED,
                dev.prefstream.schemas.MetricNames.STEP_MS)) {
          metrics.put(name, 0.5);
        }
        Runnable record =
            () -> {
              listener.onStep("bench", step.incrementAndGet(), true, options.pairs(), metrics);
              telemetry.registry().scrape();
            };
        for (int round = 0; round < 2; round++) {
          log.accept("metrics cost, round " + (round + 1) + ": with meters");
          with = Math.min(with, TrainBenchmark.run(options, log, record).msPerStep());
          if (round == 0) {
            log.accept("metrics cost, round 2: without meters");
            without = Math.min(without, TrainBenchmark.run(options, log).msPerStep());
          }
        }
      }
      return String.format(
          java.util.Locale.ROOT,
          "metrics cost: best step %.1f ms with meters recorded and scraped every step, %.1f ms"
              + " without: ratio %.3f",
          with,
          without,
          with / without);
    }

    @Override
    public Integer call() {
      return Cli.run(
          spec,
          () -> {
            PrintWriter out = spec.commandLine().getOut();
            TrainBenchmark.Options options =
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
                    new Recipe(config.settings(Map.of())).device());
            java.util.function.Consumer<String> log =
                line -> {
                  out.println(line);
                  out.flush();
                };
            TrainBenchmark.Result r = TrainBenchmark.run(options, log);
            out.println(r.describe());
            out.flush();
            if (metricsCost) {
              out.println(metricsCost(options, log, r.msPerStep()));
              out.flush();
            }
            return 0;
          });
    }
  }
}
