package dev.prefstream.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
    name = "emit",
    description =
        "Sends a JSONL preference file ({\"prompt\", \"chosen\", \"rejected\"} per line, as in Hugging"
            + " Face preference datasets) as PAIRWISE feedback events.")
final class EmitCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Mixin KafkaOptions kafka;

  @Option(names = "--file", required = true, paramLabel = "FILE.jsonl", description = "The pairs.")
  Path file;

  @Option(names = "--model", required = true, paramLabel = "M", description = "Model id.")
  String model;

  @Option(names = "--source", defaultValue = "prefstream-emit", description = "Event source.")
  String source;

  @Override
  public Integer call() throws IOException {
    CommonConfig config = new CommonConfig(kafka.settings());
    Topics topics = config.topics();
    ConfluentAvro<FeedbackEvent> codec =
        new ConfluentAvro<>(FeedbackEvent.class, config.schemaRegistry(), true);
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    int sent = 0;
    List<String> problems = new ArrayList<>();
    try (BufferedReader lines = Files.newBufferedReader(file, StandardCharsets.UTF_8);
        KafkaProducer<String, byte[]> producer =
            new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      String line;
      int number = 0;
      while ((line = lines.readLine()) != null) {
        number++;
        if (line.isBlank()) {
          continue;
        }
        FeedbackEvent event;
        try {
          event = toEvent(JSON.readTree(line), eventId(number, line));
        } catch (IOException | IllegalArgumentException e) {
          problems.add(file + ":" + number + ": " + e.getMessage());
          continue;
        }
        producer.send(new ProducerRecord<>(topics.feedback(), model, codec.encode(subject, event)));
        sent++;
      }
      producer.flush();
    }
    System.out.println(
        "sent " + sent + " events to " + topics.feedback() + " (model " + model + ")");
    problems.forEach(p -> System.err.println("skipped " + p));
    return problems.isEmpty() ? 0 : 1;
  }

  private FeedbackEvent toEvent(JsonNode row, String eventId) {
    return FeedbackEvent.newBuilder()
        .setEventId(eventId)
        .setModelId(model)
        .setOccurredAt(Instant.now())
        .setSource(source)
        .setKind(FeedbackKind.PAIRWISE)
        .setPrompt(prompt(row.get("prompt")))
        .setChosen(text(row, "chosen"))
        .setRejected(text(row, "rejected"))
        .build();
  }

  /** A prompt is a string or a list of {role, content} messages. */
  static Object prompt(JsonNode node) {
    if (node == null || node.isNull()) {
      throw new IllegalArgumentException("\"prompt\" is missing");
    }
    if (node.isTextual()) {
      return node.asText();
    }
    if (node.isArray()) {
      List<ChatMessage> messages = new ArrayList<>();
      for (JsonNode m : node) {
        if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
          throw new IllegalArgumentException("each prompt message needs string role and content");
        }
        messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
      }
      return messages;
    }
    throw new IllegalArgumentException("\"prompt\" must be a string or a list of messages");
  }

  private static String text(JsonNode row, String field) {
    JsonNode node = row.get(field);
    if (node == null || !node.isTextual()) {
      throw new IllegalArgumentException("\"" + field + "\" must be a string");
    }
    return node.asText();
  }

  /** Stable per (model, file, line): re-sending the same file is deduplicated by ingest. */
  private String eventId(int lineNumber, String line) {
    String identity = model + "\n" + file.getFileName() + "\n" + lineNumber + "\n" + line;
    return "emit-" + Sha256.hex(identity).substring(0, 32);
  }
}
