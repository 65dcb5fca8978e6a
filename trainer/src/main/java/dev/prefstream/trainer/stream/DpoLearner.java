package dev.prefstream.trainer.stream;

import ai.djl.Device;
import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.trainer.DpoTrainer;
import dev.prefstream.trainer.StepResult;
import dev.prefstream.trainer.TrainConfig;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.lora.LoraConfig;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.tokenize.ChatTurn;
import dev.prefstream.trainer.tokenize.EncodedPair;
import dev.prefstream.trainer.tokenize.PairEncoder;
import dev.prefstream.trainer.tokenize.Prompt;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A {@link Learner} on the DJL trainer core: DPO-family steps on one model id's LoRA adapter. */
public final class DpoLearner implements Learner {
  static final String OPTIMIZER_FILE = "optimizer.safetensors";

  private final PairEncoder encoder;
  private final LoraAdapter adapter;
  private final DpoTrainer trainer;
  private final String baseModelName;

  private DpoLearner(
      PairEncoder encoder, LoraAdapter adapter, DpoTrainer trainer, String baseModelName) {
    this.encoder = encoder;
    this.adapter = adapter;
    this.trainer = trainer;
    this.baseModelName = baseModelName;
  }

  @Override
  public StepReport step(List<PreferencePair> batch) {
    List<EncodedPair> encoded = new ArrayList<>(batch.size());
    for (PreferencePair pair : batch) {
      encoded.add(encoder.encode(prompt(pair.getPrompt()), pair.getChosen(), pair.getRejected()));
    }
    StepResult result = trainer.step(encoded);
    return new StepReport(result.applied(), result.metrics());
  }

  @Override
  public AdapterFiles adapter() {
    return AdapterFiles.peft(adapter.adapterConfigJson(baseModelName), adapter.safetensors());
  }

  @Override
  public Map<String, byte[]> stateFiles() {
    Map<String, byte[]> files = new LinkedHashMap<>();
    files.put(AdapterFiles.WEIGHTS, adapter.safetensors());
    files.put(OPTIMIZER_FILE, trainer.optimizerState());
    return files;
  }

  @Override
  public void restore(Map<String, byte[]> stateFiles) {
    byte[] weights = stateFiles.get(AdapterFiles.WEIGHTS);
    byte[] optimizer = stateFiles.get(OPTIMIZER_FILE);
    if (weights == null || optimizer == null) {
      throw new IllegalStateException(
          "trainer state needs "
              + AdapterFiles.WEIGHTS
              + " and "
              + OPTIMIZER_FILE
              + ", got "
              + stateFiles.keySet());
    }
    try {
      adapter.loadSafetensors(weights);
      trainer.restoreOptimizerState(optimizer);
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
        this.model = CausalLm.load(config.modelDir(), device(config));
        this.encoder =
            PairEncoder.load(config.modelDir(), config.getInt(TrainerConfig.MAX_LENGTH_CONFIG));
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
      LoraConfig lora =
          LoraConfig.builder()
              .optR(config.getInt(TrainerConfig.LORA_R_CONFIG))
              .optAlpha(config.getDouble(TrainerConfig.LORA_ALPHA_CONFIG))
              .optDropout(config.getDouble(TrainerConfig.LORA_DROPOUT_CONFIG))
              .optTargetModules(config.getList(TrainerConfig.LORA_TARGET_MODULES_CONFIG))
              .build();
      long seed = config.getLong(TrainerConfig.SEED_CONFIG);
      TrainConfig train =
          TrainConfig.builder()
              .optLoss(
                  LossConfig.builder()
                      .optType(config.getString(TrainerConfig.LOSS_CONFIG))
                      .optBeta(config.getDouble(TrainerConfig.BETA_CONFIG))
                      .build())
              .optLearningRate(config.getDouble(TrainerConfig.LR_CONFIG))
              .optWeightDecay(config.getDouble(TrainerConfig.WEIGHT_DECAY_CONFIG))
              .optMaxGradNorm(config.getDouble(TrainerConfig.MAX_GRAD_NORM_CONFIG))
              .optSeed(seed)
              .build();
      LoraAdapter adapter = LoraAdapter.init(model, lora, seed);
      return new DpoLearner(encoder, adapter, new DpoTrainer(model, adapter, train), model.name());
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

    private static Device device(TrainerConfig config) {
      String device = config.getString(TrainerConfig.DEVICE_CONFIG);
      return device.equals("auto") ? CausalLm.defaultDevice() : Device.fromName(device);
    }
  }
}
