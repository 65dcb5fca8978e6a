package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code prefstream dead-letters} against a real broker and registry: it shows committed rejections
 * only, reads to the end and exits.
 */
class DeadLettersCommandIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path dataDir;
  static EmbeddedStack stack;
  static final Topics TOPICS = Topics.withDefaultPrefix();

  @BeforeAll
  static void start() throws Exception {
    stack = EmbeddedStack.start(dataDir);
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", stack.bootstrapServers()))) {
      TopicAdmin.ensure(admin, TOPICS.all(2), (short) -1);
    }
    RestSchemaRegistry registry = new RestSchemaRegistry(stack.registryUrl());
    AvroSerde<Rejection> serde = AvroSerde.forValues(Rejection.class, registry);
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                stack.bootstrapServers(),
                ProducerConfig.TRANSACTIONAL_ID_CONFIG,
                "dead-letters-it"),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      producer.initTransactions();
      producer.beginTransaction();
      send(producer, serde, rejection("bad_magic_byte", 7, null));
      send(producer, serde, rejection("duplicate_event", 8, "e-42"));
      send(producer, serde, rejection("bad_magic_byte", 9, null));
      producer.commitTransaction();
      producer.beginTransaction();
      send(producer, serde, rejection("aborted_one", 10, null));
      producer.flush();
      producer.abortTransaction();
      producer.beginTransaction();
      // something that is not a Rejection at all
      producer.send(
          new ProducerRecord<>(
              TOPICS.deadLetters(), 0, null, "junk".getBytes(StandardCharsets.UTF_8)));
      producer.commitTransaction();
    }
  }

  @AfterAll
  static void stop() {
    if (stack != null) {
      stack.close();
    }
  }

  @Test
  void jsonOutputHasOneObjectPerCommittedRejection() throws Exception {
    Output run = run("--output", "json");
    assertThat(run.code).isZero();
    List<JsonNode> lines =
        run.out
            .lines()
            .map(DeadLettersCommandIT::parse)
            .filter(n -> n.hasNonNull("reason"))
            .toList();
    assertThat(lines)
        .extracting(n -> n.get("reason").asText())
        .containsExactlyInAnyOrder("bad_magic_byte", "duplicate_event", "bad_magic_byte");
    JsonNode dup =
        lines.stream()
            .filter(n -> n.get("reason").asText().equals("duplicate_event"))
            .findFirst()
            .orElseThrow();
    assertThat(dup.get("source_topic").asText()).isEqualTo(TOPICS.feedback());
    assertThat(dup.get("source_partition").asInt()).isEqualTo(1);
    assertThat(dup.get("source_offset").asLong()).isEqualTo(8);
    assertThat(dup.get("event_id").asText()).isEqualTo("e-42");
    assertThat(dup.get("original_key").asText()).isEqualTo("model-a");
    assertThat(dup.get("original_value_base64").asText()).isEqualTo("AQID");
    assertThat(dup.get("message").asText()).contains("offset 8");
    assertThat(run.out).doesNotContain("aborted_one");
    assertThat(run.out).contains("not a Rejection record");
    assertThat(run.err)
        .contains("4 dead letters")
        .contains("bad_magic_byte=2")
        .contains("(unreadable)=1");
  }

  @Test
  void tableOutputFiltersByReasonAndCounts() {
    Output run = run("--reason", "bad_magic_byte");
    assertThat(run.code).isZero();
    assertThat(run.out.lines().filter(l -> l.startsWith("bad_magic_byte"))).hasSize(2);
    assertThat(run.out).doesNotContain("duplicate_event").doesNotContain("(unreadable)");
    assertThat(run.out)
        .contains("2 dead letters in prefstream.dead-letters with reason bad_magic_byte");
  }

  @Test
  void anUnknownFormatIsRefusedWithTheChoices() {
    Output run = run("--output", "xml");
    assertThat(run.code).isNotZero();
    assertThat(run.err).contains("use table or json, not 'xml'");
  }

  private record Output(int code, String out, String err) {}

  private static Output run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = PrefstreamCli.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    String[] all = new String[args.length + 5];
    all[0] = "dead-letters";
    all[1] = "--bootstrap-servers";
    all[2] = stack.bootstrapServers();
    all[3] = "--registry-url";
    all[4] = stack.registryUrl();
    System.arraycopy(args, 0, all, 5, args.length);
    int code = cli.execute(all);
    return new Output(code, out.toString(), err.toString());
  }

  private static JsonNode parse(String line) {
    try {
      return JSON.readTree(line);
    } catch (Exception e) {
      throw new AssertionError("not JSON: " + line, e);
    }
  }

  private static Rejection rejection(String reason, long offset, String eventId) {
    return Rejection.newBuilder()
        .setReason(reason)
        .setMessage("what was wrong at offset " + offset)
        .setSourceTopic(TOPICS.feedback())
        .setSourcePartition(1)
        .setSourceOffset(offset)
        .setOriginalKey(ByteBuffer.wrap("model-a".getBytes(StandardCharsets.UTF_8)))
        .setOriginalValue(ByteBuffer.wrap(new byte[] {1, 2, 3}))
        .setEventId(eventId)
        .setRejectedAt(Instant.parse("2026-01-01T00:00:00Z"))
        .build();
  }

  private static void send(
      KafkaProducer<byte[], byte[]> producer, AvroSerde<Rejection> serde, Rejection r) {
    producer.send(
        new ProducerRecord<>(
            TOPICS.deadLetters(),
            r.getOriginalKey().array(),
            serde.serializer().serialize(TOPICS.deadLetters(), r)));
  }
}
