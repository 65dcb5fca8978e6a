package dev.prefstream.ingest.bench;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.ingest.IngestService;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Validated feedback events per second through the ingest topology on the embedded broker, against
 * a raw consume-produce pipe on the same broker with the same guarantee (transactions committed
 * every 100 ms with the consumed offsets, read_committed), measured in one run.
 *
 * <p>Both read the same pre-produced feedback topic. A counting consumer (read_committed) watches
 * the outputs; throughput is taken between the moments 10% and 100% of the expected outputs became
 * visible, so start-up (rebalance, store creation) is left out and reported separately.
 *
 * <p>Run: {@code mvn -q -B -pl ingest -am -Pbench -DskipTests -Dspotless.check.skip=true verify}
 * (options: {@code -Dbench.events=N -Dbench.rounds=R}). Not part of the test suite.
 */
public final class IngestBenchmark {
  private static final long COMMIT_MS = 100;

  private final EmbeddedStack stack;
  private final RestSchemaRegistry registry;
  private final Topics topics = Topics.withDefaultPrefix();
  private final Path dataDir;

  private IngestBenchmark(EmbeddedStack stack, Path dataDir) {
    this.stack = stack;
    this.registry = new RestSchemaRegistry(stack.registryUrl());
    this.dataDir = dataDir;
  }

  public static void main(String[] args) throws Exception {
    int events = Integer.getInteger("bench.events", 100_000);
    int rounds = Integer.getInteger("bench.rounds", 2);
    Path dataDir = Files.createTempDirectory("prefstream-bench");
    try (EmbeddedStack stack = EmbeddedStack.start(dataDir)) {
      new IngestBenchmark(stack, dataDir).run(events, rounds);
    }
  }

