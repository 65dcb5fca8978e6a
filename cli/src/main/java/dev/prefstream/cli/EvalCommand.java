package dev.prefstream.cli;

import dev.prefstream.trainer.offline.Evaluator;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
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
    mixinStandardHelpOptions = true)
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

  @Option(names = "--batch-size", defaultValue = "8", description = "Pairs per forward pass.")
  int batchSize;

  @Mixin DataOptions data;

  @Mixin LossOptions loss;

  @Mixin DeviceOption device;

  @Override
  public Integer call() {
    return Cli.run(
        spec,
        () -> {
          if (!output.equals("json") && !output.equals("table")) {
            throw new IllegalArgumentException("--output must be json or table, got " + output);
          }
          if (batchSize < 1) {
            throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
          }
          Evaluator.Report r =
              Evaluator.run(
                  new Evaluator.Options(
                      data.model,
                      adapter,
                      data.pairs,
                      loss.toConfig(),
                      data.maxLength,
                      batchSize,
                      device.toDevice()));
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
