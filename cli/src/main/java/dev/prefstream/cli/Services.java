package dev.prefstream.cli;

import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.ingest.IngestService;
import dev.prefstream.publisher.AdapterSink;
import dev.prefstream.publisher.SinkConfig;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.stream.DpoLearner;
import dev.prefstream.trainer.stream.Learner;
import dev.prefstream.trainer.stream.StreamingTrainer;
import dev.prefstream.trainer.stream.TrainerConfig;
import dev.prefstream.trainer.stream.TrainerListener;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.streams.KafkaStreams;

/**
 * How each long-running service is started and stopped, in one place: the service commands ({@code
 * ingest}, {@code trainer}, {@code sink}), the demo that runs them all in one JVM, and the
 * integration tests that run those commands all go through here. Each returns what stops it.
 */
final class Services {
  private Services() {}

  /** Creates every topic prefstream uses that does not exist yet (waiting for leaders). */
  static void ensureTopics(CommonConfig common) {
    try (Admin admin = Admin.create(common.kafkaClientProperties())) {
      TopicAdmin.ensure(
          admin,
          common.topics().all(common.getInt(CommonConfig.TOPIC_PARTITIONS_CONFIG)),
          common.getShort(CommonConfig.TOPIC_REPLICATION_FACTOR_CONFIG));
    }
  }

  /**
   * The ingest Kafka Streams job, running. Streams replaces a failed stream thread itself; when the
   * job as a whole fails (state ERROR), the process exits non-zero ({@link Until#die}).
   */
  static AutoCloseable ingest(IngestConfig config) {
    return ingest(config, Telemetry.OFF);
  }

  /** As above, observed by {@code telemetry}. */
  static AutoCloseable ingest(IngestConfig config, Telemetry telemetry) {
    IngestService service = IngestService.start(config, config.schemaRegistry());
    telemetry.ingest(service);
    AtomicBoolean closing = new AtomicBoolean();
    Thread watch =
        new Thread(
            () -> {
              while (!closing.get()) {
                if (service.state() == KafkaStreams.State.ERROR) {
                  Until.die(
                      "ingest stopped",
                      new IllegalStateException("the ingest Kafka Streams job is in state ERROR"));
                  return;
                }
                try {
                  Thread.sleep(500);
                } catch (InterruptedException e) {
                  return;
                }
              }
            },
            "ingest-watch");
    watch.setDaemon(true);
    watch.start();
    return () -> {
      closing.set(true);
      service.close();
    };
  }

  /**
   * The streaming trainer on its own thread (a death of that thread exits the process, see {@link
   * Until#worker}); closing stops it, waits for it and frees the base model.
   */
  static AutoCloseable trainer(TrainerConfig config, TrainerListener listener) {
    return trainer(config, listener, Telemetry.OFF);
  }

  /** As above, observed by {@code telemetry}. */
  static AutoCloseable trainer(
      TrainerConfig config, TrainerListener listener, Telemetry telemetry) {
    Learner.Factory learners = DpoLearner.factory(config);
    StreamingTrainer trainer =
        new StreamingTrainer(
            config, config.schemaRegistry(), learners, telemetry.trainerListener(listener));
    telemetry.trainer(trainer);
    Thread thread = Until.worker("trainer", trainer);
    return () -> {
      try {
        trainer.close();
        thread.join();
      } finally {
        learners.close();
      }
    };
  }

  /** The sink on its own thread; closing stops it and waits for it. */
  static AutoCloseable sink(SinkConfig config, Consumer<AdapterSink.Materialized> onVersion) {
    return sink(config, onVersion, Telemetry.OFF);
  }

  /** As above, observed by {@code telemetry}. */
  static AutoCloseable sink(
      SinkConfig config, Consumer<AdapterSink.Materialized> onVersion, Telemetry telemetry) {
    AdapterSink sink =
        new AdapterSink(
            config,
            config.schemaRegistry(),
            telemetry.onMaterialized(onVersion),
            telemetry.sinkListener());
    telemetry.sink(sink);
    Thread thread = Until.worker("sink", sink);
    return () -> {
      sink.close();
      thread.join();
    };
  }
}
