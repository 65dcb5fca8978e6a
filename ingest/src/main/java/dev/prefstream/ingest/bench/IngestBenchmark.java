package dev.prefstream.ingest.bench;

import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.ingest.IngestService;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.stream.Collectors;
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
import org.apache.kafka.common.utils.Utils;

/**
 * Validated feedback events per second through the ingest topology, against a raw consume-produce
 * pipe on the same broker with the same guarantee (a transaction committed every {@code
 * ingest.commit.interval.ms} with the consumed offsets, read_committed), measured in one run.
 *
 * <p>Both read the same pre-produced feedback topic. A counting consumer (read_committed) watches
 * the outputs; throughput is taken between the moments 10% and 100% of the expected outputs became
 * visible, so start-up (rebalance, store creation) is left out and reported separately, and counts
 * the outputs that became visible inside that window (transactions become visible whole: a fast
 * pipe's first commit can hold a third of its outputs, work done before the window). Rounds
 * alternate pipe and ingest; the first round warms the JVM and the summary takes the best of the
 * later ones (noise on a shared machine only ever slows a run down).
 *
 * <p>Everything the run creates lives under its own topic prefix and application ids, and its
 * topics are deleted at the end, so it can run against a shared cluster without touching
 * prefstream's own topics. Not a test: {@code prefstream bench ingest}, or the Maven profile {@code
 * -Pbench} of the ingest module.
 */
public final class IngestBenchmark {
  private final Map<String, Object> settings;
  private final SchemaRegistry registry;
  private final Consumer<String> progress;
  private final String runId = Long.toHexString(System.currentTimeMillis());
  private final Topics topics;
  private final long commitMs;
  private final int partitions;
  private final int threads;
  private final Map<String, Object> client;

  /** What to run. */
  public record Options(int events, int rounds) {
    public Options {
      if (events < 10) {
        throw new IllegalArgumentException("--events must be at least 10, got " + events);
      }
      if (rounds < 1) {
        throw new IllegalArgumentException("--rounds must be at least 1, got " + rounds);
      }
    }
  }

  /**
   * One round: the pipe, then ingest, on the same input. The CPU figures are this process's CPU
   * time per event over the same interval (with the embedded broker, the broker's work is in it
   * too): on a machine shared with other work they vary far less than wall-clock rates do. The JIT
   * figures are the seconds the JIT compilers worked in the same interval: while they are large,
   * the round measured compilation as much as either side (ingest's code keeps two cores' compilers
   * busy for its first five or so rounds of 100,000 events; README, Performance).
   */
  public record Round(
      int round,
      double pipeEventsPerSecond,
      double pipeStartupSeconds,
      double pipeCpuMicrosPerEvent,
      double pipeJitSeconds,
      double pipeWindowEvents,
      double ingestEventsPerSecond,
      double ingestStartupSeconds,
      double ingestCpuMicrosPerEvent,
      double ingestJitSeconds,
      double ingestWindowEvents) {
    public double ratio() {
      return ingestEventsPerSecond / pipeEventsPerSecond;
    }

    /**
     * Pipe CPU per event over ingest CPU per event: the ratio an otherwise idle CPU would allow.
     */
    public double cpuRatio() {
      return pipeCpuMicrosPerEvent / ingestCpuMicrosPerEvent;
    }
  }

