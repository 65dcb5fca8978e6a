package dev.prefstream.cli;

import dev.prefstream.ingest.IngestService;
import dev.prefstream.publisher.AdapterSink;
import dev.prefstream.publisher.SinkListener;
import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.MetricNames.Meters;
import dev.prefstream.schemas.ModelIds;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.stream.StreamingTrainer;
import dev.prefstream.trainer.stream.TrainerListener;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.streams.KafkaStreams;

/**
 * The meters of one process and the server that shows them: the services report through their
 * existing hooks ({@link TrainerListener}, {@link SinkListener}, the sink's materialized callback,
 * ingest's Kafka Streams sensors), Micrometer's binders add the Kafka clients and the JVM. With
 * {@code metrics.port} 0 this is {@link #OFF}: no registry, no server, the hooks pass through.
 */
class Telemetry implements AutoCloseable {
  /** No meters, no server. */
  static final Telemetry OFF = new Telemetry(null);

  /** How often the Kafka binders look for new client metrics (per-partition lag appears late). */
  private static final Duration KAFKA_REFRESH = Duration.ofSeconds(5);

  private static final Duration FRESHNESS_MIN = Duration.ofMillis(50);
  private static final Duration FRESHNESS_MAX = Duration.ofHours(24);

  private final PrometheusMeterRegistry registry;
  private final Map<String, BooleanSupplier> readiness = new ConcurrentHashMap<>();
  private final List<AutoCloseable> closeables = new CopyOnWriteArrayList<>();
  private final Map<String, ModelGauges> models = new ConcurrentHashMap<>();
  // function counters hold their state object weakly: these are held here for as long as we run
  private final List<Object> keptAlive = new CopyOnWriteArrayList<>();
  private final ScheduledExecutorService kafkaRefresh;
  private MetricsServer server;

  private Telemetry(PrometheusMeterRegistry registry) {
    this.registry = registry;
    this.kafkaRefresh =
        registry == null
            ? null
            : Executors.newSingleThreadScheduledExecutor(
                r -> {
                  Thread t = new Thread(r, "prefstream-kafka-metrics");
                  t.setDaemon(true);
                  return t;
                });
  }

  /**
   * Meters plus the HTTP server at {@code metrics.address:metrics.port}, or {@link #OFF} when the
   * port is 0. Fails at start-up, naming the keys, when the address cannot be bound.
   */
  static Telemetry start(CommonConfig config) {
    int port = config.getInt(CommonConfig.METRICS_PORT_CONFIG);
    if (port == 0) {
      return OFF;
    }
    Telemetry telemetry = withRegistry(config.topics());
    try {
      telemetry.server =
          MetricsServer.start(
              config.getString(CommonConfig.METRICS_ADDRESS_CONFIG),
              port,
              telemetry.registry,
              telemetry::readiness);
    } catch (RuntimeException e) {
      telemetry.close();
      throw e;
    }
    return telemetry;
  }

  /** Meters without a server (the benchmark and tests scrape the registry directly). */
  static Telemetry withRegistry() {
    return withRegistry(null);
  }

