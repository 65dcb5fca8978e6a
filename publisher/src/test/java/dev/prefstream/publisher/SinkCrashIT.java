package dev.prefstream.publisher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sink process killed with SIGKILL at random moments while versions whose chunks span many
 * records are published, and restarted each time, ends with every version on disk and verified.
 */
class SinkCrashIT {
  private static final int VERSIONS = 16;
  private static final int MIN_KILLS = 6;
  private static final List<String> MODELS = List.of("alpha", "beta");

  @TempDir Path dataDir;

  @Test
  void everyVersionSurvivesRepeatedKills() throws Exception {
    long seed = Long.getLong("prefstream.test.seed", System.nanoTime());
    System.out.println(
        "SinkCrashIT seed " + seed + " (rerun with -Dprefstream.test.seed=" + seed + ")");
    Random random = new Random(seed);
    try (EmbeddedStack stack = EmbeddedStack.start(dataDir.resolve("kafka"))) {
      Map<String, Object> client =
          Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      Topics topics = Topics.withDefaultPrefix();
      try (Admin admin = Admin.create(client)) {
        TopicAdmin.ensure(admin, topics.all(2), (short) -1);
      }
      RestSchemaRegistry registry = new RestSchemaRegistry(stack.registryUrl());
      SigningKeys.write(SigningKeys.generate(), dataDir.resolve("keys"));
      ManifestSigner signer = ManifestSigner.fromFile(dataDir.resolve("keys/signing.key"));
      Path sinkDir = dataDir.resolve("sink");
      Path props = dataDir.resolve("sink.properties");
      Properties p = new Properties();
      p.setProperty(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      p.setProperty(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
      p.setProperty(SinkConfig.DIR_CONFIG, sinkDir.toString());
      p.setProperty(SinkConfig.TRUSTED_KEYS_CONFIG, dataDir.resolve("keys/signing.pub").toString());
      p.setProperty(SinkConfig.GROUP_ID_CONFIG, "crash-sink");
      p.setProperty("group.instance.id", "crash-sink-1"); // a restart replaces the killed member
      p.setProperty("session.timeout.ms", "10000");
      try (OutputStream out = Files.newOutputStream(props)) {
        p.store(out, null);
      }

      // versions of ~40 chunks each (20 KB of weights in 1 KiB chunks), two models interleaved
      List<AdapterManifest> published = new CopyOnWriteArrayList<>();
      AtomicReference<Throwable> publishFailure = new AtomicReference<>();
      Thread publisher =
          new Thread(
              () -> {
                try (AdapterPublisher a =
                        new AdapterPublisher(client, "crash-alpha", topics, registry, 1024);
                    AdapterPublisher b =
                        new AdapterPublisher(client, "crash-beta", topics, registry, 1024)) {
                  for (long v = 1; v <= VERSIONS; v++) {
                    for (AdapterPublisher pub : List.of(a, b)) {
                      String model = pub == a ? "alpha" : "beta";
                      published.add(
                          pub.publish(
                                  TestManifests.builder(model, v),
                                  TestManifests.files(20_000, v * 31 + model.length()),
                                  AdapterPublisher.Alongside.NOTHING,
                                  signer)
                              .manifest());
                    }
                  }
                } catch (Throwable t) {
                  publishFailure.set(t);
                }
              },
              "publisher");
      publisher.start();

      int kills = 0;
      int materializedSeen = 0;
      while (publisher.isAlive() || kills < MIN_KILLS) {
        Process sink = startSink(props);
        BlockingQueue<String> lines = lines(sink);
        // kill after a random number of materialized versions (1-3) plus a random delay, so the
        // kill lands anywhere: mid-version, mid-write, between records
        int waitFor = 1 + random.nextInt(3);
        // once everything is published a restarted sink may have nothing left to materialize:
        // the remaining kills then only need it started, not a version (no 2-minute waits)
        long patience = publisher.isAlive() ? 120 : 5;
        for (int i = 0; i < waitFor; i++) {
          String line = lines.poll(patience, TimeUnit.SECONDS);
          if (line == null) {
            break;
          }
          materializedSeen++;
        }
        Thread.sleep(random.nextInt(400)); // the kill moment is random on purpose
        sink.destroyForcibly(); // SIGKILL
        assertThat(sink.waitFor(30, TimeUnit.SECONDS)).isTrue();
        kills++;
      }
      publisher.join();
      assertThat(publishFailure.get()).isNull();
      assertThat(published).hasSize(VERSIONS * MODELS.size());

      Process last = startSink(props);
      try {
        VersionStore store = new VersionStore(sinkDir);
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        List<AdapterManifest> missing = new ArrayList<>(published);
        while (!missing.isEmpty() && System.nanoTime() < deadline) {
          missing.removeIf(
              m -> {
                try {
                  return store.holds(m);
                } catch (IOException e) {
                  return false;
                }
              });
          if (!missing.isEmpty()) {
            Thread.sleep(200);
          }
        }
        assertThat(missing)
            .as("versions not on disk and verified after %d kills (seed %d)", kills, seed)
            .extracting(m -> m.getModelId() + " v" + m.getVersion())
            .isEmpty();
        for (String model : MODELS) {
          assertThat(store.latest(model)).hasValue(VERSIONS);
        }
        try (Stream<Path> all = Files.walk(sinkDir)) {
          assertThat(all.map(x -> x.getFileName().toString()))
              .as("no temporary directory left once the sink has started again")
              .noneMatch(n -> n.startsWith(".tmp-") || n.startsWith(".stale-"));
        }
        System.out.println(
            "SinkCrashIT: "
                + kills
                + " kills, "
                + materializedSeen
                + " versions seen before kills");
      } finally {
        last.destroyForcibly();
        last.waitFor(30, TimeUnit.SECONDS);
      }
    }
  }

  private Process startSink(Path props) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return new ProcessBuilder(
            java,
            "-Xmx256m",
            "-cp",
            System.getProperty("java.class.path"),
            SinkProcessMain.class.getName(),
            props.toString())
        .redirectErrorStream(true)
        .start();
  }

  /** The child's MATERIALIZED lines; everything it prints is echoed here. */
  private static BlockingQueue<String> lines(Process process) {
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread reader =
        new Thread(
            () -> {
              try (BufferedReader in =
                  new BufferedReader(
                      new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                  System.out.println("[sink " + process.pid() + "] " + line);
                  if (line.startsWith("MATERIALIZED ")) {
                    lines.add(line);
                  }
                }
              } catch (IOException e) {
                // the process was killed
              }
            });
    reader.setDaemon(true);
    reader.start();
    return lines;
  }
}
