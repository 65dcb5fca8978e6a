package dev.prefstream.trainer.recipe;

import static dev.prefstream.trainer.recipe.Validators.interval;

import ai.djl.Device;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.trainer.TrainConfig;
import dev.prefstream.trainer.lora.LoraConfig;
import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.loss.LossType;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.model.Projection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef.ValidString;
import org.apache.kafka.common.config.ConfigException;

/**
 * A training recipe: every setting of the loss, the optimizer, the LoRA adapter and the data that
 * shapes the numbers, declared once here (name, type, default, validator, doc) and read by {@code
 * prefstream train}, {@code eval}, {@code trainer} and {@code demo} alike, so one recipe file works
 * for all of them. A value that could fail later fails here, naming the key and the value;
 * cross-field rules name both values. The math's value classes ({@link LossConfig}, {@link
 * LoraConfig}, {@link TrainConfig}) are made only from a validated recipe.
 */
public final class Recipe extends AbstractConfig {

  // ---- data and run
  public static final String BATCH_SIZE_CONFIG = "trainer.batch.size";
  private static final String BATCH_SIZE_DOC = "Pairs per optimizer step.";

  public static final String MAX_LENGTH_CONFIG = "trainer.max.length";
  private static final String MAX_LENGTH_DOC = "Longest prompt+response sequence in tokens.";

  public static final String SEED_CONFIG = "trainer.seed";
  private static final String SEED_DOC =
      "Seeds the LoRA initialisation, epoch shuffles (train) and per-step randomness (dropout).";

  public static final String DEVICE_CONFIG = "trainer.device";
  private static final String DEVICE_DOC =
      "auto (a GPU when DJL sees one, else CPU), cpu, gpu or gpu:N.";

  public static final String STEPS_CONFIG = "train.steps";
  private static final String STEPS_DOC =
      "Optimizer steps of an offline run (prefstream train); 0 is one epoch of the file.";

  public static final String EVAL_BATCH_SIZE_CONFIG = "train.eval.batch.size";
  private static final String EVAL_BATCH_SIZE_DOC =
      "Pairs per forward pass when scoring without training (eval, the trainer's gate).";

  // ---- loss
  public static final String LOSS_CONFIG = "train.loss";
  private static final String LOSS_DOC =
      "Preference loss, TRL names. Pairs: sigmoid, robust, hinge, ipo, simpo, orpo, bco_pair,"
          + " apo_zero, apo_down. Unpaired feedback: kto, apo_zero_unpaired.";

  public static final String BETA_CONFIG = "train.beta";
  private static final String BETA_DOC = "The loss's beta (DPO temperature).";

  public static final String LABEL_SMOOTHING_CONFIG = "train.label.smoothing";
  private static final String LABEL_SMOOTHING_DOC =
      "Label smoothing: the assumed chance that a preference label is flipped (cDPO with sigmoid,"
          + " robust DPO with robust, also simpo). Robust needs it below 0.5.";

  public static final String SIMPO_GAMMA_CONFIG = "train.simpo.gamma";
  private static final String SIMPO_GAMMA_DOC = "SimPO's target reward margin gamma.";

  public static final String LD_ALPHA_CONFIG = "train.ld.alpha";
  private static final String LD_ALPHA_DOC =
      "LD-DPO: weight of the response tokens beyond the shorter response's length; unset turns"
          + " length desensitization off. Pair losses only.";

  public static final String PREF_FTX_CONFIG = "train.pref.ftx";
  private static final String PREF_FTX_DOC =
      "Weight of an SFT term (the chosen response's mean NLL) added to the preference loss.";

  public static final String DESIRABLE_WEIGHT_CONFIG = "train.desirable.weight";
  private static final String DESIRABLE_WEIGHT_DOC = "KTO: weight of desirable examples.";

  public static final String UNDESIRABLE_WEIGHT_CONFIG = "train.undesirable.weight";
  private static final String UNDESIRABLE_WEIGHT_DOC = "KTO: weight of undesirable examples.";

  // ---- optimizer
  public static final String LR_CONFIG = "train.lr";
  private static final String LR_DOC = "AdamW learning rate.";

  public static final String ADAM_BETA1_CONFIG = "train.adam.beta1";
  private static final String ADAM_BETA1_DOC = "AdamW's first-moment decay.";

  public static final String ADAM_BETA2_CONFIG = "train.adam.beta2";
  private static final String ADAM_BETA2_DOC = "AdamW's second-moment decay.";

