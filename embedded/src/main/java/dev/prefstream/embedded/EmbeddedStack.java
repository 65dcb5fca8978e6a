package dev.prefstream.embedded;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded default: a KRaft broker in this JVM plus a schema registry child process, with all
 * state under one data directory. Ports are remembered in {@code stack.properties} and reused when
 * still free, so a restarted stack usually keeps its addresses.
 */
public final class EmbeddedStack implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedStack.class);
  private static final String PORTS_FILE = "stack.properties";

  private final EmbeddedKafka kafka;
  private final EmbeddedRegistry registry;
  private final Path dataDir;

  private EmbeddedStack(EmbeddedKafka kafka, EmbeddedRegistry registry, Path dataDir) {
    this.kafka = kafka;
    this.registry = registry;
    this.dataDir = dataDir;
  }

  /** Starts the registry and the broker (in parallel) with state under {@code dataDir}. */
  public static EmbeddedStack start(Path dataDir) {
    return start(dataDir, Map.of());
  }

  /** As {@link #start(Path)}, with broker property overrides. */
  public static EmbeddedStack start(Path dataDir, Map<String, String> brokerOverrides) {
    Path dir = dataDir.toAbsolutePath();
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create data directory " + dir, e);
    }
    Properties remembered = load(dir.resolve(PORTS_FILE));
    int registryPort = Ports.freePort(intOf(remembered, "registry.port"));
    int brokerPort = Ports.freePort(intOf(remembered, "broker.port"));
    int controllerPort = Ports.freePort(intOf(remembered, "controller.port"));
    if (controllerPort == brokerPort || registryPort == brokerPort) {
      brokerPort = Ports.freePort(0);
    }
    EmbeddedRegistry.Launch launch = EmbeddedRegistry.launch(dir, registryPort);
    EmbeddedKafka kafka;
    try {
      kafka = EmbeddedKafka.start(dir, brokerPort, controllerPort, brokerOverrides);
    } catch (RuntimeException e) {
      try {
        launch.awaitReady().close();
      } catch (RuntimeException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
    EmbeddedRegistry registry;
    try {
      registry = launch.awaitReady();
    } catch (RuntimeException e) {
      kafka.close();
      throw e;
    }
    EmbeddedStack stack = new EmbeddedStack(kafka, registry, dir);
    Properties now = new Properties();
    now.setProperty("broker.port", Integer.toString(brokerPort));
    now.setProperty("controller.port", Integer.toString(controllerPort));
    now.setProperty("registry.port", Integer.toString(registryPort));
    now.setProperty("bootstrap.servers", stack.bootstrapServers());
    now.setProperty("schema.registry.url", stack.registryUrl());
    store(dir.resolve(PORTS_FILE), now);
    return stack;
  }

  public String bootstrapServers() {
    return kafka.bootstrapServers();
  }

  public String registryUrl() {
    return registry.url();
  }

  public Path dataDir() {
    return dataDir;
  }

  /** Stops the registry and the broker; safe to call twice. */
  @Override
  public synchronized void close() {
    RuntimeException failure = null;
    try {
      registry.close();
    } catch (RuntimeException e) {
      failure = e;
    }
    try {
      kafka.close();
    } catch (RuntimeException e) {
      if (failure == null) {
        failure = e;
      } else {
        failure.addSuppressed(e);
      }
    }
    if (failure != null) {
      throw failure;
    }
    log.info("embedded stack in {} stopped", dataDir);
  }

  private static int intOf(Properties props, String key) {
    try {
      return Integer.parseInt(props.getProperty(key, "0"));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  private static Properties load(Path file) {
    Properties props = new Properties();
    if (Files.exists(file)) {
      try (InputStream in = Files.newInputStream(file)) {
        props.load(in);
      } catch (IOException e) {
        log.warn("ignoring unreadable {}: {}", file, e.toString());
      }
    }
    return props;
  }

  private static void store(Path file, Properties props) {
    try (OutputStream out = Files.newOutputStream(file)) {
      props.store(out, "written by prefstream at start-up; ports are reused when free");
    } catch (IOException e) {
      log.warn("cannot write {}: {}", file, e.toString());
    }
  }
}
