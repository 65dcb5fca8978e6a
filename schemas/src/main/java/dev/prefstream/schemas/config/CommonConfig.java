package dev.prefstream.schemas.config;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.registry.SchemaRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;

/**
 * The settings every prefstream process shares (where Kafka and the registry are, how topics are
 * named), declared once in Kafka's {@link ConfigDef} style. Component configs extend it with their
 * own keys. Keys that no prefstream component declares (security.protocol, sasl.*, ssl.*, ...) are
 * passed through to every Kafka client unchanged.
 */
public class CommonConfig extends AbstractConfig {
  public static final String BOOTSTRAP_SERVERS_CONFIG = "bootstrap.servers";
  private static final String BOOTSTRAP_SERVERS_DOC =
      "Kafka brokers, host:port[,host:port]. Empty: commands that can (demo) start an embedded"
          + " broker and registry under data.dir.";

  public static final String SCHEMA_REGISTRY_URL_CONFIG = "schema.registry.url";
  private static final String SCHEMA_REGISTRY_URL_DOC =
      "Base URL of a registry speaking Confluent's REST API (Confluent Schema Registry, or Apicurio"
          + " at /apis/ccompat/v7).";

  public static final String SCHEMA_REGISTRY_RETRY_MS_CONFIG = "schema.registry.retry.ms";
  private static final String SCHEMA_REGISTRY_RETRY_MS_DOC =
      "How long an unreachable registry is retried (exponential backoff) before the call fails.";

  public static final String TOPIC_PREFIX_CONFIG = "topic.prefix";
  private static final String TOPIC_PREFIX_DOC =
      "Prefix of every topic name: <prefix>feedback, <prefix>pairs, <prefix>adapters, ...";

  public static final String TOPIC_PARTITIONS_CONFIG = "topic.partitions";
  private static final String TOPIC_PARTITIONS_DOC =
      "Partitions of topics that prefstream creates (existing topics are left alone).";

  public static final String TOPIC_REPLICATION_FACTOR_CONFIG = "topic.replication.factor";
  private static final String TOPIC_REPLICATION_FACTOR_DOC =
      "Replication factor of topics that prefstream creates; -1 uses the broker default.";

  public static final String TOPIC_AUDIT_RETENTION_MS_CONFIG = "topic.audit.retention.ms";
  private static final String TOPIC_AUDIT_RETENTION_MS_DOC =
      "retention.ms of the topics audits read (feedback, served, pairs, unpaired, dead-letters,"
          + " adapters, trainer-snapshots) when prefstream creates them; -1 keeps them forever."
          + " audit replay and trace work for what is still retained; a shorter retention is how"
          + " raw feedback of forgotten users eventually leaves the log.";

  public static final String DATA_DIR_CONFIG = "data.dir";
  private static final String DATA_DIR_DOC =
      "Local state: the embedded broker's log and registry database, Kafka Streams state stores.";

  public static final String METRICS_PORT_CONFIG = "metrics.port";
  private static final String METRICS_PORT_DOC =
      "Port of the HTTP server of a long-running command (ingest, trainer, sink, demo) serving"
          + " /metrics (Prometheus text format) and /health (200 when ready, else 503). 0: no"
          + " server, no meters.";

  public static final String METRICS_ADDRESS_CONFIG = "metrics.address";
  private static final String METRICS_ADDRESS_DOC =
      "Address the metrics server binds to; 0.0.0.0 for every interface (e.g. in a container).";