  public static final String ADAM_EPS_CONFIG = "train.adam.eps";
  private static final String ADAM_EPS_DOC = "AdamW's epsilon.";

  public static final String WEIGHT_DECAY_CONFIG = "train.weight.decay";
  private static final String WEIGHT_DECAY_DOC = "AdamW decoupled weight decay.";

  public static final String MAX_GRAD_NORM_CONFIG = "train.max.grad.norm";
  private static final String MAX_GRAD_NORM_DOC =
      "Global gradient-norm clipping threshold; 0 disables clipping.";

  // ---- LoRA
  public static final String LORA_R_CONFIG = "lora.r";
  private static final String LORA_R_DOC = "LoRA rank.";

  public static final String LORA_ALPHA_CONFIG = "lora.alpha";
  private static final String LORA_ALPHA_DOC =
      "LoRA alpha: the update is scaled by alpha / r (alpha / sqrt(r) with lora.use.rslora).";

  public static final String LORA_DROPOUT_CONFIG = "lora.dropout";
  private static final String LORA_DROPOUT_DOC = "Dropout on the LoRA input while training.";

  public static final String LORA_USE_RSLORA_CONFIG = "lora.use.rslora";
  private static final String LORA_USE_RSLORA_DOC =
      "rsLoRA (Kalajdzievski 2023): scale by alpha / sqrt(r) instead of alpha / r.";

  public static final String LORA_TARGET_MODULES_CONFIG = "lora.target.modules";
  private static final String LORA_TARGET_MODULES_DOC = "Projections that get adapters.";

  // ---- data: chat prompts
  public static final String CHAT_TEMPLATE_KWARGS_CONFIG = "trainer.chat.template.kwargs";
  private static final String CHAT_TEMPLATE_KWARGS_DOC =
      "Extra variables for the model's chat template, as name=value pairs (transformers'"
          + " chat_template_kwargs), e.g. enable_thinking=false for Qwen3. true, false, none and"
          + " numbers are typed as in Python, anything else is a string (no commas).";

  /** The keys the loss reads (what {@code eval} needs besides the data keys). */
  public static final List<String> LOSS_KEYS =
      List.of(
          LOSS_CONFIG,
          BETA_CONFIG,
          LABEL_SMOOTHING_CONFIG,
          SIMPO_GAMMA_CONFIG,
          LD_ALPHA_CONFIG,
          PREF_FTX_CONFIG,
          DESIRABLE_WEIGHT_CONFIG,
          UNDESIRABLE_WEIGHT_CONFIG);

  /** Keys that do not change a training run's numbers. */
  private static final List<String> NOT_HASHED =
      List.of(DEVICE_CONFIG, STEPS_CONFIG, EVAL_BATCH_SIZE_CONFIG);

