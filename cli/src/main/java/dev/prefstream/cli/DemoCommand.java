package dev.prefstream.cli;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.publisher.AdapterSink;
import dev.prefstream.publisher.SigningKeys;
import dev.prefstream.publisher.SinkConfig;
import dev.prefstream.schemas.FileNames;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.ServedResponses;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.stream.TrainerConfig;
import dev.prefstream.trainer.stream.TrainerListener;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

@Command(
    name = "demo",
    description =
        "The whole pipeline in one process: embedded Kafka and schema registry (unless"
            + " --bootstrap-servers is given), ingest, trainer, sink, and a generator of synthetic"
            + " feedback with a learnable preference.",
    modelTransformer = DemoCommand.Flags.class)
final class DemoCommand implements Callable<Integer> {
  @Mixin HelpOption help;

  @Mixin KafkaOptions kafka;

  @Option(
      names = "--max-versions",
      defaultValue = "0",
      paramLabel = "N",
      description = "Exit 0 once N new versions are on disk; 0 runs until stopped.")
  int maxVersions;

  @Option(
      names = "--rate",
      defaultValue = "40",
      paramLabel = "EVENTS/S",
      description =
          "Synthetic feedback rate; 0 is as fast as possible (default: ${DEFAULT-VALUE}).")
  int rate;

  @Option(
      names = "--model",
      defaultValue = "demo",
      description = "Model id (default: ${DEFAULT-VALUE}).")
  String modelId;

