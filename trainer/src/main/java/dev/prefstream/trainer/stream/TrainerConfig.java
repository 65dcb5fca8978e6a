package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.config.CommonConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef.ValidString;
import org.apache.kafka.common.config.ConfigException;

/** Settings of the streaming trainer: what to train, how, and when to publish. */
public final class TrainerConfig extends CommonConfig {
  public static final String ID_CONFIG = "trainer.id";
  private static final String ID_DOC =
      "Names this trainer application: its consumer group, and the prefix of the per-model"
          + " transactional.id <trainer.id>-<model> that fences a zombie after a restart.";

  public static final String INSTANCE_ID_CONFIG = "trainer.instance.id";
  private static final String INSTANCE_ID_DOC =
      "This instance's static group membership (group.instance.id): a restarted instance takes"
          + " its partitions back at once instead of waiting out the dead one's session. Empty:"
          + " <trainer.id>.<host name>; give each instance on one host its own.";

  public static final String MODEL_DIR_CONFIG = "trainer.model.dir";
  private static final String MODEL_DIR_DOC =
      "Hugging Face model directory of the base model (config.json, *.safetensors,"
          + " tokenizer.json).";

  public static final String MODEL_IDS_CONFIG = "trainer.model.ids";
  private static final String MODEL_IDS_DOC =
      "Model ids (adapters) to train; empty trains every model id found on the assigned"
          + " partitions.";

  public static final String BATCH_SIZE_CONFIG = "trainer.batch.size";
  private static final String BATCH_SIZE_DOC = "Pairs per optimizer step.";

  public static final String BATCH_MAX_WAIT_MS_CONFIG = "trainer.batch.max.wait.ms";
  private static final String BATCH_MAX_WAIT_MS_DOC =
      "A partial batch is trained once its oldest pair waited this long (its boundaries are"
          + " recorded in the manifest). 0: only full batches, fully deterministic by offsets.";

  public static final String PUBLISH_EVERY_STEPS_CONFIG = "trainer.publish.every.steps";
  private static final String PUBLISH_EVERY_STEPS_DOC =
      "Publish a new adapter version after this many batches.";

  public static final String PUBLISH_EVERY_MS_CONFIG = "trainer.publish.every.ms";
  private static final String PUBLISH_EVERY_MS_DOC =
      "Also publish when this long has passed since the last version and at least one batch was"
          + " trained. 0 disables.";

  public static final String DEVICE_CONFIG = "trainer.device";
  private static final String DEVICE_DOC =
      "auto (a GPU when DJL sees one, else CPU), cpu, gpu or gpu:N.";

  public static final String MAX_LENGTH_CONFIG = "trainer.max.length";
  private static final String MAX_LENGTH_DOC = "Longest prompt+response sequence in tokens.";

  public static final String SEED_CONFIG = "trainer.seed";
  private static final String SEED_DOC =
      "Seeds the LoRA initialisation and any per-step randomness.";

  public static final String LOSS_CONFIG = "train.loss";
  private static final String LOSS_DOC =
      "Preference loss, TRL names: sigmoid, robust, hinge, ipo, simpo, orpo, bco_pair, apo_zero,"
          + " apo_down.";

  public static final String BETA_CONFIG = "train.beta";
  private static final String BETA_DOC = "The loss's beta (DPO temperature).";

  public static final String LR_CONFIG = "train.lr";
  private static final String LR_DOC = "AdamW learning rate.";

  public static final String WEIGHT_DECAY_CONFIG = "train.weight.decay";
  private static final String WEIGHT_DECAY_DOC = "AdamW decoupled weight decay.";

  public static final String MAX_GRAD_NORM_CONFIG = "train.max.grad.norm";
  private static final String MAX_GRAD_NORM_DOC =
      "Global gradient-norm clipping threshold; 0 disables clipping.";

  public static final String LORA_R_CONFIG = "lora.r";
  private static final String LORA_R_DOC = "LoRA rank.";

  public static final String LORA_ALPHA_CONFIG = "lora.alpha";
  private static final String LORA_ALPHA_DOC = "LoRA alpha (scale = alpha / r).";

  public static final String LORA_DROPOUT_CONFIG = "lora.dropout";
  private static final String LORA_DROPOUT_DOC = "Dropout on the LoRA input.";

  public static final String LORA_TARGET_MODULES_CONFIG = "lora.target.modules";
  private static final String LORA_TARGET_MODULES_DOC =
      "Projections that get adapters: any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,"
          + " down_proj.";

  public static final String HOLDOUT_PERCENT_CONFIG = "trainer.holdout.percent";
  private static final String HOLDOUT_PERCENT_DOC =
      "Share of pairs (by a hash of pair_id, so the split is deterministic) held out from training"
          + " and used by the evaluation gate.";