  /** Adds every recipe key to {@code def}. */
  public static ConfigDef define(ConfigDef def) {
    return def.define(
            BATCH_SIZE_CONFIG, Type.INT, 8, Range.between(1, 4096), Importance.HIGH, BATCH_SIZE_DOC)
        .define(
            MAX_LENGTH_CONFIG,
            Type.INT,
            512,
            Range.between(8, 1 << 20),
            Importance.MEDIUM,
            MAX_LENGTH_DOC)
        .define(SEED_CONFIG, Type.LONG, 42L, Importance.MEDIUM, SEED_DOC)
        .define(
            DEVICE_CONFIG,
            Type.STRING,
            "auto",
            new Validators.Device(),
            Importance.MEDIUM,
            DEVICE_DOC)
        .define(STEPS_CONFIG, Type.INT, 0, Range.atLeast(0), Importance.MEDIUM, STEPS_DOC)
        .define(
            EVAL_BATCH_SIZE_CONFIG,
            Type.INT,
            8,
            Range.between(1, 4096),
            Importance.LOW,
            EVAL_BATCH_SIZE_DOC)
        .define(
            LOSS_CONFIG,
            Type.STRING,
            "sigmoid",
            ValidString.in(LossType.names().toArray(new String[0])),
            Importance.HIGH,
            LOSS_DOC)
        .define(
            BETA_CONFIG, Type.DOUBLE, 0.1, interval("(0, inf)", false), Importance.HIGH, BETA_DOC)
        .define(
            LABEL_SMOOTHING_CONFIG,
            Type.DOUBLE,
            0.0,
            interval("[0, 1]", false),
            Importance.LOW,
            LABEL_SMOOTHING_DOC)
        .define(
            SIMPO_GAMMA_CONFIG,
            Type.DOUBLE,
            0.5,
            interval("(-inf, inf)", false),
            Importance.LOW,
            SIMPO_GAMMA_DOC)
        .define(
            LD_ALPHA_CONFIG,
            Type.DOUBLE,
            null,
            interval("[0, 1]", true),
            Importance.LOW,
            LD_ALPHA_DOC)
        .define(
            PREF_FTX_CONFIG,
            Type.DOUBLE,
            0.0,
            interval("[0, inf)", false),
            Importance.LOW,
            PREF_FTX_DOC)
        .define(
            DESIRABLE_WEIGHT_CONFIG,
            Type.DOUBLE,
            1.0,
            interval("(0, inf)", false),
            Importance.LOW,
            DESIRABLE_WEIGHT_DOC)
        .define(
            UNDESIRABLE_WEIGHT_CONFIG,
            Type.DOUBLE,
            1.0,
            interval("(0, inf)", false),
            Importance.LOW,
            UNDESIRABLE_WEIGHT_DOC)
        .define(LR_CONFIG, Type.DOUBLE, 5e-4, interval("[0, inf)", false), Importance.HIGH, LR_DOC)
        .define(
            ADAM_BETA1_CONFIG,
            Type.DOUBLE,
            0.9,
            interval("[0, 1)", false),
            Importance.LOW,
            ADAM_BETA1_DOC)
        .define(
            ADAM_BETA2_CONFIG,
            Type.DOUBLE,
            0.999,
            interval("[0, 1)", false),
            Importance.LOW,
            ADAM_BETA2_DOC)
        .define(
            ADAM_EPS_CONFIG,
            Type.DOUBLE,
            1e-8,
            interval("(0, inf)", false),
            Importance.LOW,
            ADAM_EPS_DOC)
        .define(
            WEIGHT_DECAY_CONFIG,
            Type.DOUBLE,
            0.0,
            interval("[0, inf)", false),
            Importance.LOW,
            WEIGHT_DECAY_DOC)
        .define(
            MAX_GRAD_NORM_CONFIG,
            Type.DOUBLE,
            1.0,
            interval("[0, inf]", false),
            Importance.MEDIUM,
            MAX_GRAD_NORM_DOC)
        .define(LORA_R_CONFIG, Type.INT, 8, Range.between(1, 4096), Importance.HIGH, LORA_R_DOC)
        .define(
            LORA_ALPHA_CONFIG,
            Type.DOUBLE,
            16.0,
            interval("(0, inf)", false),
            Importance.HIGH,
            LORA_ALPHA_DOC)
        .define(
            LORA_DROPOUT_CONFIG,
            Type.DOUBLE,
            0.0,
            interval("[0, 1)", false),
            Importance.LOW,
            LORA_DROPOUT_DOC)
        .define(LORA_USE_RSLORA_CONFIG, Type.BOOLEAN, false, Importance.LOW, LORA_USE_RSLORA_DOC)
        .define(
            LORA_TARGET_MODULES_CONFIG,
            Type.LIST,
            "q_proj,k_proj,v_proj,o_proj",
            new Validators.OneOrMoreOf(Projection.moduleNames()),
            Importance.MEDIUM,
            LORA_TARGET_MODULES_DOC)
        .define(
            CHAT_TEMPLATE_KWARGS_CONFIG,
            Type.LIST,
            "",
            new Validators.TemplateKwargs(),
            Importance.MEDIUM,
            CHAT_TEMPLATE_KWARGS_DOC);
  }

  /** The recipe keys alone. */
  public static final ConfigDef CONFIG = define(new ConfigDef());

  private final LossConfig loss;
  private final LoraConfig lora;
  private final TrainConfig train;