  /** Every round, and the summary over the warm ones. */
  public record Result(
      int events, int outputs, int partitions, int threads, long commitMs, List<Round> rounds) {
    /** The rounds after the first (the first when there is only one). */
    public List<Round> warm() {
      return rounds.size() > 1 ? rounds.subList(1, rounds.size()) : rounds;
    }

    public double pipeEventsPerSecond() {
      return warm().stream().mapToDouble(Round::pipeEventsPerSecond).max().orElseThrow();
    }

    public double ingestEventsPerSecond() {
      return warm().stream().mapToDouble(Round::ingestEventsPerSecond).max().orElseThrow();
    }

    public double ratio() {
      return ingestEventsPerSecond() / pipeEventsPerSecond();
    }

    /** The median of the warm rounds' CPU ratios. */
    public double cpuRatio() {
      double[] sorted = warm().stream().mapToDouble(Round::cpuRatio).sorted().toArray();
      return sorted.length % 2 == 1
          ? sorted[sorted.length / 2]
          : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    }

    /** Human-readable lines. */
    public String describe() {
      StringBuilder out = new StringBuilder();
      out.append(
          String.format(
              Locale.ROOT,
              "best of %d warm round(s): raw pipe %,.0f events/s, ingest %,.0f events/s,"
                  + " ratio ingest/pipe %.3f (CPU per event: pipe/ingest %.3f)%n",
              warm().size(),
              pipeEventsPerSecond(),
              ingestEventsPerSecond(),
              ratio(),
              cpuRatio()));
      return out.toString();
    }

    /** The JSON form's fields, in order. */
    public Map<String, Object> json() {
      Map<String, Object> json = new java.util.LinkedHashMap<>();
      json.put("events", events);
      json.put("outputs", outputs);
      json.put("partitions", partitions);
      json.put("threads", threads);
      json.put("commit_interval_ms", commitMs);
      json.put("pipe_events_per_second", round1(pipeEventsPerSecond()));
      json.put("ingest_events_per_second", round1(ingestEventsPerSecond()));
      json.put("ratio", Math.round(ratio() * 1e4) / 1e4);
      json.put("cpu_ratio", Math.round(cpuRatio() * 1e4) / 1e4);
      json.put(
          "rounds",
          rounds.stream()
              .map(
                  r -> {
                    Map<String, Object> m = new java.util.LinkedHashMap<>();
                    m.put("round", r.round());
                    m.put("pipe_events_per_second", round1(r.pipeEventsPerSecond()));
                    m.put("pipe_startup_seconds", round1(r.pipeStartupSeconds()));
                    m.put("ingest_events_per_second", round1(r.ingestEventsPerSecond()));
                    m.put("ingest_startup_seconds", round1(r.ingestStartupSeconds()));
                    m.put("ratio", Math.round(r.ratio() * 1e4) / 1e4);
                    m.put("pipe_cpu_us_per_event", round1(r.pipeCpuMicrosPerEvent()));
                    m.put("ingest_cpu_us_per_event", round1(r.ingestCpuMicrosPerEvent()));
                    m.put("cpu_ratio", Math.round(r.cpuRatio() * 1e4) / 1e4);
                    m.put("pipe_jit_seconds", round1(r.pipeJitSeconds()));
                    m.put("ingest_jit_seconds", round1(r.ingestJitSeconds()));
                    m.put("pipe_window_events", Math.round(r.pipeWindowEvents()));
                    m.put("ingest_window_events", Math.round(r.ingestWindowEvents()));
                    return m;
                  })
              .toList());
      return json;
    }

    private static double round1(double v) {
      return Math.round(v * 10) / 10.0;
    }
  }

  private IngestBenchmark(Map<String, Object> settings, Consumer<String> progress) {
    this.progress = progress;
    this.settings = new HashMap<>(settings);
    // the run's own topics and groups: never prefstream's real ones
    this.settings.put(CommonConfig.TOPIC_PREFIX_CONFIG, "bench-" + runId + ".");
    IngestConfig config = new IngestConfig(this.settings);
    this.registry = config.schemaRegistry();
    this.topics = config.topics();
    this.commitMs = config.getLong(IngestConfig.COMMIT_INTERVAL_MS_CONFIG);
    this.partitions = config.getInt(CommonConfig.TOPIC_PARTITIONS_CONFIG);
    // ingest's stream threads (ingest.stream.threads, by default one per core and partition), and
    // as many pipe workers
    this.threads = config.streamThreads(partitions);
    this.client = config.kafkaClientProperties();
  }

