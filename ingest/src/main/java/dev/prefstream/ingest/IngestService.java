package dev.prefstream.ingest;

import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.registry.SchemaRegistry;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.UsePartitionTimeOnInvalidTimestamp;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the ingest topology: exactly-once (v2), state under data.dir, threads replaced on errors.
 * Bad records never reach here as errors (they are dead letters); what does is a registry that
 * cannot be reached or a broker error, and a replaced thread retries from the last commit.
 */
public final class IngestService implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(IngestService.class);

  /** Room for the largest input record plus what ingest wraps around it. */
  static final int LARGE_RECORD_BYTES = Topics.DEAD_LETTER_MAX_MESSAGE_BYTES;

  private final KafkaStreams streams;
  private final ByModelPurger purger;

  private IngestService(KafkaStreams streams, ByModelPurger purger) {
    this.streams = streams;
    this.purger = purger;
  }

  /** Creates missing topics, then starts the topology; returns once it is running. */
  public static IngestService start(IngestConfig config, SchemaRegistry registry) {
    Map<String, Object> client = config.kafkaClientProperties();
    int byModelPartitions;
    try (Admin admin = Admin.create(client)) {
      short replication = config.getShort(IngestConfig.TOPIC_REPLICATION_FACTOR_CONFIG);
      TopicAdmin.ensure(
          admin,
          config.topics().all(config.getInt(IngestConfig.TOPIC_PARTITIONS_CONFIG)),
          replication);
      byModelPartitions = ensureByModelTopic(admin, config, replication);
    }
    Properties props = new Properties();
    props.putAll(client);
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    props.put(StreamsConfig.STATE_DIR_CONFIG, config.stateDir().toAbsolutePath().toString());
    // the by-model topic has as many partitions as the larger input topic: one task per partition
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, config.streamThreads(byModelPartitions));
    props.put(
        StreamsConfig.COMMIT_INTERVAL_MS_CONFIG,
        config.getLong(IngestConfig.COMMIT_INTERVAL_MS_CONFIG));
    // a record at the broker's size limit must still fit where ingest writes it whole, with some
    // metadata around it: the dead-letter topic, the repartition topic and the store changelogs
    props.putIfAbsent(
        StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG), LARGE_RECORD_BYTES);
    props.putIfAbsent(
        StreamsConfig.topicPrefix(TopicConfig.MAX_MESSAGE_BYTES_CONFIG),
        Integer.toString(LARGE_RECORD_BYTES));
    // batches of 16 KB (the default) hold ~40 pairs: one produce request per 40 records per
    // partition; larger batches cut the broker's per-request work (linger stays at Streams' 100 ms,
    // and every commit flushes anyway)
    props.putIfAbsent(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 256 * 1024);
    // process what is buffered without first waiting for every input partition's fetch: Kafka
    // Streams 4.4 otherwise formats two log strings per empty input partition per record, whether
    // or not its trace logging is on (13% of the stream thread: served and by-model partitions are
    // often empty). Ordering across partitions only ever mattered to choices that arrive before
    // their impressions, and those wait for served time, not stream time (ServedJoiner)
    props.putIfAbsent(
        StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, StreamsConfig.MAX_TASK_IDLE_MS_DISABLED);
    // a record without a valid timestamp takes its partition's time instead of failing the task
    props.putIfAbsent(
        StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG,
        UsePartitionTimeOnInvalidTimestamp.class);
    KafkaStreams streams =
        new KafkaStreams(IngestTopology.build(config, registry, byModelPartitions), props);
    streams.setUncaughtExceptionHandler(
        e -> {
          log.error("ingest stream thread failed; replacing it (its transaction is aborted)", e);
          return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
        });
    streams.start();
    return new IngestService(
        streams,
        new ByModelPurger(client, config.applicationId(), IngestTopology.byModelTopic(config)));
  }

  /**
   * Creates the by-model topic when missing, with as many partitions as the larger input topic (so
   * that feedback keyed by model id is already where its model's state is), and returns its
   * partition count. Records on it are deleted once consumed ({@link ByModelPurger}), so it keeps
   * them until then, however long ingest is down.
   */
  static int ensureByModelTopic(Admin admin, IngestConfig config, short replication) {
    String topic = IngestTopology.byModelTopic(config);
    Topics topics = config.topics();
    try {
      Map<String, Integer> inputs =
          partitionCounts(admin, List.of(topics.feedback(), topics.served()));
      int partitions = Math.max(inputs.get(topics.feedback()), inputs.get(topics.served()));
      TopicAdmin.ensure(
          admin,
          List.of(
              new Topics.TopicSpec(
                  topic,
                  partitions,
                  Map.of(
                      TopicConfig.CLEANUP_POLICY_CONFIG,
                      TopicConfig.CLEANUP_POLICY_DELETE,
                      TopicConfig.RETENTION_MS_CONFIG,
                      "-1",
                      TopicConfig.SEGMENT_BYTES_CONFIG,
                      Integer.toString(50 * 1024 * 1024),
                      TopicConfig.MAX_MESSAGE_BYTES_CONFIG,
                      Integer.toString(LARGE_RECORD_BYTES)))),
          replication);
      return partitionCounts(admin, List.of(topic)).get(topic);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating " + topic, e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("cannot describe the topics of ingest: " + e.getCause(), e);
    }
  }

  private static Map<String, Integer> partitionCounts(Admin admin, List<String> names)
      throws InterruptedException, ExecutionException, TimeoutException {
    Map<String, Integer> counts = new HashMap<>();
    admin
        .describeTopics(names)
        .allTopicNames()
        .get(30, TimeUnit.SECONDS)
        .forEach((name, description) -> counts.put(name, description.partitions().size()));
    return counts;
  }

  public KafkaStreams.State state() {
    return streams.state();
  }

  /** The running streams instance, for metrics binders (its metrics() is thread-safe). */
  public KafkaStreams streams() {
    return streams;
  }

  /** Records read by this instance since it started, per kind (see {@link #deadLetterCounts}). */
  public Map<String, Long> eventCounts() {
    return sumBy(streams.metrics(), DecodeProcessor.EVENTS_METRIC_NAME, "kind");
  }

  /**
   * Records sent to dead letters by this instance since it started, per reason code (attempts: a
   * retried transaction counts again; the dead-letter topic itself is exact).
   */
  public Map<String, Long> deadLetterCounts() {
    return deadLetterCounts(streams.metrics());
  }

  /** Sums the per-task dead-letter counters in {@code metrics} by reason. */
  public static Map<String, Long> deadLetterCounts(Map<MetricName, ? extends Metric> metrics) {
    return sumBy(metrics, DeadLetterProcessor.METRIC_NAME, "reason");
  }

  private static Map<String, Long> sumBy(
      Map<MetricName, ? extends Metric> metrics, String metricName, String tag) {
    Map<String, Long> counts = new TreeMap<>();
    metrics.forEach(
        (name, metric) -> {
          if (name.group().equals(DeadLetterProcessor.METRIC_GROUP)
              && name.name().equals(metricName)) {
            counts.merge(
                name.tags().get(tag), ((Number) metric.metricValue()).longValue(), Long::sum);
          }
        });
    return counts;
  }

  @Override
  public void close() {
    try {
      streams.close(Duration.ofSeconds(30));
    } finally {
      purger.close();
    }
  }
}