  public static final String HOLDOUT_MAX_PAIRS_CONFIG = "trainer.holdout.max.pairs";
  private static final String HOLDOUT_MAX_PAIRS_DOC =
      "Most recent held-out pairs per model that the gate evaluates a candidate on.";

  public static final String GATE_MIN_ACCURACY_CONFIG = "gate.min.reward.accuracy";
  private static final String GATE_MIN_ACCURACY_DOC =
      "Refuse to publish a candidate whose held-out reward accuracy is below this. 0 disables.";

  public static final String GATE_MAX_KL_CONFIG = "gate.max.kl";
  private static final String GATE_MAX_KL_DOC =
      "Refuse to publish a candidate whose mean per-token KL from the reference on held-out"
          + " responses (nats) exceeds this. 0 disables.";

  public static final String CHUNK_BYTES_CONFIG = "publish.chunk.bytes";
  private static final String CHUNK_BYTES_DOC = "Data bytes per AdapterChunk record.";

  /** Keys whose values shape the numbers; their canonical form is hashed into the manifest. */
  private static final List<String> TRAINING_KEYS =
      List.of(
          BATCH_SIZE_CONFIG,
          BATCH_MAX_WAIT_MS_CONFIG,
          MAX_LENGTH_CONFIG,
          SEED_CONFIG,
          LOSS_CONFIG,
          BETA_CONFIG,
          LR_CONFIG,
          WEIGHT_DECAY_CONFIG,
          MAX_GRAD_NORM_CONFIG,
          LORA_R_CONFIG,
          LORA_ALPHA_CONFIG,
          LORA_DROPOUT_CONFIG,
          LORA_TARGET_MODULES_CONFIG,
          HOLDOUT_PERCENT_CONFIG);

  public static final ConfigDef CONFIG =
      commonDef()
          .define(
              ID_CONFIG,
              Type.STRING,
              "prefstream-trainer",
              new ConfigDef.NonEmptyString(),
              Importance.HIGH,
              ID_DOC)
          .define(INSTANCE_ID_CONFIG, Type.STRING, "", Importance.MEDIUM, INSTANCE_ID_DOC)
          .define(MODEL_DIR_CONFIG, Type.STRING, "", Importance.HIGH, MODEL_DIR_DOC)
          .define(MODEL_IDS_CONFIG, Type.LIST, "", Importance.HIGH, MODEL_IDS_DOC)
          .define(
              BATCH_SIZE_CONFIG,
              Type.INT,
              8,
              Range.between(1, 4096),
              Importance.HIGH,
              BATCH_SIZE_DOC)
          .define(
              BATCH_MAX_WAIT_MS_CONFIG,
              Type.LONG,
              5_000L,
              Range.atLeast(0),
              Importance.MEDIUM,
              BATCH_MAX_WAIT_MS_DOC)
          .define(
              PUBLISH_EVERY_STEPS_CONFIG,
              Type.INT,
              10,
              Range.atLeast(1),
              Importance.HIGH,
              PUBLISH_EVERY_STEPS_DOC)
          .define(
              PUBLISH_EVERY_MS_CONFIG,
              Type.LONG,
              10_000L,
              Range.atLeast(0),
              Importance.MEDIUM,
              PUBLISH_EVERY_MS_DOC)
          .define(
              DEVICE_CONFIG,
              Type.STRING,
              "auto",
              new DeviceValidator(),
              Importance.MEDIUM,
              DEVICE_DOC)
          .define(
              MAX_LENGTH_CONFIG,
              Type.INT,
              512,
              Range.between(8, 1 << 20),
              Importance.MEDIUM,
              MAX_LENGTH_DOC)
          .define(SEED_CONFIG, Type.LONG, 42L, Importance.MEDIUM, SEED_DOC)
          .define(
              LOSS_CONFIG,
              Type.STRING,
              "sigmoid",
              ValidString.in(
                  "sigmoid",
                  "robust",
                  "hinge",
                  "ipo",
                  "simpo",
                  "orpo",
                  "bco_pair",
                  "apo_zero",
                  "apo_down"),
              Importance.HIGH,
              LOSS_DOC)
          .define(BETA_CONFIG, Type.DOUBLE, 0.1, Range.atLeast(0.0), Importance.HIGH, BETA_DOC)
          .define(LR_CONFIG, Type.DOUBLE, 5e-4, Range.atLeast(0.0), Importance.HIGH, LR_DOC)
          .define(
              WEIGHT_DECAY_CONFIG,
              Type.DOUBLE,
              0.0,
              Range.atLeast(0.0),
              Importance.LOW,
              WEIGHT_DECAY_DOC)
          .define(
              MAX_GRAD_NORM_CONFIG,
              Type.DOUBLE,
              1.0,
              Range.atLeast(0.0),
              Importance.MEDIUM,
              MAX_GRAD_NORM_DOC)
          .define(LORA_R_CONFIG, Type.INT, 8, Range.between(1, 4096), Importance.HIGH, LORA_R_DOC)
          .define(
              LORA_ALPHA_CONFIG,
              Type.DOUBLE,
              16.0,
              Range.atLeast(0.0),
              Importance.HIGH,
              LORA_ALPHA_DOC)
          .define(
              LORA_DROPOUT_CONFIG,
              Type.DOUBLE,
              0.0,
              Range.between(0.0, 0.99),
              Importance.LOW,
              LORA_DROPOUT_DOC)
          .define(
              LORA_TARGET_MODULES_CONFIG,
              Type.LIST,
              "q_proj,k_proj,v_proj,o_proj",
              new TargetModulesValidator(),
              Importance.MEDIUM,
              LORA_TARGET_MODULES_DOC)
          .define(
              HOLDOUT_PERCENT_CONFIG,
              Type.DOUBLE,
              5.0,
              Range.between(0.0, 50.0),
              Importance.MEDIUM,
              HOLDOUT_PERCENT_DOC)
          .define(
              HOLDOUT_MAX_PAIRS_CONFIG,
              Type.INT,
              256,
              Range.between(1, 1 << 20),
              Importance.LOW,
              HOLDOUT_MAX_PAIRS_DOC)
          .define(
              GATE_MIN_ACCURACY_CONFIG,
              Type.DOUBLE,
              0.0,
              Range.between(0.0, 1.0),
              Importance.MEDIUM,
              GATE_MIN_ACCURACY_DOC)
          .define(
              GATE_MAX_KL_CONFIG,
              Type.DOUBLE,
              0.0,
              Range.atLeast(0.0),
              Importance.MEDIUM,
              GATE_MAX_KL_DOC)
          .define(
              CHUNK_BYTES_CONFIG,
              Type.INT,
              1 << 20,
              Range.between(1024, 1 << 20),
              Importance.LOW,
              CHUNK_BYTES_DOC);