  /**
   * Runs the benchmark.
   *
   * @param settings prefstream settings: at least {@code bootstrap.servers}, {@code
   *     schema.registry.url} and {@code data.dir} (Kafka Streams state goes below it); ingest keys
   *     ({@code ingest.commit.interval.ms}, ...) and Kafka client keys apply as they do to ingest
   * @param progress receives a line per step
   */
  public static Result run(Map<String, Object> settings, Options options, Consumer<String> progress)
      throws Exception {
    return new IngestBenchmark(settings, progress).run(options);
  }

  private Result run(Options options) throws Exception {
    List<String> created = new ArrayList<>();
    try (Admin admin = Admin.create(client)) {
      created.addAll(
          TopicAdmin.ensure(
              admin,
              topics.all(partitions),
              new IngestConfig(settings).getShort(CommonConfig.TOPIC_REPLICATION_FACTOR_CONFIG)));
      try {
        int outputs = produceFeedback(options.events());
        progress.accept(
            String.format(
                Locale.ROOT,
                "%,d feedback events (%,d outputs expected from ingest) on %s, %d partitions,"
                    + " %d stream thread(s), %d pipe worker(s), commit interval %d ms",
                options.events(),
                outputs,
                topics.feedback(),
                partitions,
                threads,
                Math.min(threads, partitions),
                commitMs));
        List<Round> rounds = new ArrayList<>();
        for (int round = 1; round <= options.rounds(); round++) {
          String pipeTopic = topics.prefix() + "pipe-" + round;
          admin
              .createTopics(List.of(new NewTopic(pipeTopic, partitions, (short) -1)))
              .all()
              .get(30, TimeUnit.SECONDS);
          created.add(pipeTopic);
          TopicAdmin.awaitLeaders(admin, List.of(pipeTopic));
          Measured pipe = pipe(round, pipeTopic, options.events());
          Measured ingest = ingest(round, options.events(), outputs);
          Round r =
              new Round(
                  round,
                  pipe.eventsPerSecond,
                  pipe.startupSeconds,
                  pipe.cpuMicrosPerEvent,
                  pipe.jitSeconds,
                  pipe.windowEvents,
                  ingest.eventsPerSecond,
                  ingest.startupSeconds,
                  ingest.cpuMicrosPerEvent,
                  ingest.jitSeconds,
                  ingest.windowEvents);
          rounds.add(r);
          progress.accept(
              String.format(
                  Locale.ROOT,
                  "round %d%s: raw pipe %,.0f events/s (start-up %.1f s, %.1f us CPU/event,"
                      + " JIT %.1f s), ingest %,.0f events/s (start-up %.1f s, %.1f us CPU/event,"
                      + " JIT %.1f s), ratio %.3f, CPU ratio %.3f",
                  round,
                  round == 1 && options.rounds() > 1 ? " (warm-up)" : "",
                  r.pipeEventsPerSecond(),
                  r.pipeStartupSeconds(),
                  r.pipeCpuMicrosPerEvent(),
                  r.pipeJitSeconds(),
                  r.ingestEventsPerSecond(),
                  r.ingestStartupSeconds(),
                  r.ingestCpuMicrosPerEvent(),
                  r.ingestJitSeconds(),
                  r.ratio(),
                  r.cpuRatio()));
        }
        return new Result(options.events(), outputs, partitions, threads, commitMs, rounds);
      } finally {
        deleteQuietly(admin, created);
      }
    }
  }

