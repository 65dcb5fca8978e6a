package dev.prefstream.cli;

import dev.prefstream.trainer.StepResult;
import dev.prefstream.trainer.TrainConfig;
import dev.prefstream.trainer.lora.LoraConfig;
import dev.prefstream.trainer.offline.OfflineTrainer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
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
    mixinStandardHelpOptions = true)
public final class TrainCommand implements Callable<Integer> {

  @Spec CommandSpec spec;

  @Option(names = "--out", required = true, description = "Adapter directory to write.")
  Path out;

  @Option(names = "--adapter", description = "PEFT adapter directory to start from.")
  Path adapter;

  @Option(
      names = "--steps",
      defaultValue = "0",
      description = "Optimizer steps (default: one epoch).")
  int steps;

  @Option(
      names = "--batch-size",
      defaultValue = "4",
      description = "Pairs per step (default: ${DEFAULT-VALUE}).")
  int batchSize;

  @Option(
      names = "--lr",
      defaultValue = "5e-4",
      description = "AdamW learning rate (default: ${DEFAULT-VALUE}).")
  double lr;

  @Option(
      names = "--weight-decay",
      defaultValue = "0",
      description = "AdamW weight decay (default: ${DEFAULT-VALUE}).")
  double weightDecay;

  @Option(
      names = "--max-grad-norm",
      defaultValue = "1.0",
      description = "Clip gradients to this global norm.")
  double maxGradNorm;

  @Option(
      names = "--lora-r",
      defaultValue = "8",
      description = "LoRA rank (default: ${DEFAULT-VALUE}).")
  int loraR;

  @Option(
      names = "--lora-alpha",
      defaultValue = "16",
      description = "LoRA alpha (default: ${DEFAULT-VALUE}).")
  double loraAlpha;

  @Option(
      names = "--lora-dropout",
      defaultValue = "0",
      description = "LoRA dropout (default: ${DEFAULT-VALUE}).")
  double loraDropout;

  @Option(names = "--use-rslora", description = "Scale by alpha/sqrt(r) (rsLoRA).")
  boolean useRslora;

  @Option(
      names = "--target-modules",
      split = ",",
      defaultValue = "q_proj,k_proj,v_proj,o_proj",
      description = "Comma-separated projections (default: ${DEFAULT-VALUE}).")
  List<String> targetModules;

  @Option(names = "--seed", defaultValue = "42", description = "Seed for init, shuffling, dropout.")
  long seed;

  @Mixin DataOptions data;

  @Mixin LossOptions loss;

  @Mixin DeviceOption device;

  @Override
  public Integer call() {
    return Cli.run(
        spec,
        () -> {
          LoraConfig lora =
              LoraConfig.builder()
                  .optR(loraR)
                  .optAlpha(loraAlpha)
                  .optDropout(loraDropout)
                  .optUseRslora(useRslora)
                  .optTargetModules(targetModules)
                  .build();
          TrainConfig train =
              TrainConfig.builder()
                  .optLoss(loss.toConfig())
                  .optLearningRate(lr)
                  .optWeightDecay(weightDecay)
                  .optMaxGradNorm(maxGradNorm)
                  .optSeed(seed)
                  .build();
          ProgressBar bar = new ProgressBar(spec.commandLine().getErr());
          OfflineTrainer.Result r =
              OfflineTrainer.run(
                  new OfflineTrainer.Options(
                      data.model,
                      data.pairs,
                      out,
                      adapter,
                      train,
                      lora,
                      steps,
                      batchSize,
                      data.maxLength,
                      device.toDevice()),
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
              r.metrics().getOrDefault("rewards/accuracies", Double.NaN),
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
