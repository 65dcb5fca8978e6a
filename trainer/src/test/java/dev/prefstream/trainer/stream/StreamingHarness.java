package dev.prefstream.trainer.stream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.recipe.Recipe;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Topics, pairs and trainers on one embedded stack, for the streaming trainer's ITs. */
final class StreamingHarness {
  final EmbeddedStack stack;
  final RestSchemaRegistry registry;
  final Path modelDir;

  StreamingHarness(EmbeddedStack stack, Path modelDir) {
    this.stack = stack;
    this.registry = new RestSchemaRegistry(stack.registryUrl());
    this.modelDir = modelDir;
  }

  Topics topics(String prefix) {
    Topics topics = new Topics(prefix);
    try (Admin admin = Admin.create(client())) {
      TopicAdmin.ensure(admin, topics.all(1), (short) -1);
    }
    return topics;
  }

  Map<String, Object> client() {
    return Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
  }

  /** Trainer settings: small batches and versions, deterministic by count. */
  Map<String, Object> trainerSettings(Topics topics, String trainerId) {
    Map<String, Object> m = new HashMap<>();
    m.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
    m.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
    m.put(CommonConfig.TOPIC_PREFIX_CONFIG, topics.prefix());
    m.put(TrainerConfig.ID_CONFIG, trainerId);
    m.put(TrainerConfig.MODEL_DIR_CONFIG, modelDir.toString());
    m.put(Recipe.BATCH_SIZE_CONFIG, 4);
    m.put(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG, 3);
    m.put(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG, 1_000);
    m.put(TrainerConfig.PUBLISH_EVERY_MS_CONFIG, 1_000);
    m.put(Recipe.MAX_LENGTH_CONFIG, 64);
    return m;
  }

  /** A trainer running on its own thread; {@link #failure()} holds what stopped it, if anything. */
  static final class Running implements AutoCloseable {
    final StreamingTrainer trainer;
    final Thread thread;
    volatile Throwable failure;

    Running(StreamingTrainer trainer) {
      this.trainer = trainer;
      this.thread = new Thread(trainer, "trainer-under-test");
      thread.setUncaughtExceptionHandler((t, e) -> failure = e);
      thread.start();
    }

    Throwable failure() {
      return failure;
    }

    @Override
    public void close() throws InterruptedException {
      trainer.close();
      thread.join(Duration.ofSeconds(30).toMillis());
    }
  }

  Running start(Map<String, Object> settings, Learner.Factory learners) {
    return start(settings, learners, TrainerListener.NONE);
  }

  Running start(Map<String, Object> settings, Learner.Factory learners, TrainerListener listener) {
    TrainerConfig config = new TrainerConfig(settings);
    return new Running(new StreamingTrainer(config, registry, learners, listener));
  }

  /** Produces {@code count} pairs for {@code model}: "I love X" preferred over "I hate X". */
  void produce(Topics topics, String model, int from, int count, Predicate<String> reversed) {
    ConfluentAvro<PreferencePair> codec = new ConfluentAvro<>(PreferencePair.class, registry, true);
    String subject = ConfluentAvro.subject(topics.pairs(), false);
    Map<String, Object> props = new HashMap<>(client());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    List<String> things = List.of("tea", "rain", "jazz", "maps", "cats", "snow");
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      List<Future<RecordMetadata>> sent = new ArrayList<>();
      for (int i = from; i < from + count; i++) {
        String thing = things.get(i % things.size());
        String pairId = Sha256.hex(model + "/" + i);
        boolean flip = reversed.test(pairId);
        PreferencePair pair =
            PreferencePair.newBuilder()
                .setPairId(pairId)
                .setModelId(model)
                .setPrompt("What about " + thing + "?")
                .setChosen((flip ? "I hate " : "I love ") + thing + ".")
                .setRejected((flip ? "I love " : "I hate ") + thing + ".")
                .setKind(FeedbackKind.PAIRWISE)
                .setEventIds(List.of(model + "-e" + i))
                .setSource("test")
                .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + i))
                .build();
        sent.add(
            producer.send(
                new ProducerRecord<>(topics.pairs(), model, codec.encode(subject, pair))));
      }
      for (Future<RecordMetadata> f : sent) {
        f.get(2, TimeUnit.MINUTES); // a lost record fails here, not as a missing version later
      }
    } catch (ExecutionException | TimeoutException e) {
      throw new AssertionError("producing test pairs failed", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  AdapterLog log(Topics topics, String model) {
    return AdapterLog.read(client(), topics, registry, model, null);
  }

  /** Waits until the versions and refusals of {@code model} reach {@code offset}. */
  AdapterLog awaitCoverage(Topics topics, String model, long offset) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (System.nanoTime() < deadline) {
      AdapterLog log = log(topics, model);
      if (coveredUntil(log) >= offset) {
        return log;
      }
      Thread.sleep(500);
    }
    throw new AssertionError(
        model + " never covered offset " + offset + ": " + log(topics, model).versions());
  }

  static long coveredUntil(AdapterLog log) {
    long end = 0;
    for (AdapterManifest v : log.versions()) {
      for (OffsetRange r : v.getLineage()) {
        end = Math.max(end, r.getToOffset());
      }
    }
    for (VersionRefusal r : log.refusals()) {
      for (OffsetRange o : r.getLineage()) {
        end = Math.max(end, o.getToOffset());
      }
    }
    return end;
  }

  /**
   * The offset ranges of versions and refusals, which must not overlap; returns what they cover.
   */
  static TreeSet<Long> coveredOnce(AdapterLog log) {
    List<OffsetRange> ranges = new ArrayList<>();
    log.versions().forEach(v -> ranges.addAll(v.getLineage()));
    log.refusals().forEach(r -> ranges.addAll(r.getLineage()));
    TreeSet<Long> covered = new TreeSet<>();
    for (OffsetRange r : ranges) {
      for (long o = r.getFromOffset(); o < r.getToOffset(); o++) {
        if (!covered.add(o)) {
          throw new AssertionError("offset " + o + " is in two versions or refusals: " + ranges);
        }
      }
    }
    return covered;
  }

  /**
   * Checks that {@code model}'s versions are numbered 1..n, each the child of the one before, and
   * that no version number was written twice ({@link AdapterLog} lists only the first manifest of a
   * number and counts the others as {@code refused.duplicate_version}).
   */
  static void assertOneVersionSequence(AdapterLog log, String model) {
    assertThat(log.skipped())
        .as(model + ": no version number written twice")
        .doesNotContainKey(AdapterLog.REFUSED + AdapterLog.DUPLICATE_VERSION);
    long expected = 1;
    for (AdapterManifest v : log.versions()) {
      assertThat(v.getVersion()).as(model + " version numbers").isEqualTo(expected);
      assertThat(v.getParentVersion())
          .as(model + " v" + expected + "'s parent")
          .isEqualTo(expected == 1 ? null : expected - 1);
      expected++;
    }
  }
}