  /**
   * A realistic mix: 70% PAIRWISE (half with chat prompts), 10% BINARY, 10% RANKED (3 responses, 3
   * pairs), 10% EDIT, from 20,000 users over 4 models (at least one per partition), keyed by model
   * id as products do. Returns the outputs they must yield.
   */
  private int produceFeedback(int events) {
    ConfluentAvro<FeedbackEvent> codec = new ConfluentAvro<>(FeedbackEvent.class, registry, true);
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    Random random = new Random(42);
    String filler =
        "Explain the trade-offs between consistency and availability in a distributed database, "
            + "with an example from practice.";
    int outputs = 0;
    Map<String, Object> props = new HashMap<>(client);
    props.put(ProducerConfig.LINGER_MS_CONFIG, 20);
    props.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
      List<String> models = evenModels(Math.max(4, partitions), partitions);
      for (int i = 0; i < events; i++) {
        String model = models.get(i % models.size());
        FeedbackEvent.Builder b =
            FeedbackEvent.newBuilder()
                .setEventId("bench-" + runId + "-" + i)
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

  /**
   * {@code count} model ids spread evenly over the partitions by the producer's default partitioner
   * (murmur2 of the key), so that every partition, pipe worker and stream thread gets its share:
   * {@code model-0} to {@code model-3} would put three of four on one of two partitions, a property
   * of those names, not of what either side can do.
   */
  static List<String> evenModels(int count, int partitions) {
    List<String> models = new ArrayList<>();
    int n = 0;
    while (models.size() < count) {
      int wanted = models.size() % partitions; // round robin over the partitions
      String model;
      do {
        model = "model-" + n++;
      } while (Utils.toPositive(Utils.murmur2(model.getBytes(StandardCharsets.UTF_8))) % partitions
          != wanted);
      models.add(model);
    }
    return models;
  }

  record Measured(
      double eventsPerSecond,
      double startupSeconds,
      double cpuMicrosPerEvent,
      double jitSeconds,
      double windowEvents) {

    /**
     * Rates over the window between the moment at least a tenth of the {@code expected} outputs
     * were visible ({@code visibleAtStart} of them, often more than a tenth: transactions become
     * visible whole) and the moment all were. The events the window measured are the share of
     * outputs that became visible inside it: the outputs are spread evenly over the input, so
     * outputs and events are proportional.
     */
    static Measured inWindow(
        int events,
        int expected,
        long visibleAtStart,
        long windowNanos,
        long startupNanos,
        long cpuNanos,
        long jitMillis) {
      double windowEvents = (double) events * (expected - visibleAtStart) / expected;
      if (windowEvents < events * 0.1) {
        // a transaction or two held nearly the whole run: no window to measure a rate in
        throw new IllegalStateException(
            String.format(
                Locale.ROOT,
                "%,d of %,d outputs became visible before the measurement window opened: too few"
                    + " events for the commit interval; run with more --events",
                visibleAtStart,
                expected));
      }
      return new Measured(
          windowEvents / (windowNanos / 1e9),
          startupNanos / 1e9,
          cpuNanos / 1e3 / windowEvents,
          jitMillis / 1e3,
          windowEvents);
    }
  }

  /**
   * The reference: consume feedback, produce the same bytes, commit offsets in the transaction; as
   * many workers as ingest has stream threads, each with its own consumer and transactional
   * producer and its share of the partitions (assigned, so no rebalance moves one mid-run).
   */
  private Measured pipe(int round, String out, int events) throws Exception {
    try (OutputCounter counter = new OutputCounter(List.of(out), events)) {
      long start = System.nanoTime();
      AtomicInteger copied = new AtomicInteger();
      AtomicReference<RuntimeException> failure = new AtomicReference<>();
      int count = Math.min(threads, partitions); // a worker without a partition would idle
      ExecutorService workers = Executors.newFixedThreadPool(count);
      try {
        List<Future<?>> running = new ArrayList<>();
        for (int w = 0; w < count; w++) {
          List<TopicPartition> share = new ArrayList<>();
          for (int p = w; p < partitions; p += count) {
            share.add(new TopicPartition(topics.feedback(), p));
          }
          String id = topics.prefix() + "pipe-" + round + "-" + w;
          running.add(
              workers.submit(
                  () -> {
                    try {
                      return copy(id, share, out, events, copied, failure);
                    } catch (RuntimeException e) {
                      // the others stop too instead of waiting for this one's share
                      failure.compareAndSet(null, e);
                      throw e;
                    }
                  }));
        }
        for (Future<?> worker : running) {
          try {
            worker.get(10, TimeUnit.MINUTES);
          } catch (ExecutionException e) {
            // reported below: the first failure, not a worker that stopped because of it
          }
        }
      } finally {
        workers.shutdownNow();
      }
      if (failure.get() != null) {
        throw new IllegalStateException("the raw pipe failed: " + failure.get(), failure.get());
      }
      return counter.await(start, events);
    }
  }

  /**
   * One pipe worker: copies its partitions until all workers together copied {@code events}; stops
   * (its open transaction left to abort) once any worker failed.
   */
  private Void copy(
      String id,
      List<TopicPartition> share,
      String out,
      int events,
      AtomicInteger copied,
      AtomicReference<RuntimeException> failure) {
    Map<String, Object> consumerProps = new HashMap<>(client);
    consumerProps.put(ConsumerConfig.GROUP_ID_CONFIG, id);
    consumerProps.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    consumerProps.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    consumerProps.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    Map<String, Object> producerProps = new HashMap<>(client);
    producerProps.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
    try (KafkaConsumer<byte[], byte[]> consumer =
            new KafkaConsumer<>(
                consumerProps, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        KafkaProducer<byte[], byte[]> producer =
            new KafkaProducer<>(
                producerProps, new ByteArraySerializer(), new ByteArraySerializer())) {
      producer.initTransactions();
      consumer.assign(share);
      producer.beginTransaction();
      long lastCommit = System.nanoTime();
      Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
      while (copied.get() < events) {
        if (failure.get() != null) {
          return null;
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(
              "the raw pipe copied " + copied.get() + " of " + events + " events in 10 minutes");
        }
        ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
        for (ConsumerRecord<byte[], byte[]> r : records) {
          producer.send(new ProducerRecord<>(out, r.key(), r.value()));
          offsets.put(
              new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        copied.addAndGet(records.count());
        if (System.nanoTime() - lastCommit >= commitMs * 1_000_000L || copied.get() >= events) {
          producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
          producer.commitTransaction();
          producer.beginTransaction();
          lastCommit = System.nanoTime();
        }
      }
      producer.commitTransaction();
    }
    return null;
  }

  /** The subject: the ingest topology, exactly-once, reading the same feedback topic. */
  private Measured ingest(int round, int events, int outputs) throws Exception {
    Map<String, Object> ingestSettings = new HashMap<>(settings);
    ingestSettings.put(IngestConfig.APPLICATION_ID_CONFIG, topics.prefix() + "ingest-" + round);
    IngestConfig config = new IngestConfig(ingestSettings);
    try (OutputCounter counter =
        new OutputCounter(List.of(topics.pairs(), topics.unpaired()), outputs)) {
      long start = System.nanoTime();
      try (IngestService ingest = IngestService.start(config, registry)) {
        Measured result = counter.await(start, events);
        if (!ingest.deadLetterCounts().isEmpty()) {
          throw new IllegalStateException(
              "the benchmark's events were rejected: " + ingest.deadLetterCounts());
        }
        return result;
      }
    }
  }

  /** Time the JIT compilers spent so far (all compiler threads together). */
  private static long jitMillis() {
    return java.lang.management.ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean)
            java.lang.management.ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  /**
   * Deletes what the run created (best effort): its topics, the ingest rounds' internal topics
   * included, and the registry subjects of its topics.
   */
  private void deleteQuietly(Admin admin, List<String> created) {
    try {
      for (Topics.TopicSpec topic : topics.all(1)) {
        registry.deleteSubject(ConfluentAvro.subject(topic.name(), false));
        registry.deleteSubject(ConfluentAvro.subject(topic.name(), true));
      }
    } catch (RuntimeException e) {
      progress.accept(
          "could not delete the registry subjects of the benchmark's topics ("
              + topics.prefix()
              + "*): "
              + e);
    }
    try {
      Set<String> internal =
          admin.listTopics().names().get(30, TimeUnit.SECONDS).stream()
              .filter(t -> t.startsWith(topics.prefix()))
              .collect(Collectors.toSet());
      internal.addAll(created);
      admin.deleteTopics(internal.stream().sorted(Comparator.naturalOrder()).toList());
    } catch (Exception e) {
      progress.accept("could not delete the benchmark's topics (" + e + "): " + created);
    }
  }

  /** Counts new records on output topics (read_committed) and notes when 10% and all arrived. */
  private final class OutputCounter implements AutoCloseable {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final int expected;
    private final AtomicBoolean done = new AtomicBoolean();
    private final Map<TopicPartition, Long> startOffsets = new HashMap<>();
    private volatile long tenPercentAt;
    private volatile long visibleAtTenPercent;
    private volatile long allAt;
    private volatile long tenPercentCpu;
    private volatile long allCpu;
    private volatile long tenPercentJit;
    private volatile long allJit;
    private volatile RuntimeException failure;
    private final Thread thread;

    OutputCounter(List<String> outputTopics, int expected) {
      this.expected = expected;
      Map<String, Object> props = new HashMap<>(client);
      props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
      consumer =
          new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
      List<TopicPartition> assigned = new ArrayList<>();
      for (String topic : outputTopics) {
        consumer
            .partitionsFor(topic)
            .forEach(p -> assigned.add(new TopicPartition(topic, p.partition())));
      }
      consumer.assign(assigned);
      consumer.seekToEnd(assigned);
      assigned.forEach(tp -> startOffsets.put(tp, consumer.position(tp))); // fix it now
      thread = new Thread(this::count, "bench-counter");
      thread.setDaemon(true);
      thread.start();
    }

    private void count() {
      try {
        long seen = 0;
        while (!done.get() && seen < expected) {
          seen += consumer.poll(Duration.ofMillis(50)).count();
          long now = System.nanoTime();
          if (tenPercentAt == 0 && seen >= expected / 10) {
            // A transaction's outputs become visible at once, but a poll hands out at most
            // max.poll.records of them: what was visible when the window opened is the last stable
            // offset, not the count handed out so far (the first commit of a fast pipe held a
            // third of its outputs, all done before the window).
            visibleAtTenPercent = visibleNow();
            tenPercentAt = System.nanoTime();
            tenPercentCpu = processCpuNanos();
            tenPercentJit = jitMillis();
          }
          if (seen >= expected) {
            allAt = now;
            allCpu = processCpuNanos();
            allJit = jitMillis();
          }
        }
      } catch (RuntimeException e) {
        failure = e;
      }
    }

    /**
     * Outputs visible to read_committed readers now: the last stable offsets' distance from the
     * start. It counts the transactions' commit markers too, one per partition and commit (tens in
     * a round of 100,000s of outputs), which is below the measurement's resolution.
     */
    private long visibleNow() {
      Map<TopicPartition, Long> stable = consumer.endOffsets(startOffsets.keySet());
      long visible = 0;
      for (Map.Entry<TopicPartition, Long> e : startOffsets.entrySet()) {
        visible += stable.get(e.getKey()) - e.getValue();
      }
      return Math.min(visible, expected);
    }

    Measured await(long start, int events) throws InterruptedException {
      thread.join(Duration.ofMinutes(10).toMillis());
      if (failure != null) {
        throw new IllegalStateException("the output counter failed: " + failure, failure);
      }
      if (allAt == 0) {
        throw new IllegalStateException(
            "not all " + expected + " outputs arrived within 10 minutes");
      }
      return Measured.inWindow(
          events,
          expected,
          visibleAtTenPercent,
          allAt - tenPercentAt,
          tenPercentAt - start,
          allCpu - tenPercentCpu,
          allJit - tenPercentJit);
    }

    @Override
    public void close() throws InterruptedException {
      done.set(true);
      thread.join();
      consumer.close();
    }
  }
}
