package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.trainer.DpoTrainer;
import dev.prefstream.trainer.StepResult;
import dev.prefstream.trainer.TrainConfig;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.ChatTurn;
import dev.prefstream.trainer.tokenize.EncodedExample;
import dev.prefstream.trainer.tokenize.EncodedPair;
import dev.prefstream.trainer.tokenize.PairEncoder;
import dev.prefstream.trainer.tokenize.Prompt;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A {@link Learner} on the DJL trainer core: DPO-family steps on one model id's LoRA adapter. With
 * an unpaired loss (kto, apo_zero_unpaired) it trains single examples: thumbs up/down from the
 * {@code unpaired} topic, and each pair split into its chosen response as a desirable example and
 * its rejected one as an undesirable example, as TRL's KTO does with paired data ({@code
 * trl.data_utils.unpair_preference_dataset}, used by {@code KTOTrainer}).
 */
public final class DpoLearner implements Learner {
  static final String OPTIMIZER_FILE = "optimizer.safetensors";

  private final CausalLm model;
  private final PairEncoder encoder;
  private final LoraAdapter adapter;
  private final TrainConfig trainConfig;
  private final String baseModelName;
  private final boolean unpairedLoss;
  private DpoTrainer trainer;

  private DpoLearner(
      CausalLm model,
      PairEncoder encoder,
      LoraAdapter adapter,
      TrainConfig trainConfig,
      String baseModelName) {
    this.model = model;
    this.encoder = encoder;
    this.adapter = adapter;
    this.trainConfig = trainConfig;
    this.trainer = new DpoTrainer(model, adapter, trainConfig);
    this.baseModelName = baseModelName;
    this.unpairedLoss = trainConfig.loss().type().unpaired();
  }

  @Override
  public Optional<String> problemWith(PreferencePair pair) {
    return problem(
        () -> {
          if (unpairedLoss) {
            examples(List.of(pair), List.of());
          } else {
            encode(List.of(pair));
          }
        });
  }

  @Override
  public Optional<String> problemWith(UnpairedFeedback example) {
    if (!unpairedLoss) {
      return Learner.super.problemWith(example);
    }
    return problem(() -> examples(List.of(), List.of(example)));
  }

  private static Optional<String> problem(Runnable encoding) {
    try {
      encoding.run();
      return Optional.empty();
    } catch (RuntimeException e) {
      return Optional.of(e.getMessage() == null ? e.toString() : e.getMessage());
    }
  }

  @Override
  public StepReport step(List<PreferencePair> batch) {
    return step(batch, List.of());
  }

  @Override
  public StepReport step(List<PreferencePair> pairs, List<UnpairedFeedback> unpaired) {
    StepResult result;
    if (unpairedLoss) {
      result = trainer.stepUnpaired(examples(pairs, unpaired));
    } else {
      refuseUnpaired(unpaired);
      result = trainer.step(encode(pairs));
    }
    return new StepReport(result.applied(), result.metrics());
  }

  @Override
  public Map<String, Double> evaluate(List<PreferencePair> pairs) {
    return evaluate(pairs, List.of());
  }

  @Override
  public Map<String, Double> evaluate(List<PreferencePair> pairs, List<UnpairedFeedback> unpaired) {
    Map<String, Double> metrics = new TreeMap<>();
    if (unpairedLoss) {
      trainer
          .evaluateUnpaired(examples(pairs, unpaired))
          .metrics()
          .forEach((k, v) -> metrics.put(MetricNames.eval(k), v));
      return metrics;
    }
    refuseUnpaired(unpaired);
    List<EncodedPair> encoded = encode(pairs);
    // the evaluation's own forwards give the KL too (eval/kl): no extra passes for the gate
    trainer.evaluate(encoded).metrics().forEach((k, v) -> metrics.put(MetricNames.eval(k), v));
    return metrics;
  }

  private static void refuseUnpaired(List<UnpairedFeedback> unpaired) {
    if (!unpaired.isEmpty()) {
      throw new IllegalStateException(
          "this learner's loss trains on pairs; got " + unpaired.size() + " unpaired examples");
    }
  }

  private List<EncodedPair> encode(List<PreferencePair> pairs) {
    List<EncodedPair> encoded = new ArrayList<>(pairs.size());
    for (PreferencePair pair : pairs) {
      encoded.add(encoder.encode(prompt(pair.getPrompt()), pair.getChosen(), pair.getRejected()));
    }
    return encoded;
  }

