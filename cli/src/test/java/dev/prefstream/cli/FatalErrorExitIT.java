package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A long-running command whose worker dies exits non-zero, promptly, having said why: here the
 * trainer command's consumer is fenced by another member with its static instance id (a fatal error
 * for the trainer thread). Before the fix the JVM hung: the dying thread called {@code
 * System.exit}, whose shutdown hook joined that same thread.
 */
class FatalErrorExitIT {
  @TempDir static Path dir;
  static EmbeddedStack stack;

  @BeforeAll
  static void start() {
    stack = EmbeddedStack.start(dir.resolve("stack"));
  }

  @AfterAll
  static void stop() {
    stack.close();
  }

  @Test
  void aTrainerWhoseWorkerDiesExitsNonZero() throws Exception {
    Path modelDir = dir.resolve("model");
    ModelInit.write(
        modelDir, ModelInit.Spec.builder("llama").optSeed(3).optMaxPositions(64).build());
    Topics topics = new Topics("fatal.");
    Map<String, Object> client =
        Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
    try (Admin admin = Admin.create(client)) {
      TopicAdmin.ensure(admin, topics.all(1), (short) -1);
    }
    produce(topics, client);

    Path output = dir.resolve("trainer.log");
    Process trainer = trainer(topics, modelDir, output);
    try {
      ChildCli.awaitLine(trainer, output, "m v1:", Duration.ofMinutes(2));
      // another member takes the trainer's static group.instance.id: the trainer's consumer is
      // fenced (FencedInstanceIdException), which its thread cannot survive
      Map<String, Object> props = new HashMap<>(client);
      props.put(ConsumerConfig.GROUP_ID_CONFIG, "t-fatal");
      props.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, "fatal-instance");
      try (KafkaConsumer<String, byte[]> usurper =
          new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
        usurper.subscribe(List.of(topics.pairs()));
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
        while (trainer.isAlive() && System.nanoTime() < deadline) {
          usurper.poll(Duration.ofMillis(200));
        }
      }
      assertThat(trainer.waitFor(1, TimeUnit.SECONDS))
          .as("the trainer exited; its output:\n%s", Files.readString(output))
          .isTrue();
      assertThat(trainer.exitValue()).isNotZero();
      List<String> reported =
          Files.readAllLines(output).stream()
              .filter(l -> l.startsWith("error: trainer stopped"))
              .toList();
      assertThat(reported).hasSize(1);
      assertThat(reported.get(0)).contains("FencedInstanceIdException");
    } finally {
      trainer.destroyForcibly().waitFor();
    }
  }

  private static void produce(Topics topics, Map<String, Object> client) throws Exception {
    RestSchemaRegistry registry = new RestSchemaRegistry(stack.registryUrl());
    ConfluentAvro<PreferencePair> codec = new ConfluentAvro<>(PreferencePair.class, registry, true);
    String subject = ConfluentAvro.subject(topics.pairs(), false);
    Map<String, Object> props = new HashMap<>(client);
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < 8; i++) {
        PreferencePair pair =
            PreferencePair.newBuilder()
                .setPairId(Sha256.hex("fatal-" + i))
                .setModelId("m")
                .setPrompt("What about tea?")
                .setChosen("I love tea.")
                .setRejected("I hate tea.")
                .setKind(FeedbackKind.PAIRWISE)
                .setEventIds(List.of("e" + i))
                .setSource("test")
                .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
                .build();
        producer.send(new ProducerRecord<>(topics.pairs(), "m", codec.encode(subject, pair)));
      }
    }
  }

  private static Process trainer(Topics topics, Path modelDir, Path output) throws Exception {
    return ChildCli.start(
        output,
        List.of(
            "trainer",
            "--bootstrap-servers",
            stack.bootstrapServers(),
            "--registry-url",
            stack.registryUrl(),
            "--model-dir",
            modelDir.toString(),
            "--batch-size",
            "4",
            "--publish-every-steps",
            "1",
            "-D",
            "topic.prefix=" + topics.prefix(),
            "-D",
            "trainer.id=t-fatal",
            "-D",
            "trainer.instance.id=fatal-instance",
            "-D",
            "trainer.max.length=64"));
  }
}
