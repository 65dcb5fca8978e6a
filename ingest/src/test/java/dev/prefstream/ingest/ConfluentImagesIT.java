package dev.prefstream.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.registry.SchemaRegistryException;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.Network;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.kafka.KafkaContainer;
import org.testcontainers.utility.DockerImageName;

/**
 * The same scenario as {@link IngestIT}, against Apache Kafka's and Confluent's own images: checks
 * our registry client and wire format against Confluent Schema Registry itself. It needs a Docker
 * engine and is skipped cleanly without one; nothing else depends on it.
 */
@Testcontainers(disabledWithoutDocker = true)
class ConfluentImagesIT {
  static final Duration TIMEOUT = Duration.ofSeconds(90);
  static final Network NETWORK = Network.newNetwork();

  @Container
  static final KafkaContainer KAFKA =
      new KafkaContainer(DockerImageName.parse("apache/kafka:4.0.0"))
          .withNetwork(NETWORK)
          .withListener("kafka:19092");

  @Container
  static final GenericContainer<?> REGISTRY =
      new GenericContainer<>(DockerImageName.parse("confluentinc/cp-schema-registry:7.9.0"))
          .withNetwork(NETWORK)
          .withExposedPorts(8081)
          .withEnv("SCHEMA_REGISTRY_HOST_NAME", "schema-registry")
          .withEnv("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:8081")
          .withEnv("SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS", "PLAINTEXT://kafka:19092")
          .dependsOn(KAFKA)
          .waitingFor(Wait.forHttp("/subjects").forStatusCode(200));

  @TempDir static Path dataDir;

  @Test
  void everyKindIsIngestedWithConfluentsRegistry() throws Exception {
    String registryUrl = "http://" + REGISTRY.getHost() + ":" + REGISTRY.getMappedPort(8081);
    String bootstrap = KAFKA.getBootstrapServers();
    RestSchemaRegistry registry = new RestSchemaRegistry(registryUrl);
    IngestConfig config =
        new IngestConfig(
            Map.of(
                CommonConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrap,
                CommonConfig.SCHEMA_REGISTRY_URL_CONFIG,
                registryUrl,
                CommonConfig.DATA_DIR_CONFIG,
                dataDir.toString(),
                IngestConfig.SERVED_WAIT_MS_CONFIG,
                2_000));
    Topics topics = config.topics();
    try (IngestService ingest = IngestService.start(config, registry)) {
      Scenario java = new Scenario("java");
      java.produceWithJava(bootstrap, registry, topics);
      java.verify(bootstrap, registry, topics, TIMEOUT);

      if (Scenario.pythonHasConfluentAvro()) {
        Scenario python = new Scenario("python");
        python.produceWithPython(
            bootstrap, registryUrl, topics, Files.createDirectories(dataDir.resolve("python")));
        python.verify(bootstrap, registry, topics, TIMEOUT);
      }
      assertThat(ingest.state()).isEqualTo(KafkaStreams.State.RUNNING);
    }

    // Confluent's registry defaults to BACKWARD: an added optional field passes, a required one not
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    Schema optional =
        IngestIT.withField(
            FeedbackEvent.getClassSchema(),
            "{\"name\":\"locale\",\"type\":[\"null\",\"string\"],\"default\":null}");
    assertThat(registry.testCompatibility(subject, optional).compatible()).isTrue();
    registry.register(subject, optional);
    Schema required = IngestIT.withField(optional, "{\"name\":\"tenant\",\"type\":\"string\"}");
    assertThatThrownBy(() -> registry.register(subject, required))
        .isInstanceOfSatisfying(
            SchemaRegistryException.class, e -> assertThat(e.httpStatus()).isEqualTo(409))
        .hasMessageContaining("ncompatible");
  }
}