  /**
   * The examples of an unpaired-loss batch, in this order: the pairs' chosen responses (desirable),
   * then their rejected ones (undesirable), as TRL's {@code unpair_preference_dataset} lays out a
   * batch of pairs ({@code completion = chosen + rejected}, {@code label = [True] * n + [False] *
   * n}), then the unpaired examples. The order matters for KTO's KL estimate, which scores each
   * example's prompt with the previous example's completion.
   */
  private List<EncodedExample> examples(
      List<PreferencePair> pairs, List<UnpairedFeedback> unpaired) {
    List<EncodedExample> examples = new ArrayList<>(2 * pairs.size() + unpaired.size());
    for (PreferencePair pair : pairs) {
      examples.add(example(prompt(pair.getPrompt()), pair.getChosen(), true));
    }
    for (PreferencePair pair : pairs) {
      examples.add(example(prompt(pair.getPrompt()), pair.getRejected(), false));
    }
    for (UnpairedFeedback u : unpaired) {
      examples.add(example(prompt(u.getPrompt()), u.getResponse(), u.getDesirable()));
    }
    return examples;
  }

  private EncodedExample example(Prompt prompt, String completion, boolean desirable) {
    int[][] ids = encoder.encodeExample(prompt, completion);
    return new EncodedExample(ids[0], ids[1], desirable);
  }

  @Override
  public Snapshot adapter() {
    return new Snapshot(
        adapter.adapterConfigJson(baseModelName), adapter.safetensors(), adapter.weightsFinite());
  }

  @Override
  public Map<String, byte[]> stateFiles() {
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put(AdapterFiles.WEIGHTS, adapter.safetensors());
    files.put(OPTIMIZER_FILE, trainer.optimizerState());
    return files;
  }

  /**
   * Continues from {@code stateFiles}. Without {@value #OPTIMIZER_FILE} (a rollback's state) the
   * optimizer starts afresh from the given weights.
   */
  @Override
  public void restore(Map<String, byte[]> stateFiles) {
    byte[] weights = stateFiles.get(AdapterFiles.WEIGHTS);
    if (weights == null) {
      throw new IllegalStateException(
          "trainer state needs " + AdapterFiles.WEIGHTS + ", got " + stateFiles.keySet());
    }
    byte[] optimizer = stateFiles.get(OPTIMIZER_FILE);
    try {
      adapter.loadSafetensors(weights);
      if (optimizer != null) {
        trainer.restoreOptimizerState(optimizer);
      } else {
        trainer.close();
        trainer = new DpoTrainer(model, adapter, trainConfig);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot restore the trainer state", e);
    }
  }

  @Override
  public void close() {
    try {
      trainer.close();
    } finally {
      adapter.close();
    }
  }

  static Prompt prompt(Object avroPrompt) {
    if (avroPrompt instanceof String text) {
      return Prompt.text(text);
    }
    List<ChatTurn> turns = new ArrayList<>();
    for (Object m : (List<?>) avroPrompt) {
      ChatMessage message = (ChatMessage) m;
      turns.add(new ChatTurn(message.getRole(), message.getContent()));
    }
    return Prompt.chat(turns);
  }

  /**
   * Loads the base model and tokenizer of {@code trainer.model.dir} once; every model id gets its
   * own adapter and optimizer over them.
   */
  public static Learner.Factory factory(TrainerConfig config) {
    return new Factory(config);
  }

  private static final class Factory implements Learner.Factory {
    private final TrainerConfig config;
    private final CausalLm model;
    private final PairEncoder encoder;

    Factory(TrainerConfig config) {
      this.config = config;
      try {
        this.model = CausalLm.load(config.modelDir(), config.recipe().device());
        this.encoder =
            PairEncoder.load(
                config.modelDir(),
                config.recipe().maxLength(),
                config.recipe().chatTemplateKwargs());
      } catch (IOException e) {
        throw new UncheckedIOException(
            "cannot load the base model from "
                + TrainerConfig.MODEL_DIR_CONFIG
                + "="
                + config.modelDir()
                + ": "
                + e.getMessage(),
            e);
      }
    }

    @Override
    public Learner create(String modelId) {
      Recipe recipe = config.recipe();
      LoraAdapter adapter = LoraAdapter.init(model, recipe.lora(), recipe.seed());
      return new DpoLearner(model, encoder, adapter, recipe.train(), model.name());
    }

    @Override
    public String baseModelName() {
      return model.name();
    }

    @Override
    public String baseModelSha256() {
      return model.sha256();
    }

    @Override
    public void close() {
      model.close();
    }
  }
}
