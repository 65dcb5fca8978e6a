package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.ManifestSigner;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.recipe.Recipe;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;

/**
 * Settings of the streaming trainer: what to train and when to publish, plus the shared keys and
 * the training {@link Recipe} (declared there, once, for every command that trains).
 */
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

  public static final String MAX_MODELS_CONFIG = "trainer.max.models";
  private static final String MAX_MODELS_DOC =
      "Most model ids one trainer process trains at once (each holds an adapter, optimizer moments"
          + " and a producer). Pairs of further model ids on its partitions go to the dead letters"
          + " as model_not_trained.";

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

  public static final String SIGNING_KEY_CONFIG = "publish.signing.key";
  private static final String SIGNING_KEY_DOC =
      "Ed25519 private key file (PKCS#8 PEM, `prefstream keys generate` writes signing.key) that"
          + " signs every published manifest (trainer and adapters rollback). Empty publishes"
          + " unsigned versions, which sinks refuse unless run with --allow-unsigned.";

  public static final String SNAPSHOT_EVERY_VERSIONS_CONFIG = "trainer.snapshot.every.versions";
  private static final String SNAPSHOT_EVERY_VERSIONS_DOC =
      "Also keep the trainer state of every Nth published version (adapter weights, optimizer"
          + " moments, step, training settings) on the trainer-snapshots topic, where audit replay"
          + " starts: replaying a version costs the versions since the nearest snapshot before it."
          + " 1 keeps every version's; 0 keeps none (replay starts from the initial adapter).";

  public static final ConfigDef CONFIG =
      Recipe.define(commonDef())
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
              MAX_MODELS_CONFIG,
              Type.INT,
              64,
              Range.between(1, 100_000),
              Importance.MEDIUM,
              MAX_MODELS_DOC)
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
              CHUNK_BYTES_DOC)
          .define(SIGNING_KEY_CONFIG, Type.STRING, "", Importance.HIGH, SIGNING_KEY_DOC)
          .define(
              SNAPSHOT_EVERY_VERSIONS_CONFIG,
              Type.INT,
              1,
              Range.atLeast(0),
              Importance.MEDIUM,
              SNAPSHOT_EVERY_VERSIONS_DOC);

  private final Recipe recipe;
  private final ManifestSigner signer;

  /**
   * Validates every key, the recipe's included.
   *
   * @throws ConfigException naming the key and the value of the first invalid setting
   */
  public TrainerConfig(Map<?, ?> originals) {
    super(CONFIG, originals);
    if (getString(MODEL_DIR_CONFIG).isBlank()) {
      throw new ConfigException(MODEL_DIR_CONFIG, "", "the base model directory is required");
    }
    this.recipe = new Recipe(originals);
    this.signer = ManifestSigner.fromConfig(SIGNING_KEY_CONFIG, getString(SIGNING_KEY_CONFIG));
    if (unpairedInput()) {
      checkUnpaired(originals);
    }
  }

  /**
   * With an unpaired loss the trainer reads {@code pairs} and {@code unpaired} and trains a model's
   * records of both in one version sequence. The gate's judgments are defined on pairs (reward
   * accuracy, per-token KL), which a KTO-style evaluation does not give, and a model's two
   * partitions must go to the same member, which RangeAssignor ensures.
   */
  private void checkUnpaired(Map<?, ?> originals) {
    String loss = recipe.loss().type().trlName();
    for (String gateKey : List.of(GATE_MIN_ACCURACY_CONFIG, GATE_MAX_KL_CONFIG)) {
      double value = getDouble(gateKey);
      if (value > 0) {
        throw new ConfigException(
            gateKey,
            value,
            "the evaluation gate judges pairs (held-out reward accuracy and per-token KL); with "
                + Recipe.LOSS_CONFIG
                + "="
                + loss
                + " there is no such metric: set "
                + gateKey
                + "=0 or use a pair loss");
      }
    }
    Object strategy = originals.get(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG);
    if (strategy != null && !String.valueOf(strategy).equals(RangeAssignor.class.getName())) {
      throw new ConfigException(
          ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
          strategy,
          "with "
              + Recipe.LOSS_CONFIG
              + "="
              + loss
              + " the trainer reads pairs and unpaired, and partition i of both must go to the"
              + " same trainer (co-partitioned by model id): leave it unset or use "
              + RangeAssignor.class.getName());
    }
  }

  /**
   * True when the loss is unpaired (kto, apo_zero_unpaired): the trainer then consumes the {@code
   * unpaired} topic as well as {@code pairs}; with a pair loss it does not read {@code unpaired}.
   */
  public boolean unpairedInput() {
    return recipe.loss().type().unpaired();
  }

  /** Signs published manifests; null when {@value #SIGNING_KEY_CONFIG} is empty. */
  public ManifestSigner signer() {
    return signer;
  }

  /** The training recipe: loss, optimizer, LoRA and data settings. */
  public Recipe recipe() {
    return recipe;
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

  /**
   * The settings {@link #configHash()} covers, as strings their keys parse back from: recorded with
   * the trainer state so that audit replay can rebuild a version without this configuration.
   */
  public Map<String, String> trainingSettings() {
    Map<String, String> settings = new TreeMap<>();
    for (String key : recipe.canonical().keySet()) {
      Object value = get(key);
      if (value != null) { // an unset optional key reads back as its (null) default
        settings.put(key, ConfigDef.convertToString(value, CONFIG.configKeys().get(key).type));
      }
    }
    settings.put(HOLDOUT_PERCENT_CONFIG, String.valueOf(get(HOLDOUT_PERCENT_CONFIG)));
    return settings;
  }

  /** Hex sha-256 of the training-relevant settings in canonical form. */
  public String configHash() {
    TreeMap<String, String> canonical = new TreeMap<>(recipe.canonical());
    canonical.put(HOLDOUT_PERCENT_CONFIG, String.valueOf(get(HOLDOUT_PERCENT_CONFIG)));
    return Sha256.hex(canonical.toString());
  }
}
