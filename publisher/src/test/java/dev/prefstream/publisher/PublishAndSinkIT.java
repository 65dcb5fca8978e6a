package dev.prefstream.publisher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PublishAndSinkIT {
  @TempDir Path dataDir;
  @TempDir Path sinkDir;

  @Test
  void versionsArriveWholeVerifiedAndAtomicallyAndAZombieIsFenced() throws Exception {
    try (EmbeddedStack stack = EmbeddedStack.start(dataDir)) {
      Map<String, Object> client =
          Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      Topics topics = Topics.withDefaultPrefix();
      try (Admin admin = Admin.create(client)) {
        TopicAdmin.ensure(admin, topics.all(1), (short) -1);
      }
      RestSchemaRegistry registry = new RestSchemaRegistry(stack.registryUrl());
      SigningKeys.write(SigningKeys.generate(), dataDir.resolve("keys"));
      ManifestSigner signer = ManifestSigner.fromFile(dataDir.resolve("keys/signing.key"));
      SinkConfig sinkConfig =
          new SinkConfig(
              Map.of(
                  CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers(),
                  SinkConfig.DIR_CONFIG, sinkDir.toString(),
                  SinkConfig.KEEP_VERSIONS_CONFIG, 1,
                  SinkConfig.PRUNE_GRACE_MS_CONFIG, 0,
                  SinkConfig.TRUSTED_KEYS_CONFIG, dataDir.resolve("keys/signing.pub").toString()));
      BlockingQueue<AdapterSink.Materialized> seen = new LinkedBlockingQueue<>();
      AdapterSink sink = new AdapterSink(sinkConfig, registry, seen::add);
      Thread sinkThread = new Thread(sink, "sink");
      sinkThread.start();

      byte[] weights1 = randomBytes(5_000, 1);
      byte[] weights2 = randomBytes(5_000, 2);
      AdapterPublisher first = new AdapterPublisher(client, "trainer-m", topics, registry, 1024);
      first.publish(
          manifest(1, null), AdapterFiles.peft("{\"r\": 4}", weights1), nothing(), signer);

      AdapterSink.Materialized v1 = seen.poll(60, TimeUnit.SECONDS);
      assertThat(v1).isNotNull();
      assertThat(v1.dir()).isEqualTo(sinkDir.resolve("m").resolve("v1"));
      assertThat(Files.readAllBytes(v1.dir().resolve(AdapterFiles.WEIGHTS))).isEqualTo(weights1);
      assertThat(Files.readString(v1.dir().resolve(AdapterFiles.CONFIG))).isEqualTo("{\"r\": 4}");
      assertThat(v1.manifest().getFiles()).extracting(f -> f.getChunks()).containsExactly(1, 5);

      try (AdapterPublisher second =
          new AdapterPublisher(client, "trainer-m", topics, registry, 1024)) {
        assertThatThrownBy(
                () ->
                    first.publish(
                        manifest(2, 1L),
                        AdapterFiles.peft("{}", randomBytes(10, 3)),
                        nothing(),
                        signer))
            .isInstanceOf(FencedException.class)
            .hasMessageContaining("trainer-m");
        first.close();
        second.publish(
            manifest(2, 1L), AdapterFiles.peft("{\"r\": 4}", weights2), nothing(), signer);
      }
      AdapterSink.Materialized v2 = seen.poll(60, TimeUnit.SECONDS);
      assertThat(v2.version()).isEqualTo(2);
      assertThat(Files.readAllBytes(sinkDir.resolve("m/latest").resolve(AdapterFiles.WEIGHTS)))
          .isEqualTo(weights2);
      assertThat(sinkDir.resolve("m/v1"))
          .as("keep 1 never prunes the version before latest")
          .exists();
      assertThat(seen.poll(2, TimeUnit.SECONDS))
          .as("the fenced publish must never be visible")
          .isNull();
      try (var names = Files.list(sinkDir.resolve("m"))) {
        assertThat(names.map(p -> p.getFileName().toString()))
            .containsExactlyInAnyOrder("v1", "v2", "latest");
      }
      sink.close();
      sinkThread.join(Duration.ofSeconds(10).toMillis());
    }
  }

  private static AdapterPublisher.Alongside nothing() {
    return AdapterPublisher.Alongside.NOTHING;
  }

  private static AdapterManifest.Builder manifest(long version, Long parent) {
    return AdapterManifest.newBuilder()
        .setModelId("m")
        .setVersion(version)
        .setParentVersion(parent)
        .setBaseModel(new BaseModel("tiny", "00"))
        .setLineage(List.of())
        .setPairs(0)
        .setSeed(1)
        .setConfigHash("00")
        .setTrainerId("test");
  }

  private static byte[] randomBytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }
}
