package dev.prefstream.publisher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A full disk leaves the version to be retried, with offsets held before it; once space frees it
 * arrives. The small file system is a tmpfs mounted with size= (root only: skipped otherwise).
 */
class SinkDiskFullIT {
  @TempDir Path dataDir;
  private Path mount;

  private static int run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
  }

  @AfterEach
  void unmount() throws Exception {
    if (mount != null) {
      run("umount", mount.toString());
    }
  }

  @Test
  void aVersionThatDoesNotFitArrivesOnceSpaceFrees() throws Exception {
    Path dir = dataDir.resolve("small");
    Files.createDirectories(dir);
    Assumptions.assumeTrue(
        run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir.toString()) == 0,
        "cannot mount a small tmpfs here (needs root)");
    mount = dir;
    Path sinkDir = dir.resolve("sink");
    Files.createDirectories(sinkDir);
    Path ballast = dir.resolve("ballast");
    Files.write(ballast, new byte[200 * 1024]);

    try (EmbeddedStack stack = EmbeddedStack.start(dataDir.resolve("kafka"))) {
      Map<String, Object> client =
          Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      Topics topics = Topics.withDefaultPrefix();
      try (Admin admin = Admin.create(client)) {
        TopicAdmin.ensure(admin, topics.all(1), (short) -1);
      }
      RestSchemaRegistry registry = new RestSchemaRegistry(stack.registryUrl());
      SigningKeys.write(SigningKeys.generate(), dataDir.resolve("keys"));
      ManifestSigner signer = ManifestSigner.fromFile(dataDir.resolve("keys/signing.key"));
      Map<String, Object> props = new HashMap<>(client);
      props.put(SinkConfig.DIR_CONFIG, sinkDir.toString());
      props.put(SinkConfig.TRUSTED_KEYS_CONFIG, dataDir.resolve("keys/signing.pub").toString());
      props.put(SinkConfig.GROUP_ID_CONFIG, "disk-full");
      props.put(SinkConfig.RETRY_BACKOFF_MS_CONFIG, 50);
      BlockingQueue<AdapterSink.Materialized> seen = new LinkedBlockingQueue<>();
      Counters counters = new Counters();
      AdapterSink sink =
          new AdapterSink(
              new SinkConfig(props), registry, seen::add, counters, (e, m, v, n, ok) -> {});
      Thread thread = new Thread(sink, "sink");
      thread.start();
      try (AdapterPublisher publisher =
              new AdapterPublisher(client, "disk-m", topics, registry, 8192);
          Admin admin = Admin.create(client)) {
        AdapterFiles files = TestManifests.files(100_000, 5);
        publisher.publish(
            TestManifests.builder("m", 1), files, AdapterPublisher.Alongside.NOTHING, signer);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (counters.get(AdapterSink.WRITE_FAILED) < 2 && System.nanoTime() < deadline) {
          Thread.sleep(50);
        }
        assertThat(counters.get(AdapterSink.WRITE_FAILED))
            .as("the write failed (disk full) and was retried")
            .isGreaterThanOrEqualTo(2);
        assertThat(seen).isEmpty();
        assertThat(sinkDir.resolve("m/v1")).doesNotExist();
        OffsetAndMetadata committed =
            admin
                .listConsumerGroupOffsets("disk-full")
                .partitionsToOffsetAndMetadata()
                .get()
                .get(new TopicPartition(topics.adapters(), 0));
        assertThat(committed == null ? 0 : committed.offset())
            .as("no offset committed past the version that could not be written")
            .isZero();

        Files.delete(ballast);
        AdapterSink.Materialized v1 = seen.poll(60, TimeUnit.SECONDS);
        assertThat(v1).as("the version arrives once space frees").isNotNull();
        assertThat(Files.readAllBytes(v1.dir().resolve(AdapterFiles.WEIGHTS)))
            .isEqualTo(files.weights());
        assertThat(new VersionStore(sinkDir).holds(v1.manifest())).isTrue();
        try (var entries = Files.list(sinkDir.resolve("m"))) {
          assertThat(entries.map(x -> x.getFileName().toString()))
              .containsExactlyInAnyOrder("v1", "latest");
        }
      } finally {
        sink.close();
        thread.join(30_000);
      }
    }
  }
}