  /** The shared keys, for components to build on. */
  public static ConfigDef commonDef() {
    return RegistrySecurity.define(new ConfigDef())
        .define(BOOTSTRAP_SERVERS_CONFIG, Type.STRING, "", Importance.HIGH, BOOTSTRAP_SERVERS_DOC)
        .define(
            SCHEMA_REGISTRY_URL_CONFIG, Type.STRING, "", Importance.HIGH, SCHEMA_REGISTRY_URL_DOC)
        .define(
            SCHEMA_REGISTRY_RETRY_MS_CONFIG,
            Type.LONG,
            30_000L,
            ConfigDef.Range.atLeast(0),
            Importance.LOW,
            SCHEMA_REGISTRY_RETRY_MS_DOC)
        .define(
            TOPIC_PREFIX_CONFIG,
            Type.STRING,
            Topics.DEFAULT_PREFIX,
            new TopicPrefixValidator(),
            Importance.MEDIUM,
            TOPIC_PREFIX_DOC)
        .define(
            TOPIC_PARTITIONS_CONFIG,
            Type.INT,
            2,
            ConfigDef.Range.between(1, 10_000),
            Importance.MEDIUM,
            TOPIC_PARTITIONS_DOC)
        .define(
            TOPIC_REPLICATION_FACTOR_CONFIG,
            Type.SHORT,
            (short) -1,
            Importance.MEDIUM,
            TOPIC_REPLICATION_FACTOR_DOC)
        .define(
            TOPIC_AUDIT_RETENTION_MS_CONFIG,
            Type.LONG,
            -1L,
            ConfigDef.Range.atLeast(-1),
            Importance.MEDIUM,
            TOPIC_AUDIT_RETENTION_MS_DOC)
        .define(DATA_DIR_CONFIG, Type.STRING, ".prefstream", Importance.MEDIUM, DATA_DIR_DOC)
        .define(
            METRICS_PORT_CONFIG,
            Type.INT,
            0,
            ConfigDef.Range.between(0, 65_535),
            Importance.MEDIUM,
            METRICS_PORT_DOC)
        .define(
            METRICS_ADDRESS_CONFIG,
            Type.STRING,
            "127.0.0.1",
            new ConfigDef.NonEmptyString(),
            Importance.LOW,
            METRICS_ADDRESS_DOC);
  }

  /** Registry client settings that no Kafka client should see, declared or not. */
  private static final String REGISTRY_CLIENT_PREFIX = "schema.registry.";

  private final ConfigDef definition;

  /** The shared keys alone, for commands that need nothing else. */
  public CommonConfig(Map<?, ?> originals) {
    this(commonDef(), originals);
  }

  protected CommonConfig(ConfigDef definition, Map<?, ?> originals) {
    super(definition, originals, false);
    this.definition = definition;
  }

  public Topics topics() {
    return new Topics(getString(TOPIC_PREFIX_CONFIG), getLong(TOPIC_AUDIT_RETENTION_MS_CONFIG));
  }

  public String bootstrapServers() {
    return getString(BOOTSTRAP_SERVERS_CONFIG);
  }

  /**
   * A registry client, authenticated and with TLS material as {@link RegistrySecurity}'s keys say;
   * fails naming the key when none is configured.
   */
  public SchemaRegistry schemaRegistry() {
    String url = getString(SCHEMA_REGISTRY_URL_CONFIG);
    if (url.isBlank()) {
      throw new ConfigException(
          SCHEMA_REGISTRY_URL_CONFIG, url, "a schema registry URL is required");
    }
    RegistrySecurity.Settings settings = RegistrySecurity.resolve(this, url);
    return new RestSchemaRegistry(
        settings.url(),
        Duration.ofMillis(getLong(SCHEMA_REGISTRY_RETRY_MS_CONFIG)),
        settings.authorization(),
        settings.ssl());
  }

  /**
   * What every Kafka client gets: {@code bootstrap.servers} plus every key that no prefstream
   * component declares (security and tuning settings pass through unchanged). The registry client's
   * own settings ({@code schema.registry.*}, basic/bearer auth) stay out of Kafka's.
   */
  public Map<String, Object> kafkaClientProperties() {
    if (bootstrapServers().isBlank()) {
      throw new ConfigException(
          BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(), "Kafka brokers are required (host:port)");
    }
    Set<String> ours = definition.names();
    Map<String, Object> props = new HashMap<>();
    originals()
        .forEach(
            (k, v) -> {
              if (!ours.contains(k)
                  && !k.startsWith("prefstream.")
                  && !k.startsWith(REGISTRY_CLIENT_PREFIX)) {
                props.put(k, v);
              }
            });
    props.put(BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    return props;
  }

  /** Topic prefixes become part of names: keep them to Kafka's legal characters. */
  static final class TopicPrefixValidator implements ConfigDef.Validator {
    @Override
    public void ensureValid(String name, Object value) {
      String prefix = (String) value;
      if (prefix == null || !prefix.matches("[A-Za-z0-9._-]{0,200}")) {
        throw new ConfigException(name, value, "use only letters, digits, '.', '_' and '-'");
      }
    }

    @Override
    public String toString() {
      return "[A-Za-z0-9._-]*";
    }
  }
}
