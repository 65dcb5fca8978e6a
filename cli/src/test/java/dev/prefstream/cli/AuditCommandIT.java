package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.audit.ModelHistory;
import dev.prefstream.audit.Replayability;
import dev.prefstream.audit.SnapshotLog;
import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.ServedResponses;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.stream.TrainerConfig;
import dev.prefstream.trainer.stream.TrainerListener;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The audit commands as a user runs them, over feedback of every kind that went through the real
 * ingest and the real trainer: trace follows each kind (a served choice and a dead letter included)
 * to its fate; verify and replay --all pass; forget plans a user.
 */
class AuditCommandIT {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String MODEL = "traced";

  @TempDir static Path dir;
  static EmbeddedStack stack;
  static Map<String, Object> settings;
  static List<AutoCloseable> services = new ArrayList<>();

  @BeforeAll
  static void run() throws Exception {
    stack = EmbeddedStack.start(dir.resolve("stack"));
    Path model = dir.resolve("model");
    ModelInit.write(model, ModelInit.Spec.builder("llama").optSeed(5).optMaxPositions(128).build());
    settings = new HashMap<>();
    settings.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
    settings.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
    settings.put(CommonConfig.DATA_DIR_CONFIG, dir.resolve("data").toString());
    settings.put(TrainerConfig.MODEL_DIR_CONFIG, model.toString());
    settings.put(TrainerConfig.ID_CONFIG, "t-trace");
    settings.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 0.0);
    settings.put(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG, 2);
    settings.put(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG, 500);
    settings.put(TrainerConfig.PUBLISH_EVERY_MS_CONFIG, 500);
    settings.put(Recipe.BATCH_SIZE_CONFIG, 4);
    settings.put(Recipe.MAX_LENGTH_CONFIG, 64);
    settings.put(IngestConfig.BINARY_PAIR_WINDOW_MS_CONFIG, 60_000L);
    CommonConfig common = new CommonConfig(settings);
    Services.ensureTopics(common);
    services.add(Services.ingest(new IngestConfig(settings)));
    services.add(Services.trainer(new TrainerConfig(settings), TrainerListener.NONE));

