package dev.prefstream.embedded;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Kafka broker in this JVM: KRaft combined mode (broker and controller in one
 * node), bound to 127.0.0.1, with its log in a directory that survives restarts.
 *
 * <p>It is what {@code kafka-storage format} followed by {@code kafka-server-start} does, minus the
 * scripts: the storage is formatted once with a fixed cluster id (reformatting with a new id would
 * fail with "Invalid cluster.id"), and internal topics get replication factor 1.
 */
public final class EmbeddedKafka implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedKafka.class);

  /** Fixed so that a data directory formatted once can be started again (22 base64 chars). */
  static final String CLUSTER_ID = "cHJlZnN0cmVhbS1rcmFmdA";

  private static final int NODE_ID = 1;

  private final KafkaRaftServer server;
  private final String bootstrapServers;
  private final Path logDir;

  private EmbeddedKafka(KafkaRaftServer server, String bootstrapServers, Path logDir) {
    this.server = server;
    this.bootstrapServers = bootstrapServers;
    this.logDir = logDir;
  }

  /**
   * Formats {@code dataDir} if it is new and starts the broker on the given ports.
   *
   * @param dataDir where the log segments and metadata log live; created if missing
   * @param brokerPort the client port (0 is not allowed: clients must know it before start-up)
   * @param controllerPort the KRaft controller port
   * @param overrides broker properties that replace the defaults (e.g. message size limits)
   */
  public static EmbeddedKafka start(
      Path dataDir, int brokerPort, int controllerPort, Map<String, String> overrides) {
    return start(dataDir, brokerPort, controllerPort, overrides, List.of());
  }

  /**
   * As {@link #start(Path, int, int, Map)}, and formats the storage with SCRAM credentials, what
   * {@code kafka-storage format --add-scram} does: a broker whose listeners all want SASL/SCRAM
   * needs its first (super) user before any client can connect to create more.
   *
   * @param scramArguments e.g. {@code SCRAM-SHA-256=[name=admin,password=admin-secret]}
   */
  public static EmbeddedKafka start(
      Path dataDir,
      int brokerPort,
      int controllerPort,
      Map<String, String> overrides,
      List<String> scramArguments) {
    if (brokerPort <= 0 || controllerPort <= 0 || brokerPort == controllerPort) {
      throw new IllegalArgumentException(
          "broker and controller need two distinct fixed ports, got broker="
              + brokerPort
              + " controller="
              + controllerPort);
    }
    Path logDir = dataDir.toAbsolutePath().resolve("kafka-logs");
    try {
      Files.createDirectories(logDir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create Kafka log directory " + logDir, e);
    }
    Properties props = brokerProperties(logDir, brokerPort, controllerPort);
    overrides.forEach(props::setProperty);
    KafkaConfig config = KafkaConfig.fromProps(props, false);
    format(logDir, scramArguments);
    KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
    long t0 = System.nanoTime();
    server.startup();
    String bootstrap = "127.0.0.1:" + brokerPort; // the first listener, whatever its protocol
    log.info(
        "Kafka broker up at {} (log dir {}) in {} ms",
        bootstrap,
        logDir,
        (System.nanoTime() - t0) / 1_000_000);
    return new EmbeddedKafka(server, bootstrap, logDir);
  }

  static Properties brokerProperties(Path logDir, int brokerPort, int controllerPort) {
    Properties p = new Properties();
    p.setProperty("process.roles", "broker,controller");
    p.setProperty("node.id", Integer.toString(NODE_ID));
    p.setProperty("controller.quorum.voters", NODE_ID + "@127.0.0.1:" + controllerPort);
    p.setProperty(
        "listeners",
        "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
    p.setProperty("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort);
    p.setProperty("controller.listener.names", "CONTROLLER");
    p.setProperty("inter.broker.listener.name", "PLAINTEXT");
    p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
    p.setProperty("log.dirs", logDir.toString());
    p.setProperty("num.partitions", "1");
    p.setProperty("default.replication.factor", "1");
    p.setProperty("offsets.topic.replication.factor", "1");
    p.setProperty("offsets.topic.num.partitions", "4");
    p.setProperty("transaction.state.log.replication.factor", "1");
    p.setProperty("transaction.state.log.min.isr", "1");
    p.setProperty("transaction.state.log.num.partitions", "4");
    p.setProperty("share.coordinator.state.topic.replication.factor", "1");
    p.setProperty("share.coordinator.state.topic.min.isr", "1");
    p.setProperty("group.initial.rebalance.delay.ms", "0");
    p.setProperty("auto.create.topics.enable", "false");
    // a laptop-sized broker: few threads, small segments, quick shutdown
    p.setProperty("num.network.threads", "2");
    p.setProperty("num.io.threads", "2");
    p.setProperty("num.recovery.threads.per.data.dir", "1");
    p.setProperty("log.segment.bytes", Integer.toString(64 * 1024 * 1024));
    p.setProperty("controlled.shutdown.enable", "true");
    return p;
  }

  private static void format(Path logDir, List<String> scramArguments) {
    try (PrintStream quiet = new PrintStream(PrintStream.nullOutputStream())) {
      new Formatter()
          .setPrintStream(quiet)
          .setClusterId(CLUSTER_ID)
          .setNodeId(NODE_ID)
          .setControllerListenerName("CONTROLLER")
          .setMetadataLogDirectory(logDir.toString())
          .setDirectories(List.of(logDir.toString()))
          .setReleaseVersion(MetadataVersion.latestProduction())
          .setIgnoreFormatted(true)
          .setScramArguments(scramArguments)
          .run();
    } catch (Exception e) {
      throw new IllegalStateException("cannot format the Kafka log directory " + logDir, e);
    }
  }

  /** {@code host:port} for {@code bootstrap.servers}. */
  public String bootstrapServers() {
    return bootstrapServers;
  }

  public Path logDir() {
    return logDir;
  }

  @Override
  public void close() {
    long t0 = System.nanoTime();
    server.shutdown();
    server.awaitShutdown();
    log.info("Kafka broker stopped in {} ms", (System.nanoTime() - t0) / 1_000_000);
  }
}