  /** As above; Kafka meters of {@code topics} (when given) keep only their proper topic tag. */
  private static Telemetry withRegistry(Topics topics) {
    Telemetry telemetry = new Telemetry(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    if (topics != null) {
      telemetry.withoutLegacyTopicTags(topics);
    }
    for (MeterBinder binder :
        List.of(
            new JvmMemoryMetrics(),
            new JvmThreadMetrics(),
            new ClassLoaderMetrics(),
            new ProcessorMetrics(),
            new UptimeMetrics(),
            new FileDescriptorMetrics())) {
      binder.bindTo(telemetry.registry);
    }
    JvmGcMetrics gc = new JvmGcMetrics();
    gc.bindTo(telemetry.registry);
    telemetry.closeables.add(gc);
    return telemetry;
  }

  /**
   * Kafka's fetch metrics carry each topic twice, as named and with dots replaced by underscores
   * (the old metric-name form); only the first is kept, so sums by topic count once.
   */
  private void withoutLegacyTopicTags(Topics topics) {
    Set<String> legacy = new HashSet<>();
    for (Topics.TopicSpec t : topics.all(1)) {
      if (t.name().contains(".")) {
        legacy.add(t.name().replace('.', '_'));
      }
    }
    registry
        .config()
        .meterFilter(
            MeterFilter.deny(
                id -> id.getName().startsWith("kafka.") && legacy.contains(id.getTag("topic"))));
  }

  /**
   * Components that will register: /health stays 503 until each has registered and is ready (the
   * demo starts them one after another).
   */
  void expect(String... components) {
    if (on()) {
      for (String c : components) {
        readiness.putIfAbsent(c, () -> false);
      }
    }
  }

  boolean on() {
    return registry != null;
  }

  /** The registry, or null when off. */
  PrometheusMeterRegistry registry() {
    return registry;
  }

  /** The port the server listens on (useful when it was asked for a free one), or 0. */
  int port() {
    return server == null ? 0 : server.port();
  }

  /** Component name -> ready, for /health. */
  Map<String, Boolean> readiness() {
    Map<String, Boolean> ready = new TreeMap<>();
    readiness.forEach((component, check) -> ready.put(component, check.getAsBoolean()));
    return ready;
  }

  void ready(String component, BooleanSupplier check) {
    if (on()) {
      readiness.put(component, check);
      Gauge.builder(Meters.READY, () -> check.getAsBoolean() ? 1 : 0)
          .description("1 when the component is ready: consumers assigned, state restored")
          .tag(Meters.TAG_COMPONENT, component)
          .register(registry);
    }
  }

  // ---------------------------------------------------------------- ingest

  /** Events in by kind, dead letters by reason, Kafka Streams metrics; ready once RUNNING. */
  void ingest(IngestService ingest) {
    ready("ingest", () -> ingest.state() == KafkaStreams.State.RUNNING);
    if (!on()) {
      return;
    }
    ingestMeters(ingest::eventCounts, ingest::deadLetterCounts);
    bind(
        new KafkaStreamsMetrics(
            ingest.streams(),
            Tags.of(Meters.TAG_COMPONENT, "ingest"),
            kafkaRefresh,
            KAFKA_REFRESH));
  }

  /** Events in by kind and ingest's dead letters by reason, read from ingest's counters. */
  void ingestMeters(Supplier<Map<String, Long>> events, Supplier<Map<String, Long>> deadLetters) {
    keptAlive.add(events);
    keptAlive.add(deadLetters);
    List<String> kinds = new ArrayList<>();
    for (FeedbackKind kind : FeedbackKind.values()) {
      kinds.add(kind.name().toLowerCase(Locale.ROOT));
    }
    kinds.add("served");
    kinds.add("rejected");
    for (String kind : kinds) {
      FunctionCounter.builder(
              Meters.EVENTS_IN, events, e -> e.get().getOrDefault(kind, 0L).doubleValue())
          .description("Records ingest read from feedback and served, by kind")
          .tag(Meters.TAG_KIND, kind)
          .register(registry);
    }
    for (DeadLetterReason reason : DeadLetterReason.values()) {
      FunctionCounter.builder(
              Meters.DEAD_LETTERS,
              deadLetters,
              d -> d.get().getOrDefault(reason.code(), 0L).doubleValue())
          .description("Records sent to the dead-letter topic, by reason and stage")
          .tags(Meters.TAG_REASON, reason.code(), Meters.TAG_STAGE, "ingest")
          .register(registry);
    }
  }

  // ---------------------------------------------------------------- trainer

  /** Kafka client metrics of the trainer's consumer; ready once it has partitions assigned. */
  void trainer(StreamingTrainer trainer) {
    ready("trainer", () -> assignedPartitions(trainer.consumer().metrics()) > 0);
    if (on()) {
      bind(
          new KafkaClientMetrics(
              trainer.consumer(),
              Tags.of(Meters.TAG_COMPONENT, "trainer"),
              kafkaRefresh,
              KAFKA_REFRESH));
    }
  }

  /** A listener that records the trainer's meters, then calls {@code next}. */
  TrainerListener trainerListener(TrainerListener next) {
    if (!on()) {
      return next;
    }
    return new TrainerListener() {
      @Override
      public void onStep(
          String modelId, long step, boolean applied, int pairs, Map<String, Double> metrics) {
        String model = label(modelId);
        Counter.builder(Meters.STEPS)
            .description("Batches processed: applied (an optimizer step) or skipped (non-finite)")
            .tags(Meters.TAG_MODEL, model, Meters.TAG_OUTCOME, applied ? "applied" : "skipped")
            .register(registry)
            .increment();
        Double ms = metrics.get(MetricNames.STEP_MS);
        if (ms != null) {
          Timer.builder(Meters.STEP_DURATION)
              .description("Wall time of one batch: forward, backward and optimizer update")
              .tag(Meters.TAG_MODEL, model)
              .publishPercentileHistogram()
              .minimumExpectedValue(Duration.ofMillis(1))
              .maximumExpectedValue(Duration.ofMinutes(5))
              .register(registry)
              .record(Duration.ofNanos((long) (ms * 1e6)));
        }
        if (applied) {
          Counter.builder(Meters.PAIRS_TRAINED)
              .description("Pairs trained in applied batches")
              .tag(Meters.TAG_MODEL, model)
              .register(registry)
              .increment(pairs);
          ModelGauges g = gauges(model);
          g.loss = metrics.getOrDefault(MetricNames.LOSS, Double.NaN);
          g.rewardAccuracy = metrics.getOrDefault(MetricNames.REWARD_ACCURACY, Double.NaN);
          g.rewardMargin = metrics.getOrDefault(MetricNames.REWARD_MARGINS, Double.NaN);
        }
        next.onStep(modelId, step, applied, pairs, metrics);
      }

      @Override
      public void onPublished(AdapterManifest manifest, List<Instant> pairOccurredAt) {
        String model = label(manifest.getModelId());
        Counter.builder(Meters.VERSIONS_PUBLISHED)
            .description("Adapter versions published")
            .tag(Meters.TAG_MODEL, model)
            .register(registry)
            .increment();
        ModelGauges g = gauges(model);
        g.version = manifest.getVersion();
        evaluated(g, manifest.getMetrics());
        Timer freshness = freshness(Meters.FRESHNESS_COMMITTED, model);
        long now = System.currentTimeMillis();
        for (Instant t : pairOccurredAt) {
          freshness.record(Duration.ofMillis(Math.max(0, now - t.toEpochMilli())));
        }
        next.onPublished(manifest, pairOccurredAt);
      }

      @Override
      public void onRefused(VersionRefusal refusal) {
        String model = label(refusal.getModelId());
        Counter.builder(Meters.VERSIONS_REFUSED)
            .description("Candidates refused (gate, non-finite weights), by reason")
            .tags(Meters.TAG_MODEL, model, Meters.TAG_REASON, refusal.getReason())
            .register(registry)
            .increment();
        evaluated(gauges(model), refusal.getMetrics());
        next.onRefused(refusal);
      }

      @Override
      public void onDeadLetter(String modelId, String reason) {
        Counter.builder(Meters.DEAD_LETTERS)
            .description("Records sent to the dead-letter topic, by reason and stage")
            .tags(Meters.TAG_REASON, reason, Meters.TAG_STAGE, "trainer")
            .register(registry)
            .increment();
        next.onDeadLetter(modelId, reason);
      }
    };
  }

  private static void evaluated(ModelGauges g, Map<String, Double> metrics) {
    Double accuracy = metrics.get(MetricNames.eval(MetricNames.REWARD_ACCURACY));
    if (accuracy != null) {
      g.evalRewardAccuracy = accuracy;
    }
    Double kl = metrics.get(MetricNames.eval(MetricNames.KL));
    if (kl != null) {
      g.kl = kl;
    }
  }

  /** Per-model gauge values, registered once per model. */
  private static final class ModelGauges {
    volatile double loss = Double.NaN;
    volatile double rewardAccuracy = Double.NaN;
    volatile double rewardMargin = Double.NaN;
    volatile double evalRewardAccuracy = Double.NaN;
    volatile double kl = Double.NaN;
    volatile double version = Double.NaN;
  }

  private ModelGauges gauges(String model) {
    return models.computeIfAbsent(
        model,
        m -> {
          ModelGauges g = new ModelGauges();
          gauge(Meters.LOSS, m, g, x -> x.loss, "Mean loss of the last applied batch");
          gauge(
              Meters.REWARD_ACCURACY,
              m,
              g,
              x -> x.rewardAccuracy,
              "Reward accuracy of the last applied batch (chosen reward above rejected)");
          gauge(
              Meters.REWARD_MARGIN,
              m,
              g,
              x -> x.rewardMargin,
              "Mean reward margin (chosen - rejected) of the last applied batch");
          gauge(
              Meters.EVAL_REWARD_ACCURACY,
              m,
              g,
              x -> x.evalRewardAccuracy,
              "Held-out reward accuracy of the last evaluated candidate");
          gauge(
              Meters.KL,
              m,
              g,
              x -> x.kl,
              "Held-out mean per-token KL(policy || reference) of the last candidate, nats");
          gauge(Meters.VERSION, m, g, x -> x.version, "Latest published version");
          return g;
        });
  }

  private void gauge(
      String name,
      String model,
      ModelGauges g,
      ToDoubleFunction<ModelGauges> value,
      String description) {
    Gauge.builder(name, g, value)
        .description(description)
        .tag(Meters.TAG_MODEL, model)
        .strongReference(true)
        .register(registry);
  }

  private Timer freshness(String name, String model) {
    return Timer.builder(name)
        .description(
            name.equals(Meters.FRESHNESS_COMMITTED)
                ? "Feedback event occurred -> the version holding its pair committed, per pair"
                : "Feedback event occurred -> the version holding its pair on disk, per pair")
        .tag(Meters.TAG_MODEL, model)
        .publishPercentileHistogram()
        .minimumExpectedValue(FRESHNESS_MIN)
        .maximumExpectedValue(FRESHNESS_MAX)
        .register(registry);
  }

  // ---------------------------------------------------------------- sink

  /** Kafka client metrics of the sink's consumer; ready once it has partitions assigned. */
  void sink(AdapterSink sink) {
    ready("sink", () -> assignedPartitions(sink.consumer().metrics()) > 0);
    if (on()) {
      bind(
          new KafkaClientMetrics(
              sink.consumer(), Tags.of(Meters.TAG_COMPONENT, "sink"), kafkaRefresh, KAFKA_REFRESH));
    }
  }

  /** Versions by outcome and serving-engine load calls by outcome. */
  SinkListener sinkListener() {
    if (!on()) {
      return SinkListener.NONE;
    }
    return new SinkListener() {
      @Override
      public void onVersion(String modelId, long version, String outcome) {
        Counter.builder(Meters.SINK_VERSIONS)
            .description("Versions the sink handled, by outcome")
            .tags(Meters.TAG_MODEL, label(modelId), Meters.TAG_OUTCOME, outcome)
            .register(registry)
            .increment();
      }

      @Override
      public void onReload(String modelId, long version, String outcome, Duration took) {
        Counter.builder(Meters.RELOADS)
            .description("Serving-engine adapter load calls, by outcome")
            .tags(Meters.TAG_MODEL, label(modelId), Meters.TAG_OUTCOME, outcome)
            .register(registry)
            .increment();
        Timer.builder(Meters.RELOAD_DURATION)
            .description("How long a serving-engine adapter load call took")
            .tag(Meters.TAG_OUTCOME, outcome)
            .register(registry)
            .record(took);
      }
    };
  }

  /** Records on-disk freshness of each pair of a materialized version, then calls {@code next}. */
  Consumer<AdapterSink.Materialized> onMaterialized(Consumer<AdapterSink.Materialized> next) {
    if (!on()) {
      return next;
    }
    return m -> {
      Timer freshness = freshness(Meters.FRESHNESS_ON_DISK, label(m.modelId()));
      long now = System.currentTimeMillis();
      for (Instant t : m.manifest().getPairOccurredAt()) {
        freshness.record(Duration.ofMillis(Math.max(0, now - t.toEpochMilli())));
      }
      next.accept(m);
    };
  }

  // ---------------------------------------------------------------- helpers

  /** Model ids come from untrusted topics: only valid ones become label values. */
  private static String label(String modelId) {
    return modelId != null && ModelIds.isValid(modelId) ? modelId : "invalid";
  }

  /** The consumer coordinator's assigned-partitions gauge (thread-safe to read), or 0. */
  static double assignedPartitions(Map<MetricName, ? extends Metric> metrics) {
    for (Map.Entry<MetricName, ? extends Metric> e : metrics.entrySet()) {
      if (e.getKey().name().equals("assigned-partitions")
          && e.getKey().group().equals("consumer-coordinator-metrics")
          && e.getValue().metricValue() instanceof Number n) {
        return n.doubleValue();
      }
    }
    return 0;
  }

  private void bind(MeterBinder binder) {
    binder.bindTo(registry);
    if (binder instanceof AutoCloseable c) {
      closeables.add(c);
    }
  }

  /** What stops {@code service} first, then {@code telemetry}. */
  static AutoCloseable closing(AutoCloseable service, Telemetry telemetry) {
    return () -> {
      try {
        service.close();
      } finally {
        telemetry.close();
      }
    };
  }

  /** Stops the server, the binders and their refresh thread. */
  @Override
  public void close() {
    if (server != null) {
      server.close();
    }
    for (AutoCloseable c : closeables) {
      try {
        c.close();
      } catch (Exception e) {
        System.err.println("error while closing metrics: " + e);
      }
    }
    if (kafkaRefresh != null) {
      kafkaRefresh.shutdownNow();
    }
    if (registry != null) {
      registry.close();
    }
  }
}
