package dev.prefstream.ingest;

import static dev.prefstream.ingest.Pipeline.binary;
import static dev.prefstream.ingest.Pipeline.choice;
import static dev.prefstream.ingest.Pipeline.edit;
import static dev.prefstream.ingest.Pipeline.impression;
import static dev.prefstream.ingest.Pipeline.pairwise;
import static dev.prefstream.ingest.Pipeline.ranked;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.ServedResponses;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.AvroSerde;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.avro.Schema;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Feedback of every kind, impressions, and records ingest must refuse, all named with one prefix;
 * what each must become; and the check that it became exactly that, exactly once. The same scenario
 * runs with our Java producer, with Confluent's Python client, and against Confluent's own registry
 * (Testcontainers).
 */
final class Scenario {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Debian's interpreter, where python3-confluent-kafka and python3-avro install. */
  static final String PYTHON = "/usr/bin/python3";

  /** A record to send: onto feedback or served, with a value built from a record or raw bytes. */
  record Send(boolean served, String key, SpecificRecordBase value, byte[] raw) {}

  final String prefix;
  final List<Send> sends = new ArrayList<>();

  /** event id -> how many pairs it must yield. */
  final Map<String, Integer> pairs = new LinkedHashMap<>();

  /** event ids that must become unpaired feedback. */
  final List<String> unpaired = new ArrayList<>();

  /** a record's label (event id, or its key for unreadable ones) -> the reason it is refused. */
  final Map<String, String> deadLetters = new LinkedHashMap<>();

  Scenario(String prefix) {
    this.prefix = prefix;
    String p = prefix;
    send(impression(p + "-req-1", List.of("joke A", "joke B", "joke C"), b -> b.setModelId(p)));
    expect(send(pairwise(p + "-pw-text", b -> b.setModelId(p))), 1);
    expect(
        send(
            pairwise(
                p + "-pw-chat",
                b ->
                    b.setModelId(p)
                        .setUserKey("u-" + p)
                        .setPrompt(
                            List.of(
                                new ChatMessage("system", "Be brief."),
                                new ChatMessage("user", "Cafe\u0301 or tea?")))
                        .setChosen("Tea.")
                        .setRejected("Caf\u00e9."))),
        1);
    unpaired.add(send(binary(p + "-bin-up", true, "Blue", b -> b.setModelId(p))));
    unpaired.add(
        send(
            binary(
                p + "-bin-down", false, "Table", b -> b.setModelId(p).setPrompt("Name a shape."))));
    expect(send(ranked(p + "-ranked", List.of("A", "B", "C"), b -> b.setModelId(p))), 3);
    expect(send(choice(p + "-choice", p + "-req-1", 2, b -> b.setModelId(p))), 2);
    // a choice that arrives before its impression waits for it
    expect(send(choice(p + "-early", p + "-req-2", 0, b -> b.setModelId(p))), 1);
    send(impression(p + "-req-2", List.of("yes", "no"), b -> b.setModelId(p)));
    expect(send(edit(p + "-edit", "Their here.", "They're here.", b -> b.setModelId(p))), 1);

    refuse(send(pairwise(p + "-pw-text", b -> b.setModelId(p))), "duplicate_event"); // redelivery
    refuse(
        send(pairwise(p + "-same", b -> b.setModelId(p).setRejected("4"))), "identical_responses");
    refuse(send(pairwise(p + "-model", b -> b.setModelId("no spaces/" + p))), "invalid_model_id");
    refuse(send(choice(p + "-far", p + "-req-1", 7, b -> b.setModelId(p))), "bad_chosen_index");
    refuse(send(choice(p + "-lost", p + "-req-none", 0, b -> b.setModelId(p))), "unknown_request");
    refuse(
        sendRaw(false, p + "-raw-json", "{\"event_id\":\"x\"}".getBytes(StandardCharsets.UTF_8)),
        "bad_magic_byte");
    refuse(
        sendRaw(false, p + "-raw-id", new byte[] {0, 0x7f, 0, 0, 1, 2, 2, 'x'}),
        "unknown_schema_id");
    refuse(sendRaw(true, p + "-raw-served", new byte[] {0, 0}), "truncated_header");
  }

