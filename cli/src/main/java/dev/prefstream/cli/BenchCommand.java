package dev.prefstream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
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
          "The plain DPO step (TRL's concatenated forward) and the shared-prompt step on the same"
              + " pairs, in one run: seconds per step, tokens/s, FLOP efficiency (the plain step's"
              + " FLOPs / the step's time / the sgemm peak of the same libtorch, measured in the same"
              + " run) and peak resident memory.",
      mixinStandardHelpOptions = true,
      modelTransformer = Train.Flags.class)
  static final class Train implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Option(
        names = "--shape",
        defaultValue = "default",
        description =
            "default (hidden 512, 8 layers, byte vocabulary; seq 512, 4 pairs) or qwen2.5-0.5b"
                + " (Qwen2.5-0.5B's shape with random weights; seq 1024, 1 pair).")
    String shape;

    @Option(
        names = "--seq-len",
        description = "Tokens per sequence: a prompt and responses of half that each.")
    Integer seqLen;

    @Option(names = "--pairs", description = "Pairs per step.")
    Integer pairs;

    @Option(names = "--lora-r", defaultValue = "16", description = "Default: ${DEFAULT-VALUE}.")
    int loraR;

    @Option(
        names = "--warmup",
        defaultValue = "1",
        description = "Untimed steps of each kind (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(
        names = "--steps",
        defaultValue = "3",
        description = "Timed steps of each kind; the best counts (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--plain", description = "Only the plain step.")
    boolean plainOnly;

    @Option(names = "--fast", description = "Only the shared-prompt step.")
    boolean fastOnly;

    @Option(
        names = "--output",
        defaultValue = "table",
        description = "table or json (one object on stdout; progress on stderr).")
    String output;

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
          with = Math.min(with, TrainBenchmark.run(options, log, record).secondsPerStep());
          if (round == 0) {
            log.accept("metrics cost, round 2: without meters");
            without = Math.min(without, TrainBenchmark.run(options, log).secondsPerStep());
          }
        }
      }
      return String.format(
          java.util.Locale.ROOT,
          "metrics cost: best step %.3f s with meters recorded and scraped every step, %.3f s"
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
            if (!output.equals("json") && !output.equals("table")) {
              throw new IllegalArgumentException("--output must be json or table, got " + output);
            }
            if (plainOnly && fastOnly) {
              throw new IllegalArgumentException("--plain and --fast exclude each other");
            }
            TrainBenchmark.Preset preset = TrainBenchmark.Preset.named(shape);
            boolean json = output.equals("json");
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter progress = json ? spec.commandLine().getErr() : out;
            java.util.function.Consumer<String> log =
                line -> {
                  progress.println(line);
                  progress.flush();
                };
            TrainBenchmark.Options options =
                new TrainBenchmark.Options(
                    preset,
                    seqLen != null ? seqLen : preset.seqLen(),
                    pairs != null ? pairs : preset.pairs(),
                    loraR,
                    warmup,
                    steps,
                    !fastOnly,
                    !plainOnly,
                    new Recipe(config.settings(Map.of())).device());
            TrainBenchmark.Result r = TrainBenchmark.run(options, log);
            out.println(json ? new ObjectMapper().writeValueAsString(r.json()) : r.describe());
            out.flush();
            if (metricsCost) {
              progress.println(metricsCost(options, log, r.secondsPerStep()));
              progress.flush();
            }
            return 0;
          });
    }
  }
}