  private void run(int events, int rounds) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", stack.bootstrapServers()))) {
      TopicAdmin.ensure(admin, topics.all(2), (short) -1);
      List<NewTopic> pipes = new ArrayList<>();
      for (int r = 0; r < rounds; r++) {
        pipes.add(new NewTopic("bench.pipe-" + r, 2, (short) 1));
      }
      admin.createTopics(pipes).all().get();
    }
    int outputs = produceFeedback(events);
    System.out.printf(
        Locale.ROOT,
        "%d feedback events (%d outputs expected from ingest) on %s, 2 partitions%n",
        events,
        outputs,
        topics.feedback());
    List<double[]> results = new ArrayList<>();
    for (int round = 0; round < rounds; round++) {
      Result pipe = pipe(round, events);
      Result ingest = ingest(round, events, outputs);
      System.out.printf(
          Locale.ROOT,
          "round %d: raw pipe %,.0f events/s (start-up %.1f s), ingest %,.0f events/s (start-up %.1f"
              + " s), ratio %.3f%n",
          round + 1,
          pipe.eventsPerSecond,
          pipe.startupSeconds,
          ingest.eventsPerSecond,
          ingest.startupSeconds,
          ingest.eventsPerSecond / pipe.eventsPerSecond);
      results.add(new double[] {pipe.eventsPerSecond, ingest.eventsPerSecond});
    }
    double pipeBest = results.stream().mapToDouble(r -> r[0]).max().orElseThrow();
    double ingestBest = results.stream().mapToDouble(r -> r[1]).max().orElseThrow();
    System.out.printf(
        Locale.ROOT,
        "best of %d: raw pipe %,.0f events/s, ingest %,.0f events/s, ratio ingest/pipe %.3f%n",
        rounds,
        pipeBest,
        ingestBest,
        ingestBest / pipeBest);
  }

  /**
   * A realistic mix: 70% PAIRWISE (half with chat prompts), 10% BINARY, 10% RANKED (3 responses, 3
   * pairs), 10% EDIT, from 20,000 users over 4 models. Returns the outputs they must yield.
   */
  private int produceFeedback(int events) {
    ConfluentAvro<FeedbackEvent> codec = new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    Random random = new Random(42);
    String filler =
        "Explain the trade-offs between consistency and availability in a distributed database, "
            + "with an example from practice.";
    int outputs = 0;
    Map<String, Object> props = new HashMap<>();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
    props.put(ProducerConfig.LINGER_MS_CONFIG, 20);
    props.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < events; i++) {
        String model = "model-" + (i % 4);
        FeedbackEvent.Builder b =
            FeedbackEvent.newBuilder()
                .setEventId("bench-" + i)
                .setModelId(model)
                .setOccurredAt(Instant.now())
                .setSource("bench")
                .setUserKey("user-" + random.nextInt(20_000));
        int kind = i % 10;
        String answer = "Answer " + i + ": " + filler.substring(0, 40 + random.nextInt(60));
        if (kind < 7) {
          b.setKind(FeedbackKind.PAIRWISE)
              .setPrompt(
                  i % 2 == 0
                      ? filler
                      : List.of(
                          new ChatMessage("system", "You are a careful assistant."),
                          new ChatMessage("user", filler)))
              .setChosen(answer)
              .setRejected("I am not sure. " + answer);
          outputs++;
        } else if (kind == 7) {
          b.setKind(FeedbackKind.BINARY).setPrompt(filler).setResponse(answer).setLabel(i % 3 == 0);
          outputs++;
        } else if (kind == 8) {
          b.setKind(FeedbackKind.RANKED)
              .setPrompt(filler)
              .setResponses(List.of(answer, "Maybe. " + answer, "No idea."));
          outputs += 3;
        } else {
          b.setKind(FeedbackKind.EDIT)
              .setPrompt(filler)
              .setResponse(answer)
              .setEdited(answer + " (edited)");
          outputs++;
        }
        producer.send(
            new ProducerRecord<>(
                topics.feedback(),
                model.getBytes(StandardCharsets.UTF_8),
                codec.encode(subject, b.build())));
      }
      producer.flush();
    }
    return outputs;
  }

  private record Result(double eventsPerSecond, double startupSeconds) {}

  /** The reference: consume feedback, produce the same bytes, commit offsets in the transaction. */
  private Result pipe(int round, int events) throws Exception {
    String out = "bench.pipe-" + round;
    try (OutputCounter counter = new OutputCounter(List.of(out), events)) {
      long start = System.nanoTime();
      Map<String, Object> consumerProps = new HashMap<>();
      consumerProps.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, "bench-pipe-" + round);
      consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
      consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
      consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      Map<String, Object> producerProps = new HashMap<>();
      producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      producerProps.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "bench-pipe-" + round);
      try (KafkaConsumer<byte[], byte[]> consumer =
              new KafkaConsumer<>(
                  consumerProps, new ByteArrayDeserializer(), new ByteArrayDeserializer());
          KafkaProducer<byte[], byte[]> producer =
              new KafkaProducer<>(
                  producerProps, new ByteArraySerializer(), new ByteArraySerializer())) {
        producer.initTransactions();
        consumer.subscribe(List.of(topics.feedback()));
        producer.beginTransaction();
        long lastCommit = System.currentTimeMillis();
        int copied = 0;
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        while (copied < events) {
          ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
          for (ConsumerRecord<byte[], byte[]> r : records) {
            producer.send(new ProducerRecord<>(out, r.key(), r.value()));
            offsets.put(
                new TopicPartition(r.topic(), r.partition()),
                new OffsetAndMetadata(r.offset() + 1));
            copied++;
          }
          if (System.currentTimeMillis() - lastCommit >= COMMIT_MS || copied >= events) {
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            producer.commitTransaction();
            producer.beginTransaction();
            lastCommit = System.currentTimeMillis();
          }
        }
        producer.commitTransaction();
      }
      return counter.await(start, events);
    }
  }

  /** The subject: the ingest topology, exactly-once, reading the same feedback topic. */
  private Result ingest(int round, int events, int outputs) throws Exception {
    Map<String, Object> settings = new HashMap<>();
    settings.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
    settings.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
    settings.put(CommonConfig.DATA_DIR_CONFIG, dataDir.resolve("ingest-" + round).toString());
    settings.put(IngestConfig.APPLICATION_ID_CONFIG, "bench-ingest-" + round);
    IngestConfig config = new IngestConfig(settings);
    try (OutputCounter counter =
        new OutputCounter(List.of(topics.pairs(), topics.unpaired()), outputs)) {
      long start = System.nanoTime();
      try (IngestService ingest = IngestService.start(config, registry)) {
        Result result = counter.await(start, events);
        if (!ingest.deadLetterCounts().isEmpty()) {
          throw new IllegalStateException(
              "the benchmark's events were rejected: " + ingest.deadLetterCounts());
        }
        return result;
      }
    }
  }

  /** Counts new records on output topics (read_committed) and notes when 10% and all arrived. */
  private final class OutputCounter implements AutoCloseable {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final int expected;
    private final AtomicBoolean done = new AtomicBoolean();
    private volatile long tenPercentAt;
    private volatile long allAt;
    private final Thread thread;

    OutputCounter(List<String> outputTopics, int expected) {
      this.expected = expected;
      consumer =
          new KafkaConsumer<>(
              Map.of(
                  ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                  stack.bootstrapServers(),
                  ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                  "read_committed",
                  ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG,
                  false),
              new ByteArrayDeserializer(),
              new ByteArrayDeserializer());
      List<TopicPartition> partitions = new ArrayList<>();
      for (String topic : outputTopics) {
        consumer
            .partitionsFor(topic)
            .forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
      }
      consumer.assign(partitions);
      consumer.seekToEnd(partitions);
      partitions.forEach(consumer::position); // fix the starting point now
      thread = new Thread(this::count, "bench-counter");
      thread.start();
    }

    private void count() {
      long seen = 0;
      while (!done.get() && seen < expected) {
        seen += consumer.poll(Duration.ofMillis(50)).count();
        long now = System.nanoTime();
        if (tenPercentAt == 0 && seen >= expected / 10) {
          tenPercentAt = now;
        }
        if (seen >= expected) {
          allAt = now;
        }
      }
    }

    Result await(long start, int events) throws InterruptedException {
      thread.join(Duration.ofMinutes(10).toMillis());
      if (allAt == 0) {
        throw new IllegalStateException("outputs did not all arrive within 10 minutes");
      }
      double steadySeconds = (allAt - tenPercentAt) / 1e9;
      double startup = (tenPercentAt - start) / 1e9;
      return new Result(events * 0.9 / steadySeconds, startup);
    }

    @Override
    public void close() throws InterruptedException {
      done.set(true);
      thread.join();
      consumer.close();
    }
  }
}