  public TrainerConfig(Map<?, ?> originals) {
    super(CONFIG, originals);
    if (getString(MODEL_DIR_CONFIG).isBlank()) {
      throw new ConfigException(MODEL_DIR_CONFIG, "", "the base model directory is required");
    }
  }

  public String trainerId() {
    return getString(ID_CONFIG);
  }

  /** group.instance.id: configured, or {@code <trainer.id>.<host name>}. */
  public String instanceId() {
    String configured = getString(INSTANCE_ID_CONFIG);
    if (!configured.isBlank()) {
      return configured;
    }
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      host = "localhost";
    }
    return (trainerId() + "." + host).replaceAll("[^A-Za-z0-9._-]", "_");
  }

  public Path modelDir() {
    return Path.of(getString(MODEL_DIR_CONFIG));
  }

  public List<String> modelIds() {
    return getList(MODEL_IDS_CONFIG);
  }

  public int batchSize() {
    return getInt(BATCH_SIZE_CONFIG);
  }

  /** Hex sha-256 of the training-relevant settings in canonical form. */
  public String configHash() {
    TreeMap<String, String> canonical = new TreeMap<>();
    for (String key : TRAINING_KEYS) {
      canonical.put(key, String.valueOf(get(key)));
    }
    return Sha256.hex(canonical.toString());
  }

  static final class DeviceValidator implements ConfigDef.Validator {
    @Override
    public void ensureValid(String name, Object value) {
      if (!String.valueOf(value).matches("auto|cpu|gpu|gpu:\\d+")) {
        throw new ConfigException(name, value, "use auto, cpu, gpu or gpu:N");
      }
    }

    @Override
    public String toString() {
      return "auto, cpu, gpu, gpu:N";
    }
  }

  static final class TargetModulesValidator implements ConfigDef.Validator {
    static final List<String> KNOWN =
        List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    @Override
    public void ensureValid(String name, Object value) {
      @SuppressWarnings("unchecked")
      List<String> modules = (List<String>) value;
      if (modules.isEmpty()) {
        throw new ConfigException(name, value, "name at least one of " + KNOWN);
      }
      for (String m : modules) {
        if (!KNOWN.contains(m)) {
          throw new ConfigException(name, value, "unknown module '" + m + "', known: " + KNOWN);
        }
      }
    }

    @Override
    public String toString() {
      return String.join(", ", KNOWN);
    }
  }
}
