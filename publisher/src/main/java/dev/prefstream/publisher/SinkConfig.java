package dev.prefstream.publisher;

import dev.prefstream.schemas.config.CommonConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef.ValidString;
import org.apache.kafka.common.config.ConfigException;

/** Settings of the serving-side sink that materializes adapter versions as PEFT directories. */
public final class SinkConfig extends CommonConfig {
  public static final String DIR_CONFIG = "sink.dir";
  private static final String DIR_DOC =
      "Where versions are written, as <sink.dir>/<model>/v<version>/ (a PEFT adapter directory).";

  public static final String GROUP_ID_CONFIG = "sink.group.id";
  private static final String GROUP_ID_DOC =
      "Consumer group of this sink. Every serving host needs its own group to see every version;"
          + " empty derives one from sink.dir.";

  public static final String KEEP_VERSIONS_CONFIG = "sink.keep.versions";
  private static final String KEEP_VERSIONS_DOC =
      "How many newest versions per model stay on disk; older ones are deleted once"
          + " sink.prune.grace.ms has passed since they stopped being latest. latest and the"
          + " version before it are never deleted. 0 keeps all.";

  public static final String PRUNE_GRACE_MS_CONFIG = "sink.prune.grace.ms";
  private static final String PRUNE_GRACE_MS_DOC =
      "How long a version stays on disk (and loaded in serving engines) after it stopped being"
          + " latest, so a server still loading or serving it is not cut off.";

  public static final String MAX_ADAPTER_BYTES_CONFIG = "sink.max.adapter.bytes";
  private static final String MAX_ADAPTER_BYTES_DOC =
      "Largest adapter version (all files together) the sink accepts; larger manifests and chunks"
          + " are skipped as too_large. Also bounds what one version may hold in memory.";

  public static final String TRUSTED_KEYS_CONFIG = "sink.trusted.keys";
  private static final String TRUSTED_KEYS_DOC =
      "Ed25519 public key files (X.509 PEM, `prefstream keys generate` writes signing.pub):"
          + " only versions signed by one of them are materialized.";

  public static final String ALLOW_UNSIGNED_CONFIG = "sink.allow.unsigned";
  private static final String ALLOW_UNSIGNED_DOC =
      "Materialize unsigned versions (and those signed by unknown keys). Without it, a sink with"
          + " no trusted key refuses to start.";

  public static final String RETRY_BACKOFF_MS_CONFIG = "sink.retry.backoff.ms";
  private static final String RETRY_BACKOFF_MS_DOC =
      "First wait before a version that failed to be written (disk full, I/O error) is tried"
          + " again; doubles up to 30 s. Offsets are not committed past it meanwhile.";

  public static final String VLLM_URLS_CONFIG = "sink.vllm.urls";
  private static final String VLLM_URLS_DOC =
      "Base URLs of vLLM servers (e.g. http://127.0.0.1:8000) to load each new version into"
          + " (POST /v1/load_lora_adapter).";

  public static final String SGLANG_URLS_CONFIG = "sink.sglang.urls";
  private static final String SGLANG_URLS_DOC =
      "Base URLs of SGLang servers (e.g. http://127.0.0.1:30000) to load each new version into"
          + " (POST /load_lora_adapter).";

  public static final String ENGINE_RELOAD_CONFIG = "sink.engine.reload";
  public static final String RELOAD_NEW_NAME = "new-name";
  public static final String RELOAD_IN_PLACE = "in-place";
  private static final String ENGINE_RELOAD_DOC =
      "new-name: load each version as <model>@v<N> and unload the previous name after"
          + " sink.prune.grace.ms. in-place: reload under the name <model> (vLLM: load_inplace;"
          + " SGLang: unload, then load).";

  public static final String ENGINE_MAX_ATTEMPTS_CONFIG = "sink.engine.max.attempts";
  private static final String ENGINE_MAX_ATTEMPTS_DOC =
      "Attempts per load or unload call to a serving engine before it is reported failed.";

  public static final String ENGINE_BACKOFF_MS_CONFIG = "sink.engine.backoff.ms";
  private static final String ENGINE_BACKOFF_MS_DOC =
      "Wait before the second attempt of an engine call; doubles with each further attempt.";

  /** The default of {@value #MAX_ADAPTER_BYTES_CONFIG}, also what the adapter log readers use. */
  public static final long DEFAULT_MAX_ADAPTER_BYTES = 1L << 30;