  /** Flags that are aliases of keys. */
  static final class Flags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      return KeyFlags.add(
          spec,
          TrainerConfig.CONFIG,
          List.of(
              KeyFlags.alias("--data-dir", CommonConfig.DATA_DIR_CONFIG),
              KeyFlags.alias("--batch-size", Recipe.BATCH_SIZE_CONFIG),
              KeyFlags.alias("--publish-every-steps", TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG),
              KeyFlags.METRICS_PORT));
    }
  }

  @Override
  public Integer call() throws Exception {
    // the demo's own defaults sit below --config, -D and flags, as every command's do
    Map<String, Object> settings =
        kafka.settings(
            Map.of(
                TrainerConfig.MODEL_IDS_CONFIG,
                modelId,
                Recipe.MAX_LENGTH_CONFIG,
                128,
                // freshness: a version every 2 batches (or second) instead of every 10 (or 10 s)
                TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG,
                2,
                TrainerConfig.PUBLISH_EVERY_MS_CONFIG,
                1000,
                // the synthetic thumbs up and down on one prompt become pairs too
                IngestConfig.BINARY_PAIR_WINDOW_MS_CONFIG,
                60_000L));
    Path data =
        Path.of(new CommonConfig(settings).getString(CommonConfig.DATA_DIR_CONFIG))
            .toAbsolutePath();
    settings.put(CommonConfig.DATA_DIR_CONFIG, data.toString());
    settings.putIfAbsent(TrainerConfig.MODEL_DIR_CONFIG, data.resolve("demo-model").toString());
    settings.putIfAbsent(SinkConfig.DIR_CONFIG, data.resolve("adapters").toString());
    Files.createDirectories(data);
    if (!settings.containsKey(TrainerConfig.SIGNING_KEY_CONFIG)
        && !settings.containsKey(SinkConfig.TRUSTED_KEYS_CONFIG)) {
      // the default path is signed: a key pair of the demo's own, kept with its data
      Path keys = data.resolve("keys");
      SigningKeys.ensure(keys);
      settings.put(
          TrainerConfig.SIGNING_KEY_CONFIG, keys.resolve(SigningKeys.PRIVATE_FILE).toString());
      settings.put(
          SinkConfig.TRUSTED_KEYS_CONFIG, keys.resolve(SigningKeys.PUBLIC_FILE).toString());
    }
    List<AutoCloseable> running = new CopyOnWriteArrayList<>();
    CountDownLatch stopped = new CountDownLatch(1);
    AtomicBoolean stopping = new AtomicBoolean();
    Runnable stopAll =
        () -> {
          if (stopping.compareAndSet(false, true)) {
            for (int i = running.size() - 1; i >= 0; i--) {
              try {
                running.get(i).close();
              } catch (Exception e) {
                System.err.println("error while stopping: " + e);
              }
            }
            stopped.countDown();
          }
        };
    Runtime.getRuntime().addShutdownHook(new Thread(stopAll, "prefstream-demo-shutdown"));

    if (String.valueOf(settings.getOrDefault(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, ""))
        .isBlank()) {
      System.out.println("starting the embedded Kafka broker and schema registry in " + data);
      EmbeddedStack stack = EmbeddedStack.start(data);
      running.add(stack);
      settings.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      settings.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
    }
    CommonConfig common = new CommonConfig(settings);
    Services.ensureTopics(common);
    // closed after the services stopped and before the stack: the report reads the adapters topic
    AdapterReport.prepareGraphics();
    running.add(() -> writeReports(common, data));
    Telemetry telemetry = Telemetry.start(common);
    telemetry.expect("ingest", "sink", "trainer");
    running.add(telemetry);
    if (telemetry.on()) {
      System.out.println(
          "metrics at http://"
              + common.getString(CommonConfig.METRICS_ADDRESS_CONFIG)
              + ":"
              + telemetry.port()
              + "/metrics, health at /health");
    }

    Path modelDir = Path.of((String) settings.get(TrainerConfig.MODEL_DIR_CONFIG));
    if (!Files.exists(modelDir.resolve(FileNames.MODEL_CONFIG))) {
      ModelInit.write(
          modelDir, ModelInit.Spec.builder("llama").optSeed(7).optMaxPositions(256).build());
      System.out.println("wrote a tiny random Llama model to " + modelDir);
    }

    Progress progress = new Progress();
    running.add(Services.ingest(new IngestConfig(settings), telemetry));
    SinkConfig sinkConfig = new SinkConfig(settings);
    running.add(Services.sink(sinkConfig, progress::materialized, telemetry));
    running.add(Services.trainer(new TrainerConfig(settings), progress, telemetry));

    Generator generator = new Generator(common, modelId, rate, progress);
    Thread generatorThread = Until.worker("generator", generator);
    running.add(
        () -> {
          generator.stop();
          generatorThread.join();
        });

    System.out.println(
        "demo running: feedback -> ingest -> trainer -> sink ("
            + sinkConfig.dir().resolve(modelId)
            + "); Ctrl-C stops it"
            + (maxVersions > 0 ? ", or " + maxVersions + " new versions" : ""));
    boolean interactive = System.console() != null;
    long lastLine = 0;
    while (stopped.getCount() > 0) {
      Thread.sleep(250);
      long now = System.nanoTime();
      if (now - lastLine >= (interactive ? 1_000_000_000L : 5_000_000_000L)) {
        lastLine = now;
        String line = progress.line(now);
        System.out.print(interactive ? "\r" + line + "   " : line + "\n");
        System.out.flush();
      }
      if (maxVersions > 0 && progress.materialized.size() >= maxVersions) {
        System.out.println(interactive ? "\n" + progress.line(now) : progress.line(now));
        System.out.println(
            "freshness at "
                + (rate > 0 ? rate + " events/s" : "full speed")
                + ", events after the warm-up: "
                + progress.freshness());
        System.out.println(maxVersions + " versions materialized:");
        progress.materialized.stream()
            .limit(maxVersions)
            .forEach(d -> System.out.println("  " + d));
        stopAll.run();
        return 0;
      }
    }
    return 0;
  }

  /** report-<model>.png and .html under the data dir, from what the adapters topic holds now. */
  private void writeReports(CommonConfig common, Path data) {
    if (!dev.prefstream.schemas.ModelIds.isValid(modelId)) {
      return; // the trainer trained nothing under it either, and it names a file
    }
    try {
      AdapterReport report = new AdapterReport(AdapterHistory.read(common, modelId));
      for (String format : List.of("png", "html")) {
        Path out = data.resolve("report-" + modelId + "." + format);
        report.write(out, format);
        System.out.println("report: " + out);
      }
    } catch (RuntimeException e) {
      System.err.println("error: no report written: " + e);
      if (Boolean.getBoolean("prefstream.stacktraces")) {
        e.printStackTrace();
      }
    }
  }

  /** Counters the components update and the progress line reads. */
  static final class Progress implements TrainerListener {
    final AtomicLong events = new AtomicLong();
    final AtomicLong pairsTrained = new AtomicLong();
    final AtomicLong steps = new AtomicLong();
    final AtomicLong published = new AtomicLong();

    /**
     * Events before this instant (epoch ms) are left out of the freshness report: the generator
     * sets it when the warm-up is over and it starts producing at the rate.
     */
    volatile long steadySinceMs = Long.MAX_VALUE;

    final List<Path> materialized = new CopyOnWriteArrayList<>();

    /** The newest feedback event (epoch ms) with a pair in a version on disk. */
    volatile long newestOnDiskMs = Long.MIN_VALUE;

    private final Map<Long, Long> newestByVersion = new ConcurrentHashMap<>();
    private final Map<Long, List<Instant>> occurredAtByVersion = new ConcurrentHashMap<>();
    private final List<Long> freshnessMs = new ArrayList<>();
    private final List<Long> committedMs = new ArrayList<>();
    private final Deque<long[]> window = new ArrayDeque<>();
    private volatile double loss = Double.NaN;
    private volatile double accuracy = Double.NaN;
    private volatile double stepMillis = Double.NaN;

    @Override
    public void onStep(
        String model, long step, boolean applied, int pairs, Map<String, Double> metrics) {
      steps.incrementAndGet();
      pairsTrained.addAndGet(pairs);
      loss = metrics.getOrDefault(MetricNames.LOSS, Double.NaN);
      stepMillis = metrics.getOrDefault(MetricNames.STEP_MS, Double.NaN);
      accuracy = metrics.getOrDefault(MetricNames.REWARD_ACCURACY, Double.NaN);
    }

    @Override
    public void onPublished(AdapterManifest manifest, List<Instant> pairOccurredAt) {
      long now = System.currentTimeMillis();
      published.incrementAndGet();
      pairOccurredAt.stream()
          .mapToLong(Instant::toEpochMilli)
          .max()
          .ifPresent(newest -> newestByVersion.put(manifest.getVersion(), newest));
      List<Instant> steady =
          pairOccurredAt.stream().filter(t -> t.toEpochMilli() >= steadySinceMs).toList();
      if (!steady.isEmpty()) {
        occurredAtByVersion.put(manifest.getVersion(), steady);
        synchronized (freshnessMs) {
          steady.forEach(t -> committedMs.add(now - t.toEpochMilli()));
        }
      }
    }

    /** Freshness of every pair in a version: from its feedback event to the version on disk. */
    void materialized(AdapterSink.Materialized m) {
      long now = System.currentTimeMillis();
      Long newest = newestByVersion.remove(m.version());
      if (newest != null && newest > newestOnDiskMs) {
        newestOnDiskMs = newest; // the sink's one thread is the only writer
      }
      List<Instant> occurred = occurredAtByVersion.remove(m.version());
      if (occurred != null) {
        synchronized (freshnessMs) {
          occurred.forEach(t -> freshnessMs.add(now - t.toEpochMilli()));
        }
      }
      materialized.add(m.dir());
    }

    /**
     * Per pair, from its feedback event's occurred_at: to the version holding it committed, and to
     * that version on disk at the sink; p50 and p99 over every pair reported so far.
     */
    String freshness() {
      synchronized (freshnessMs) {
        return "event -> version committed "
            + percentiles(committedMs)
            + "; event -> version on disk "
            + percentiles(freshnessMs);
      }
    }

    private static String percentiles(List<Long> millis) {
      if (millis.isEmpty()) {
        return "n/a";
      }
      List<Long> sorted = new ArrayList<>(millis);
      Collections.sort(sorted);
      return String.format(
          "p50 %.2f s, p99 %.2f s (%d pairs)",
          percentile(sorted, 0.50) / 1e3, percentile(sorted, 0.99) / 1e3, sorted.size());
    }

    private static long percentile(List<Long> sorted, double q) {
      return sorted.get((int) Math.min(sorted.size() - 1, Math.ceil(q * sorted.size()) - 1));
    }

    /** events/s and pairs/s over the last ten seconds. */
    synchronized String line(long now) {
      window.addLast(new long[] {now, events.get(), pairsTrained.get()});
      while (window.size() > 1 && now - window.peekFirst()[0] > 10_000_000_000L) {
        window.removeFirst();
      }
      long[] first = window.peekFirst();
      double seconds = Math.max(1e-9, (now - first[0]) / 1e9);
      return String.format(
          "events %,d (%.0f/s) | trained %,d pairs (%.0f/s) | step %d (%.0f ms) | loss %.4f"
              + " | reward acc %.2f | versions published %d, on disk %d",
          events.get(),
          (events.get() - first[1]) / seconds,
          pairsTrained.get(),
          (pairsTrained.get() - first[2]) / seconds,
          steps.get(),
          stepMillis,
          loss,
          accuracy,
          published.get(),
          materialized.size());
    }
  }

  /**
   * Produces synthetic feedback like a product would: Confluent-framed Avro, keyed by model id.
   *
   * <p>It starts with a warm-up of {@link #WARM_UP_ROUNDS} rounds: {@link #WARM_UP_EVENTS} events
   * at once, then nothing until the pipeline has drained them: a version is on disk holding a pair
   * of one of the round's last {@link #DRAIN_PAIRWISE} pairwise events or a later event (one
   * model's feedback and pairs each take one partition, read in order, so every pair made before it
   * is on disk too; a few pairs may follow it). Not only the last one's: the trainer holds out a
   * share of pairs (trainer.holdout.percent, by pair id) and never trains them. The trainer loads
   * its model and its first steps run slowly (JIT, libtorch's allocator): at the rate from the
   * first second, a queue builds in front of it that takes a while to drain, and a warm-up that
   * moved on before the queue was empty handed it to the first events at the rate (3-4 s of it, the
   * whole p99). Only after the warm-up does it produce at the rate, and the freshness report counts
   * only the events from then on: it measures the pipeline at that rate, not the start-up.
   */
  static final class Generator implements Runnable {
    /** Enough for a few batches of the demo's size, pairs and joined thumbs alike. */
    static final int WARM_UP_EVENTS = 64;

    static final int WARM_UP_ROUNDS = 4;

    /**
     * A round is drained once a pair of one of its last this many pairwise events is on disk: at
     * the default 5% holdout, all of them held out has a chance of 6 in a million.
     */
    static final int DRAIN_PAIRWISE = 4;

    /** How long a warm-up round waits to be drained before the generator goes on anyway. */
    private static final long WARM_UP_LIMIT_NANOS = 120_000_000_000L;

    private final CommonConfig config;
    private final SyntheticFeedback feedback;
    private final int rate;
    private final Progress progress;
    private final AtomicBoolean running = new AtomicBoolean(true);

    Generator(CommonConfig config, String modelId, int rate, Progress progress) {
      this.config = config;
      this.feedback = new SyntheticFeedback(modelId, 1);
      this.rate = rate;
      this.progress = progress;
    }

    @Override
    public void run() {
      Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
      props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
      props.put(ProducerConfig.LINGER_MS_CONFIG, 10);
      String topic = config.topics().feedback();
      ConfluentAvro<FeedbackEvent> codec =
          new ConfluentAvro<>(FeedbackEvent.class, config.schemaRegistry(), true);
      String subject = ConfluentAvro.subject(topic, false);
      String servedTopic = config.topics().served();
      ConfluentAvro<ServedResponses> servedCodec =
          new ConfluentAvro<>(ServedResponses.class, config.schemaRegistry(), true);
      String servedSubject = ConfluentAvro.subject(servedTopic, false);
      long start = 0;
      long sent = 0;
      // the occurred_at of the round's last DRAIN_PAIRWISE pairwise events, oldest first
      Deque<Long> lastPairwise = new ArrayDeque<>();
      try (KafkaProducer<String, byte[]> producer =
          new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
        while (running.get()) {
          if (sent > 0 && sent <= WARM_UP_ROUNDS * WARM_UP_EVENTS && sent % WARM_UP_EVENTS == 0) {
            producer.flush();
            awaitDrained(lastPairwise.isEmpty() ? Long.MIN_VALUE : lastPairwise.peekFirst());
            lastPairwise.clear();
            if (sent == WARM_UP_ROUNDS * WARM_UP_EVENTS) {
              progress.steadySinceMs = System.currentTimeMillis();
              start = System.nanoTime();
            }
          }
          SyntheticFeedback.Emission emission = feedback.nextOfAnyKind();
          if (emission.impression() != null) {
            ServedResponses impression = emission.impression();
            producer.send(
                new ProducerRecord<>(
                    servedTopic,
                    impression.getRequestId(),
                    servedCodec.encode(servedSubject, impression)));
          }
          FeedbackEvent event = emission.event();
          if (event.getKind() == FeedbackKind.PAIRWISE
              && !event.getChosen().equals(event.getRejected())) {
            if (lastPairwise.size() == DRAIN_PAIRWISE) {
              lastPairwise.removeFirst();
            }
            lastPairwise.addLast(event.getOccurredAt().toEpochMilli());
          }
          producer.send(
              new ProducerRecord<>(topic, event.getModelId(), codec.encode(subject, event)));
          progress.events.incrementAndGet();
          sent++;
          long steady = sent - WARM_UP_ROUNDS * WARM_UP_EVENTS;
          if (rate > 0 && steady > 0) {
            long due = start + steady * 1_000_000_000L / rate;
            long wait = due - System.nanoTime();
            if (wait > 0) {
              Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            }
          }
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }

    /** Waits until a version on disk holds a pair of an event at or after {@code occurredAtMs}. */
    private void awaitDrained(long occurredAtMs) throws InterruptedException {
      long deadline = System.nanoTime() + WARM_UP_LIMIT_NANOS;
      while (running.get() && progress.newestOnDiskMs < occurredAtMs) {
        if (System.nanoTime() > deadline) {
          System.err.println(
              "demo: a warm-up round's pairs not on disk after "
                  + WARM_UP_LIMIT_NANOS / 1_000_000_000L
                  + " s; going on anyway");
          return;
        }
        Thread.sleep(20);
      }
    }

    void stop() {
      running.set(false);
    }
  }
}
