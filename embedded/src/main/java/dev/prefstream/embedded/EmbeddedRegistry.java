package dev.prefstream.embedded;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real schema registry (Apicurio Registry 2.6, which speaks Confluent's REST API under {@code
 * /apis/ccompat/v7}) run as a child process of this JVM, bound to 127.0.0.1, storing its schemas in
 * an H2 file under the data directory so they survive restarts.
 *
 * <p>The child never outlives this process: it runs under {@link ParentWatchdog}, which exits when
 * the pipe to its stdin closes, and a stale child recorded in the pid file is killed on start.
 */
public final class EmbeddedRegistry implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EmbeddedRegistry.class);

  /** System property naming the unpacked Apicurio distribution (the folder with the runner jar). */
  public static final String HOME_PROPERTY = "prefstream.registry.home";

  /** Environment variable with the same meaning, used when the property is not set. */
  public static final String HOME_ENV = "PREFSTREAM_REGISTRY_HOME";

  private static final String QUARKUS_MAIN = "io.quarkus.runner.GeneratedMain";
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(90);
  private static final String CCOMPAT_PATH = "/apis/ccompat/v7";

  private final Process process;
  private final String url;
  private final Path pidFile;

  private EmbeddedRegistry(Process process, String url, Path pidFile) {
    this.process = process;
    this.url = url;
    this.pidFile = pidFile;
  }

  /** Starts the registry and returns once it answers; its state lives in {@code dataDir}. */
  public static EmbeddedRegistry start(Path dataDir, int port) {
    Launch launch = launch(dataDir, port);
    launch.awaitReady();
    return launch.registry;
  }

  /**
   * Starts the registry process without waiting for it, so that the caller can do other work (start
   * a broker) while it boots. Call {@link Launch#awaitReady()} before using it.
   */
  public static Launch launch(Path dataDir, int port) {
    Path runnerJar = locateRunnerJar();
    Path stateDir = dataDir.toAbsolutePath().resolve("registry");
    Path logFile = stateDir.resolve("registry.log");
    Path pidFile = stateDir.resolve("registry.pid");
    try {
      Files.createDirectories(stateDir);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create registry directory " + stateDir, e);
    }
    killStaleChild(pidFile);

    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx384m");
    command.add("-XX:+UseSerialGC");
    command.add("-XX:TieredStopAtLevel=1");
    command.add("-Dquarkus.http.host=127.0.0.1");
    command.add("-Dquarkus.http.port=" + port);
    command.add("-Dregistry.rules.global.compatibility=BACKWARD");
    command.add("-Dquarkus.log.level=WARN");
    command.add("-Dquarkus.log.category.\"io.quarkus\".level=INFO");
    command.add("-cp");
    command.add(ownCodeSource() + java.io.File.pathSeparator + runnerJar);
    command.add(ParentWatchdog.class.getName());
    command.add(QUARKUS_MAIN);

    ProcessBuilder builder = new ProcessBuilder(command);
    builder.environment().put("REGISTRY_DATASOURCE_URL", "jdbc:h2:file:" + stateDir.resolve("db"));
    builder.environment().put("REGISTRY_DATASOURCE_USERNAME", "sa");
    builder.environment().put("REGISTRY_DATASOURCE_PASSWORD", "sa");
    builder.redirectErrorStream(true);
    builder.redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
    // stdin stays a pipe held by this JVM: its closing is the child's signal to exit
    builder.redirectInput(ProcessBuilder.Redirect.PIPE);
    Process process;
    try {
      process = builder.start();
      Files.writeString(pidFile, Long.toString(process.pid()));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the schema registry: " + command, e);
    }
    String url = "http://127.0.0.1:" + port + CCOMPAT_PATH;
    return new Launch(new EmbeddedRegistry(process, url, pidFile), logFile);
  }

  /** A registry process that has been started and may not be ready yet. */
  public static final class Launch {
    private final EmbeddedRegistry registry;
    private final Path logFile;

    private Launch(EmbeddedRegistry registry, Path logFile) {
      this.registry = registry;
      this.logFile = logFile;
    }

    /** Waits until the registry answers its REST API; kills it and throws if it never does. */
    public EmbeddedRegistry awaitReady() {
      long t0 = System.nanoTime();
      long deadline = t0 + READY_TIMEOUT.toNanos();
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
      HttpRequest probe =
          HttpRequest.newBuilder(URI.create(registry.url + "/subjects"))
              .timeout(Duration.ofSeconds(5))
              .GET()
              .build();
      while (System.nanoTime() < deadline) {
        if (!registry.process.isAlive()) {
          throw new IllegalStateException(
              "the schema registry exited with code "
                  + registry.process.exitValue()
                  + " during start-up; its log ends with:\n"
                  + tail(logFile));
        }
        try {
          if (http.send(probe, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
            log.info(
                "schema registry up at {} in {} ms",
                registry.url,
                (System.nanoTime() - t0) / 1_000_000);
            return registry;
          }
        } catch (IOException e) {
          // not listening yet
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          registry.close();
          throw new IllegalStateException("interrupted while waiting for the schema registry", e);
        }
        sleep(200);
      }
      registry.close();
      throw new IllegalStateException(
          "the schema registry did not answer at "
              + registry.url
              + " within "
              + READY_TIMEOUT.toSeconds()
              + " s; its log ends with:\n"
              + tail(logFile));
    }
  }

  /** The Confluent-compatible base URL, for {@code schema.registry.url}. */
  public String url() {
    return url;
  }

  public long pid() {
    return process.pid();
  }

  @Override
  public void close() {
    if (!process.isAlive()) {
      return;
    }
    try {
      process.getOutputStream().close(); // EOF on the child's stdin: ParentWatchdog exits
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (IOException e) {
      process.destroyForcibly();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    }
    try {
      Files.deleteIfExists(pidFile);
    } catch (IOException e) {
      log.warn("cannot delete {}: {}", pidFile, e.toString());
    }
    log.info("schema registry stopped");
  }

  /** The unpacked Apicurio runner jar, from the system property or the environment. */
  static Path locateRunnerJar() {
    String home =
        Optional.ofNullable(System.getProperty(HOME_PROPERTY)).orElse(System.getenv(HOME_ENV));
    if (home == null || home.isBlank()) {
      throw new IllegalStateException(
          "no schema registry distribution configured: set -D"
              + HOME_PROPERTY
              + " or "
              + HOME_ENV
              + " to the folder with apicurio-registry-app-*-runner.jar (the build unpacks it to"
              + " embedded/target/apicurio), or pass --registry-url to use a running registry");
    }
    Path dir = Path.of(home);
    try (Stream<Path> files = Files.list(dir)) {
      return files
          .filter(f -> f.getFileName().toString().endsWith("-runner.jar"))
          .findFirst()
          .orElseThrow(
              () ->
                  new IllegalStateException(
                      "no *-runner.jar in " + HOME_PROPERTY + "=" + dir + ": run the build first"));
    } catch (IOException e) {
      throw new IllegalStateException(
          "cannot read " + HOME_PROPERTY + "=" + dir + ": " + e.getMessage(), e);
    }
  }

  private static String ownCodeSource() {
    try {
      return Path.of(
              ParentWatchdog.class.getProtectionDomain().getCodeSource().getLocation().toURI())
          .toString();
    } catch (URISyntaxException e) {
      throw new IllegalStateException("cannot locate prefstream-embedded on the class path", e);
    }
  }

  /** A registry left by a previous run that died too fast for its watchdog: stop it. */
  private static void killStaleChild(Path pidFile) {
    if (!Files.exists(pidFile)) {
      return;
    }
    try {
      long pid = Long.parseLong(Files.readString(pidFile).trim());
      ProcessHandle.of(pid)
          .filter(p -> p.info().commandLine().orElse("").contains(ParentWatchdog.class.getName()))
          .ifPresent(
              stale -> {
                log.warn("stopping a schema registry left running by an earlier run (pid {})", pid);
                stale.destroyForcibly();
                stale.onExit().orTimeout(10, TimeUnit.SECONDS).join();
              });
      Files.delete(pidFile);
    } catch (IOException | NumberFormatException e) {
      log.warn("ignoring unreadable pid file {}: {}", pidFile, e.toString());
    }
  }

  private static String tail(Path logFile) {
    try {
      List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 30), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