  /**
   * Validates {@code originals}' recipe keys (other keys are ignored).
   *
   * @throws ConfigException naming the key and the value of the first invalid setting
   */
  public Recipe(Map<?, ?> originals) {
    super(CONFIG, originals, false);
    LossType type = LossType.parse(getString(LOSS_CONFIG));
    double labelSmoothing = getDouble(LABEL_SMOOTHING_CONFIG);
    if (type == LossType.ROBUST && !(labelSmoothing < 0.5)) {
      throw new ConfigException(
          LABEL_SMOOTHING_CONFIG,
          labelSmoothing,
          "with " + LOSS_CONFIG + "=robust it must be below 0.5 (robust DPO divides by 1 - 2 ls)");
    }
    Double ldAlpha = getDouble(LD_ALPHA_CONFIG);
    if (ldAlpha != null && type.unpaired()) {
      throw new ConfigException(
          LD_ALPHA_CONFIG,
          ldAlpha,
          "LD-DPO needs a pair loss, and " + LOSS_CONFIG + " is " + type.trlName());
    }
    this.loss =
        new LossConfig(
            type,
            getDouble(BETA_CONFIG),
            labelSmoothing,
            getDouble(SIMPO_GAMMA_CONFIG),
            ldAlpha,
            getDouble(PREF_FTX_CONFIG),
            getDouble(DESIRABLE_WEIGHT_CONFIG),
            getDouble(UNDESIRABLE_WEIGHT_CONFIG));
    this.lora =
        new LoraConfig(
            getInt(LORA_R_CONFIG),
            getDouble(LORA_ALPHA_CONFIG),
            getDouble(LORA_DROPOUT_CONFIG),
            getBoolean(LORA_USE_RSLORA_CONFIG),
            getList(LORA_TARGET_MODULES_CONFIG));
    this.train =
        new TrainConfig(
            loss,
            getDouble(LR_CONFIG),
            getDouble(ADAM_BETA1_CONFIG),
            getDouble(ADAM_BETA2_CONFIG),
            getDouble(ADAM_EPS_CONFIG),
            getDouble(WEIGHT_DECAY_CONFIG),
            getDouble(MAX_GRAD_NORM_CONFIG),
            getLong(SEED_CONFIG),
            getInt(EVAL_BATCH_SIZE_CONFIG));
  }

  /** Every key at its default. */
  public static Recipe defaults() {
    return new Recipe(Map.of());
  }

  /** The defaults with {@code key, value} pairs on top (values as a properties file has them). */
  public static Recipe of(Object... keyValues) {
    if (keyValues.length % 2 != 0) {
      throw new IllegalArgumentException("key, value pairs expected");
    }
    Map<String, Object> settings = new HashMap<>();
    for (int i = 0; i < keyValues.length; i += 2) {
      settings.put((String) keyValues[i], keyValues[i + 1]);
    }
    return new Recipe(settings);
  }

  public LossConfig loss() {
    return loss;
  }

  public LoraConfig lora() {
    return lora;
  }

  public TrainConfig train() {
    return train;
  }

  public int batchSize() {
    return getInt(BATCH_SIZE_CONFIG);
  }

  public int maxLength() {
    return getInt(MAX_LENGTH_CONFIG);
  }

  public long seed() {
    return getLong(SEED_CONFIG);
  }

  /** {@value #CHAT_TEMPLATE_KWARGS_CONFIG} as template variables, in order. */
  public Map<String, Object> chatTemplateKwargs() {
    return Validators.TemplateKwargs.parse(getList(CHAT_TEMPLATE_KWARGS_CONFIG));
  }

  public int steps() {
    return getInt(STEPS_CONFIG);
  }

  /** The DJL device {@value #DEVICE_CONFIG} names ({@code auto}: a GPU when DJL sees one). */
  public Device device() {
    String device = getString(DEVICE_CONFIG);
    return switch (device) {
      case "auto" -> CausalLm.defaultDevice();
      case "cpu" -> Device.cpu();
      case "gpu" -> Device.gpu();
      default -> Device.gpu(Integer.parseInt(device.substring("gpu:".length())));
    };
  }

  /** The settings that shape the numbers, in canonical form (sorted, stringified). */
  public SortedMap<String, String> canonical() {
    SortedMap<String, String> canonical = new TreeMap<>();
    for (String key : CONFIG.names()) {
      boolean unsetKwargs =
          key.equals(CHAT_TEMPLATE_KWARGS_CONFIG)
              && getList(CHAT_TEMPLATE_KWARGS_CONFIG).isEmpty(); // hashes from before the key
      if (!NOT_HASHED.contains(key) && !unsetKwargs) {
        canonical.put(key, String.valueOf(get(key)));
      }
    }
    return canonical;
  }

  /** Hex sha-256 of {@link #canonical()}. */
  public String configHash() {
    return Sha256.hex(canonical().toString());
  }
}