  private String send(FeedbackEvent event) {
    sends.add(new Send(false, event.getModelId(), event, null));
    return event.getEventId();
  }

  private void send(ServedResponses impression) {
    sends.add(new Send(true, impression.getRequestId(), impression, null));
  }

  private String sendRaw(boolean served, String key, byte[] bytes) {
    sends.add(new Send(served, key, null, bytes));
    return key;
  }

  private void expect(String eventId, int count) {
    pairs.put(eventId, count);
  }

  private void refuse(String label, String reason) {
    deadLetters.put(label, reason);
  }

  // ---- producing

  /** Sends everything with our Java client: keys as UTF-8, values framed by our codec. */
  void produceWithJava(String bootstrap, SchemaRegistry registry, Topics topics) {
    ConfluentAvro<FeedbackEvent> feedback =
        new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    ConfluentAvro<ServedResponses> served =
        new ConfluentAvro<>(ServedResponses.class, registry, true);
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(
            Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                bootstrap,
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG,
                true,
                ProducerConfig.ACKS_CONFIG,
                "all"),
            new ByteArraySerializer(),
            new ByteArraySerializer())) {
      for (Send s : sends) {
        String topic = s.served() ? topics.served() : topics.feedback();
        byte[] value;
        if (s.raw() != null) {
          value = s.raw();
        } else if (s.served()) {
          value = served.encode(ConfluentAvro.subject(topic, false), (ServedResponses) s.value());
        } else {
          value = feedback.encode(ConfluentAvro.subject(topic, false), (FeedbackEvent) s.value());
        }
        producer.send(new ProducerRecord<>(topic, s.key().getBytes(StandardCharsets.UTF_8), value));
        producer.flush(); // keep the scenario's order: a choice before its impression
      }
    }
  }

  /** Whether {@link #PYTHON} can import Confluent's Avro producer. */
  static boolean pythonHasConfluentAvro() {
    try {
      Process p =
          new ProcessBuilder(PYTHON, "-c", "import confluent_kafka.avro")
              .redirectErrorStream(true)
              .start();
      p.getInputStream().readAllBytes();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * Sends everything with Confluent's Python client, as a product would: AvroProducer registers the
   * schemas and frames values (and Avro string keys); raw bytes go through a plain Producer.
   */
  void produceWithPython(String bootstrap, String registryUrl, Topics topics, Path workDir)
      throws IOException, InterruptedException {
    Path feedbackSchema =
        Files.writeString(
            workDir.resolve("feedback.avsc"), FeedbackEvent.getClassSchema().toString());
    Path servedSchema =
        Files.writeString(
            workDir.resolve("served.avsc"), ServedResponses.getClassSchema().toString());
    Path records = Files.writeString(workDir.resolve(prefix + ".jsonl"), jsonLines());
    Process python =
        new ProcessBuilder(
                PYTHON,
                Path.of("src/test/python/confluent_avro_producer.py").toAbsolutePath().toString(),
                bootstrap,
                registryUrl,
                topics.feedback(),
                topics.served(),
                feedbackSchema.toString(),
                servedSchema.toString(),
                records.toString())
            .redirectErrorStream(true)
            .start();
    String output = new String(python.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(python.waitFor(60, TimeUnit.SECONDS)).as(output).isTrue();
    assertThat(python.exitValue()).as(output).isZero();
    assertThat(output).contains("sent " + sends.size());
  }

  /**
   * The scenario as JSON lines for the Python producer: each record as the dict that Confluent's
   * AvroProducer expects, or the raw bytes (base64) for a plain producer.
   */
  String jsonLines() {
    StringBuilder out = new StringBuilder();
    for (Send s : sends) {
      ObjectNode line = JSON.createObjectNode();
      line.put("topic", s.served() ? "served" : "feedback");
      line.put("key", s.key());
      if (s.raw() != null) {
        line.put("raw_base64", Base64.getEncoder().encodeToString(s.raw()));
      } else {
        line.set("value", toJson(s.value()));
      }
      out.append(line).append('\n');
    }
    return out.toString();
  }

  /** Every field present (the Python writer applies no defaults); times as epoch millis. */
  private static ObjectNode toJson(SpecificRecordBase record) {
    ObjectNode node = JSON.createObjectNode();
    for (Schema.Field field : record.getSchema().getFields()) {
      node.set(field.name(), JSON.valueToTree(plain(record.get(field.pos()))));
    }
    return node;
  }

  private static Object plain(Object value) {
    if (value instanceof Instant instant) {
      return instant.toEpochMilli();
    }
    if (value instanceof Enum<?> e) {
      return e.name();
    }
    if (value instanceof ChatMessage m) {
      return Map.of("role", m.getRole(), "content", m.getContent());
    }
    if (value instanceof List<?> list) {
      return list.stream().map(Scenario::plain).toList();
    }
    return value;
  }

  // ---- checking

  /** Waits until everything the scenario expects has arrived, then checks it arrived once. */
  void verify(String bootstrap, SchemaRegistry registry, Topics topics, Duration timeout) {
    List<PreferencePair> gotPairs =
        OutputReader.read(
            bootstrap,
            topics.pairs(),
            new StringDeserializer(),
            AvroSerde.forValues(PreferencePair.class, registry).deserializer(),
            pp -> mine(pp.getEventIds().get(0)),
            pairs.values().stream().mapToInt(Integer::intValue).sum(),
            timeout);
    List<UnpairedFeedback> gotUnpaired =
        OutputReader.read(
            bootstrap,
            topics.unpaired(),
            new StringDeserializer(),
            AvroSerde.forValues(UnpairedFeedback.class, registry).deserializer(),
            u -> mine(u.getEventIds().get(0)),
            unpaired.size(),
            timeout);
    List<Rejection> gotDead =
        OutputReader.read(
            bootstrap,
            topics.deadLetters(),
            new org.apache.kafka.common.serialization.ByteArrayDeserializer(),
            AvroSerde.forValues(Rejection.class, registry).deserializer(),
            r -> label(r) != null,
            deadLetters.size(),
            timeout);

    Map<String, Integer> pairCounts = new HashMap<>();
    gotPairs.forEach(pp -> pairCounts.merge(pp.getEventIds().get(0), 1, Integer::sum));
    assertThat(pairCounts).as("pairs per event").containsExactlyInAnyOrderEntriesOf(pairs);
    assertThat(gotPairs).allSatisfy(pp -> assertThat(pp.getModelId()).isEqualTo(prefix));
    assertThat(gotPairs)
        .filteredOn(pp -> pp.getEventIds().get(0).endsWith("-pw-chat"))
        .singleElement()
        .satisfies(pp -> assertThat(pp.getRejected()).isEqualTo("Caf\u00e9."));
    assertThat(gotUnpaired)
        .extracting(u -> u.getEventIds().get(0))
        .containsExactlyInAnyOrderElementsOf(unpaired);
    Map<String, String> deadByLabel =
        gotDead.stream()
            .collect(Collectors.toMap(this::label, Rejection::getReason, (a, b) -> a + "," + b));
    assertThat(deadByLabel).as("dead letters").containsExactlyInAnyOrderEntriesOf(deadLetters);
    assertThat(gotDead).allSatisfy(r -> assertThat(r.getOriginalValue()).isNotNull());
  }

  private boolean mine(String eventId) {
    return eventId.startsWith(prefix + "-");
  }

  /** Which scenario record a dead letter is: by event id, else by its (possibly Avro) key. */
  private String label(Rejection r) {
    if (r.getEventId() != null && mine(r.getEventId())) {
      return r.getEventId();
    }
    if (r.getOriginalKey() == null) {
      return null;
    }
    ByteBuffer keyBuffer = r.getOriginalKey().duplicate();
    byte[] key = new byte[keyBuffer.remaining()];
    keyBuffer.get(key);
    String text = new String(key, StandardCharsets.ISO_8859_1);
    Function<String, Boolean> hasKey =
        k ->
            text.contains(
                new String(k.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1));
    return deadLetters.keySet().stream()
        .filter(k -> k.contains("-raw-") && hasKey.apply(k))
        .findFirst()
        .orElse(null);
  }
}
