package dev.prefstream.cli;

import dev.prefstream.trainer.model.ModelInit;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code prefstream model init}: write a random tiny Llama or Qwen2 model directory. */
@Command(
    name = "model",
    description = "Model directories.",
    mixinStandardHelpOptions = true,
    subcommands = {ModelCommand.Init.class})
public final class ModelCommand implements Runnable {

  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(), "Missing subcommand: init");
  }

  @Command(
      name = "init",
      description =
          "Write a randomly initialized model directory that Hugging Face transformers loads as is:"
              + " config.json, model.safetensors, a byte-level tokenizer.json, tokenizer_config.json.",
      mixinStandardHelpOptions = true)
  static final class Init implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Option(names = "--arch", required = true, description = "llama or qwen2.")
    String arch;

    @Option(
        names = "--seed",
        defaultValue = "0",
        description = "Weight seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", required = true, description = "Directory to write.")
    Path out;

    @Option(
        names = "--hidden-size",
        defaultValue = "64",
        description = "Default: ${DEFAULT-VALUE}.")
    int hiddenSize;

    @Option(names = "--layers", defaultValue = "2", description = "Default: ${DEFAULT-VALUE}.")
    int layers;

    @Option(names = "--heads", defaultValue = "4", description = "Default: ${DEFAULT-VALUE}.")
    int heads;

    @Option(
        names = "--kv-heads",
        description = "Key/value heads (grouped-query attention); default: --heads.")
    Integer kvHeads;

    @Option(
        names = "--intermediate-size",
        description = "MLP width; default: 8/3 hidden rounded up to 16.")
    Integer intermediateSize;

    @Option(names = "--tie-embeddings", description = "Tie lm_head to the input embeddings.")
    boolean tieEmbeddings;

    @Option(names = "--vocab-size", description = "Default: the tokenizer size (261).")
    Integer vocabSize;

    @Option(
        names = "--max-positions",
        defaultValue = "2048",
        description = "Default: ${DEFAULT-VALUE}.")
    int maxPositions;

    @Override
    public Integer call() {
      return Cli.run(
          spec,
          () -> {
            int inter =
                intermediateSize != null ? intermediateSize : (8 * hiddenSize / 3 + 15) / 16 * 16;
            ModelInit.Spec s =
                ModelInit.Spec.builder(arch)
                    .optSeed(seed)
                    .optHiddenSize(hiddenSize)
                    .optLayers(layers)
                    .optHeads(heads)
                    .optKvHeads(kvHeads != null ? kvHeads : heads)
                    .optIntermediateSize(inter)
                    .optTieEmbeddings(tieEmbeddings)
                    .optVocabSize(vocabSize != null ? vocabSize : ModelInit.TOKENIZER_SIZE)
                    .optMaxPositions(maxPositions)
                    .build();
            ModelInit.write(out, s);
            spec.commandLine().getOut().println("wrote " + arch + " model to " + out);
            return 0;
          });
    }
  }
}