    Instant now = Instant.now();
    List<FeedbackEvent> events = new ArrayList<>();
    events.add(
        event("pw", "u1", now)
            .setKind(FeedbackKind.PAIRWISE)
            .setPrompt("Tea?")
            .setChosen("I love tea.")
            .setRejected("I hate tea.")
            .build());
    events.add(
        event("rk", "u2", now)
            .setKind(FeedbackKind.RANKED)
            .setPrompt("Jazz?")
            .setResponses(List.of("I love jazz.", "Jazz is fine.", "I hate jazz."))
            .build());
    events.add(
        event("ed", "u3", now)
            .setKind(FeedbackKind.EDIT)
            .setPrompt("Rain?")
            .setResponse("I hate rain.")
            .setEdited("I love rain.")
            .build());
    events.add(
        event("up", "u4", now)
            .setKind(FeedbackKind.BINARY)
            .setPrompt("Cats?")
            .setResponse("I love cats.")
            .setLabel(true)
            .build());
    events.add(
        event("down", "u5", now)
            .setKind(FeedbackKind.BINARY)
            .setPrompt("Cats?")
            .setResponse("I hate cats.")
            .setLabel(false)
            .build());
    events.add(
        event("ch", "u1", now)
            .setKind(FeedbackKind.SERVED_CHOICE)
            .setRequestId("req-1")
            .setChosenIndex(1)
            .build());
    events.add(
        event("bad", "u2", now)
            .setKind(FeedbackKind.PAIRWISE)
            .setPrompt("Snow?")
            .setChosen("Same.")
            .setRejected("Same.")
            .build());
    for (int i = 0; i < 12; i++) {
      events.add(
          event("more-" + i, "u" + (i % 3), now)
              .setKind(FeedbackKind.PAIRWISE)
              .setPrompt("Maps " + i + "?")
              .setChosen("I love maps.")
              .setRejected("I hate maps.")
              .build());
    }
    ServedResponses impression =
        ServedResponses.newBuilder()
            .setRequestId("req-1")
            .setModelId(MODEL)
            .setServedAt(now)
            .setPrompt("Bread?")
            .setResponses(List.of("I hate bread.", "I love bread."))
            .build();
    Map<String, Object> props = new HashMap<>(common.kafkaClientProperties());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    ConfluentAvro<FeedbackEvent> feedback =
        new ConfluentAvro<>(FeedbackEvent.class, common.schemaRegistry(), true);
    ConfluentAvro<ServedResponses> served =
        new ConfluentAvro<>(ServedResponses.class, common.schemaRegistry(), true);
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      String servedTopic = common.topics().served();
      producer
          .send(
              new ProducerRecord<>(
                  servedTopic,
                  "req-1",
                  served.encode(ConfluentAvro.subject(servedTopic, false), impression)))
          .get();
      String topic = common.topics().feedback();
      for (FeedbackEvent e : events) {
        producer.send(
            new ProducerRecord<>(
                topic, MODEL, feedback.encode(ConfluentAvro.subject(topic, false), e)));
      }
      producer.flush();
    }
    // 1 + 3 + 1 + 1 (thumbs) + 1 (choice) + 12 = 19 pairs; every one in a version
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
    while (true) {
      int pairs = history().manifests().stream().mapToInt(AdapterManifest::getPairs).sum();
      if (pairs >= 19 || System.nanoTime() > deadline) {
        assertThat(pairs).as("pairs trained into versions").isEqualTo(19);
        break;
      }
      Thread.sleep(500);
    }
  }

  private static ModelHistory history() {
    CommonConfig common = new CommonConfig(settings);
    return ModelHistory.read(
        common.kafkaClientProperties(), common.topics(), common.schemaRegistry(), MODEL);
  }

  @AfterAll
  static void stop() throws Exception {
    for (int i = services.size() - 1; i >= 0; i--) {
      services.get(i).close();
    }
    if (stack != null) {
      stack.close();
    }
  }

  @Test
  void traceFollowsEveryKindToTheVersionWhoseLineageHoldsIt() throws Exception {
    for (String id : List.of("pw", "rk", "ed", "ch")) {
      JsonNode trace = lastLine(run("audit", "trace", "--event-id", id, "--output", "json"));
      assertThat(trace.get("pairs")).as(id).isNotEmpty();
      for (JsonNode pair : trace.get("pairs")) {
        assertThat(pair.get("fate").asText()).as(id).isEqualTo("trained");
        long version = pair.get("version").asLong();
        // the version named is the one whose lineage holds the pair's offset
        OffsetRange range = manifest(version).getLineage().get(0);
        assertThat(pair.get("offset").asLong())
            .isBetween(range.getFromOffset(), range.getToOffset() - 1);
      }
    }
    assertThat(lastLine(run("audit", "trace", "--event-id", "rk", "--output", "json")).get("pairs"))
        .hasSize(3);
    JsonNode choice = lastLine(run("audit", "trace", "--event-id", "ch", "--output", "json"));
    assertThat(choice.get("pairs").get(0).get("kind").asText()).isEqualTo("SERVED_CHOICE");
    assertThat(choice.get("pairs").get(0).get("event_ids").toString()).contains("req-1");
    // a thumb: unpaired, and with its opposite a pair
    JsonNode up = lastLine(run("audit", "trace", "--event-id", "up", "--output", "json"));
    assertThat(up.get("unpaired")).hasSize(1);
    assertThat(up.get("pairs").get(0).get("kind").asText()).isEqualTo("BINARY");
    assertThat(up.get("pairs").get(0).get("fate").asText()).isEqualTo("trained");
    // a dead letter
    Output bad = run("audit", "trace", "--event-id", "bad", "--output", "json");
    assertThat(bad.code).isZero();
    JsonNode dead = lastLine(bad).get("dead_letters");
    assertThat(dead).hasSize(1);
    assertThat(dead.get(0).get("reason").asText()).isEqualTo("identical_responses");
    assertThat(lastLine(bad).get("pairs")).isEmpty();
    // nothing known
    assertThat(run("audit", "trace", "--event-id", "never-sent").code).isEqualTo(1);
  }

  @Test
  void verifyAndReplayOfEveryVersionPass() throws Exception {
    Output verify = run("audit", "verify", "--model", MODEL, "--output", "json");
    assertThat(verify.code).as(verify.out + verify.err).isZero();
    assertThat(lastLine(verify).get("ok").asBoolean()).isTrue();

    Output replay = run("audit", "replay", "--model", MODEL, "--all", "--output", "json");
    assertThat(replay.code).as(replay.out + replay.err).isZero();
    int lines = 0;
    for (String line : replay.out.split("\n")) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode r = JSON.readTree(line);
      for (String field :
          List.of(
              "model",
              "version",
              "published_sha256",
              "replayed_sha256",
              "identical",
              "steps",
              "seconds")) {
        assertThat(r.has(field)).as(field).isTrue();
      }
      assertThat(r.get("identical").asBoolean()).as(line).isTrue();
      assertThat(r.get("replayed_sha256").asText()).isEqualTo(r.get("published_sha256").asText());
      lines++;
    }
    assertThat(lines).isGreaterThanOrEqualTo(2);
    // every version says it can be replayed (what adapters list shows)
    CommonConfig common = new CommonConfig(settings);
    Map<Long, java.util.Optional<String>> replayable =
        Replayability.of(
            history(),
            SnapshotLog.read(
                common.kafkaClientProperties(), common.topics(), common.schemaRegistry(), MODEL),
            Replayability.earliestOffsets(common.kafkaClientProperties(), common.topics().pairs()));
    assertThat(replayable).isNotEmpty();
    assertThat(replayable.values()).allMatch(java.util.Optional::isEmpty);
  }

  @Test
  void forgetPlansAUsersEventsPairsAndVersions() throws Exception {
    Output plan = run("audit", "forget", "--user-key", "u3", "--model", MODEL, "--output", "json");
    assertThat(plan.code).isZero();
    JsonNode p = lastLine(plan);
    assertThat(p.get("events").toString()).contains("\"ed\"");
    assertThat(p.get("pairs")).hasSize(1);
    assertThat(p.get("models").get(0).get("first_version").asLong())
        .isEqualTo(p.get("pairs").get(0).get("version").asLong());
  }

  private static AdapterManifest manifest(long version) {
    return history().manifest(version).orElseThrow();
  }

  private static FeedbackEvent.Builder event(String id, String user, Instant at) {
    return FeedbackEvent.newBuilder()
        .setEventId(id)
        .setModelId(MODEL)
        .setOccurredAt(at)
        .setSource("test")
        .setUserKey(user);
  }

  private record Output(int code, String out, String err) {}

  private static Output run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = PrefstreamCli.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(
        List.of(
            "--bootstrap-servers",
            stack.bootstrapServers(),
            "--registry-url",
            stack.registryUrl(),
            "-D",
            TrainerConfig.MODEL_DIR_CONFIG + "=" + settings.get(TrainerConfig.MODEL_DIR_CONFIG)));
    int code = cli.execute(all.toArray(String[]::new));
    return new Output(code, out.toString(), err.toString());
  }

  private static JsonNode lastLine(Output output) {
    String[] lines = output.out.strip().split("\n");
    try {
      return JSON.readTree(lines[lines.length - 1]);
    } catch (Exception e) {
      throw new AssertionError("not JSON: " + output.out + output.err, e);
    }
  }
}