  public static final ConfigDef CONFIG =
      commonDef()
          .define(DIR_CONFIG, Type.STRING, "adapters", Importance.HIGH, DIR_DOC)
          .define(GROUP_ID_CONFIG, Type.STRING, "", Importance.MEDIUM, GROUP_ID_DOC)
          .define(
              KEEP_VERSIONS_CONFIG,
              Type.INT,
              0,
              Range.atLeast(0),
              Importance.MEDIUM,
              KEEP_VERSIONS_DOC)
          .define(
              PRUNE_GRACE_MS_CONFIG,
              Type.LONG,
              60_000L,
              Range.atLeast(0),
              Importance.MEDIUM,
              PRUNE_GRACE_MS_DOC)
          .define(
              MAX_ADAPTER_BYTES_CONFIG,
              Type.LONG,
              DEFAULT_MAX_ADAPTER_BYTES,
              Range.between(1024L, (long) Integer.MAX_VALUE - 64),
              Importance.MEDIUM,
              MAX_ADAPTER_BYTES_DOC)
          .define(TRUSTED_KEYS_CONFIG, Type.LIST, "", Importance.HIGH, TRUSTED_KEYS_DOC)
          .define(ALLOW_UNSIGNED_CONFIG, Type.BOOLEAN, false, Importance.HIGH, ALLOW_UNSIGNED_DOC)
          .define(
              RETRY_BACKOFF_MS_CONFIG,
              Type.LONG,
              1_000L,
              Range.between(1L, 30_000L),
              Importance.LOW,
              RETRY_BACKOFF_MS_DOC)
          .define(VLLM_URLS_CONFIG, Type.LIST, "", Importance.MEDIUM, VLLM_URLS_DOC)
          .define(SGLANG_URLS_CONFIG, Type.LIST, "", Importance.MEDIUM, SGLANG_URLS_DOC)
          .define(
              ENGINE_RELOAD_CONFIG,
              Type.STRING,
              RELOAD_NEW_NAME,
              ValidString.in(RELOAD_NEW_NAME, RELOAD_IN_PLACE),
              Importance.LOW,
              ENGINE_RELOAD_DOC)
          .define(
              ENGINE_MAX_ATTEMPTS_CONFIG,
              Type.INT,
              5,
              Range.between(1, 100),
              Importance.LOW,
              ENGINE_MAX_ATTEMPTS_DOC)
          .define(
              ENGINE_BACKOFF_MS_CONFIG,
              Type.LONG,
              500L,
              Range.between(1L, 60_000L),
              Importance.LOW,
              ENGINE_BACKOFF_MS_DOC);

  private final ManifestVerifier verifier;

  /**
   * Validates every key and reads the trusted keys.
   *
   * @throws ConfigException naming the key and value: an unreadable key file, or no trusted key
   *     without sink.allow.unsigned
   */
  public SinkConfig(Map<?, ?> originals) {
    super(CONFIG, originals);
    List<String> keyFiles = getList(TRUSTED_KEYS_CONFIG);
    ManifestVerifier trusted;
    try {
      trusted = ManifestVerifier.fromFiles(keyFiles.stream().map(Path::of).toList());
    } catch (IllegalArgumentException e) {
      throw new ConfigException(TRUSTED_KEYS_CONFIG, keyFiles, e.getMessage());
    }
    if (keyFiles.isEmpty() && !getBoolean(ALLOW_UNSIGNED_CONFIG)) {
      throw new ConfigException(
          TRUSTED_KEYS_CONFIG,
          "",
          "the sink materializes only signed versions: give the trainer's public key"
              + " (--trusted-key FILE, see `prefstream keys generate`), or --allow-unsigned"
              + " (sink.allow.unsigned=true) to accept anything written to the topic");
    }
    for (String key : List.of(VLLM_URLS_CONFIG, SGLANG_URLS_CONFIG)) {
      for (String url : getList(key)) {
        String problem = EngineClient.urlProblem(url);
        if (problem != null) {
          throw new ConfigException(key, url, problem);
        }
      }
    }
    this.verifier =
        getBoolean(ALLOW_UNSIGNED_CONFIG)
            ? trusted.and(ManifestVerifier.acceptingUnsigned(List.of()))
            : trusted;
  }

  public Path dir() {
    return Path.of(getString(DIR_CONFIG)).toAbsolutePath().normalize();
  }

  public String groupId() {
    String configured = getString(GROUP_ID_CONFIG);
    return configured.isBlank()
        ? "prefstream-sink-" + Integer.toHexString(dir().toString().hashCode())
        : configured;
  }

  public int keepVersions() {
    return getInt(KEEP_VERSIONS_CONFIG);
  }

  public long pruneGraceMs() {
    return getLong(PRUNE_GRACE_MS_CONFIG);
  }

  public long maxAdapterBytes() {
    return getLong(MAX_ADAPTER_BYTES_CONFIG);
  }

  public ManifestVerifier verifier() {
    return verifier;
  }

  public long retryBackoffMs() {
    return getLong(RETRY_BACKOFF_MS_CONFIG);
  }

  public List<String> vllmUrls() {
    return getList(VLLM_URLS_CONFIG);
  }

  public List<String> sglangUrls() {
    return getList(SGLANG_URLS_CONFIG);
  }

  public boolean reloadInPlace() {
    return getString(ENGINE_RELOAD_CONFIG).equals(RELOAD_IN_PLACE);
  }

  public int engineMaxAttempts() {
    return getInt(ENGINE_MAX_ATTEMPTS_CONFIG);
  }

  public long engineBackoffMs() {
    return getLong(ENGINE_BACKOFF_MS_CONFIG);
  }
}
