package dev.prefstream.trainer.stream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ownership rule on a real broker: every pair offset is in exactly one version (or refusal)
 * range of its model, or in the dead letters, across rollbacks, fences and restarts; and steps
 * longer than max.poll.interval.ms do not cost the group membership.
 */
class TrainerOwnershipIT {
  @TempDir static Path dir;
  static EmbeddedStack stack;
  static StreamingHarness harness;

  @BeforeAll
  static void start() throws Exception {
    stack = EmbeddedStack.start(dir.resolve("stack"));
    Path model = dir.resolve("model");
    ModelInit.write(model, ModelInit.Spec.builder("llama").optSeed(5).optMaxPositions(128).build());
    harness = new StreamingHarness(stack, model);
  }

  @AfterAll
  static void stop() {
    stack.close();
  }

  @Test
  void aStepLongerThanThePollIntervalKeepsTheGroupAndLosesNothing() throws Exception {
    Topics topics = harness.topics("slow.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-slow");
    settings.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, 2_000);
    long stepMs = 3_000; // longer than max.poll.interval.ms
    try (Learner.Factory real = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer =
            harness.start(settings, wrap(real, m -> stepMs, m -> false))) {
      harness.produce(topics, "m", 0, 12, id -> false);
      AdapterLog log = harness.awaitCoverage(topics, "m", 12);
      assertThat(trainer.failure()).isNull();
      assertThat(StreamingHarness.coveredOnce(log)).hasSize(12);
      List<Long> versions = log.versions().stream().map(AdapterManifest::getVersion).toList();
      assertThat(versions).as("one unbroken sequence").isEqualTo(sequence(versions.size()));
    }
  }

  @Test
  void twoModelsOnePartitionTwoRollbacksARestartEveryOffsetAccountedForOnce() throws Exception {
    Topics topics = harness.topics("own.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-own");
    settings.put(TrainerConfig.MODEL_IDS_CONFIG, "m1,m2,mu");
    Map<String, List<Long>> offsets = new TreeMap<>();
    int[] next = {0};
    try (Learner.Factory real = DpoLearner.factory(new TrainerConfig(settings))) {
      Learner.Factory learners = wrap(real, m -> 0L, "mu"::equals);
      try (StreamingHarness.Running trainer = harness.start(settings, learners)) {
        produceMixed(topics, 60, next, offsets);
        await(
            trainer, () -> harness.log(topics, "m1").versions().size() >= 2, "m1 has two versions");
        // two rollbacks of m1 in a row while both models train: the second used to drop m1
        TrainerStateWriter.rollback(harness.client(), topics, harness.registry, "t-own", "m1", 1);
        produceMixed(topics, 30, next, offsets);
        TrainerStateWriter.rollback(harness.client(), topics, harness.registry, "t-own", "m1", 2);
        produceMixed(topics, 30, next, offsets);
        await(
            trainer,
            () -> StreamingHarness.coveredUntil(harness.log(topics, "m2")) >= 100,
            "m2 trains on after the rollbacks");
        assertThat(trainer.failure()).isNull();
      } // stopped without publishing what it holds: like a kill, for the committed state
      produceMixed(topics, 30, next, offsets);
      try (StreamingHarness.Running restarted = harness.start(settings, learners)) {
        long end = next[0];
        for (String model : List.of("m1", "m2")) {
          long last = offsets.get(model).get(offsets.get(model).size() - 1);
          harness.awaitCoverage(topics, model, last + 1);
        }
        await(
            restarted,
            () -> committedOffset(topics, "t-own") >= end,
            "the group commits past every pair");
        assertThat(restarted.failure()).isNull();
      }
    }
    List<Rejection> dead = deadLetters(topics);
    Map<Long, Integer> deadLettered = new TreeMap<>();
    dead.forEach(r -> deadLettered.merge(r.getSourceOffset(), 1, Integer::sum));
    assertThat(deadLettered.values()).as("no dead letter twice").allMatch(n -> n == 1);
    for (String model : List.of("m1", "m2")) {
      AdapterLog log = harness.log(topics, model);
      List<Long> versions = log.versions().stream().map(AdapterManifest::getVersion).toList();
      assertThat(versions).as(model + " version numbers").isEqualTo(sequence(versions.size()));
      TreeSet<Long> covered = StreamingHarness.coveredOnce(log);
      assertThat(covered)
          .as(model + "'s pairs are each in one version")
          .containsAll(offsets.get(model));
      assertThat(offsets.get(model)).noneMatch(deadLettered::containsKey);
    }
    for (String model : List.of("m3", "mu", "bad key!", "garbage")) {
      assertThat(deadLettered.keySet())
          .as(model + "'s records are dead letters")
          .containsAll(offsets.get(model));
    }
    Map<String, String> reasons = new TreeMap<>();
    for (Rejection r : dead) {
      offsets.forEach(
          (model, list) -> {
            if (list.contains(r.getSourceOffset())) {
              reasons.put(model, r.getReason());
            }
          });
    }
    assertThat(reasons)
        .containsEntry("m3", "model_not_trained")
        .containsEntry("mu", "unusable_pair")
        .containsEntry("bad key!", "invalid_model_id")
        .containsEntry("garbage", "bad_magic_byte");
  }

  /**
   * Ten models on one partition, restarted: each resumes where its state says, and none trains a
   * pair twice. Prints the restart-to-resume time (process start to the first step after it) as a
   * measurement; it asserts nothing about time.
   */
  @Test
  void tenModelsResumeAfterARestart() throws Exception {
    Topics topics = harness.topics("ten.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-ten");
    List<String> models = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      models.add("model" + i);
    }
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings))) {
      try (StreamingHarness.Running trainer = harness.start(settings, learners)) {
        for (String model : models) {
          harness.produce(topics, model, 0, 12, id -> false);
        }
        for (String model : models) {
          harness.awaitCoverage(topics, model, 1);
        }
      }
      for (String model : models) {
        harness.produce(topics, model, 12, 12, id -> false);
      }
      long[] firstStep = {0};
      long started = System.nanoTime();
      TrainerConfig config = new TrainerConfig(settings);
      StreamingTrainer restarted =
          new StreamingTrainer(
              config,
              harness.registry,
              learners,
              new TrainerListener() {
                @Override
                public void onStep(
                    String modelId,
                    long step,
                    boolean applied,
                    int pairs,
                    Map<String, Double> metrics) {
                  if (firstStep[0] == 0) {
                    firstStep[0] = System.nanoTime();
                  }
                }
              });
      try (StreamingHarness.Running running = new StreamingHarness.Running(restarted)) {
        for (int k = 0; k < models.size(); k++) {
          String model = models.get(k);
          // the model's pairs are offsets k*12.. and 120+k*12..; the last few may be held out
          long nearEnd = 120 + k * 12 + 9;
          await(
              running,
              () -> StreamingHarness.coveredUntil(harness.log(topics, model)) >= nearEnd,
              model + " covers its pairs after the restart");
          StreamingHarness.coveredOnce(harness.log(topics, model)); // throws on a pair twice
        }
        assertThat(running.failure()).isNull();
      }
      System.out.printf(
          "MEASURE restart-to-resume with %d models: %.2f s (trainer constructed to first step)%n",
          models.size(), (firstStep[0] - started) / 1e9);
    }
  }

  /**
   * Per round of 10: 4 pairs of m1, 3 of m2, one of m3 (not in trainer.model.ids), one of mu (every
   * pair unusable), and alternately a pair keyed with an invalid id or an unkeyed garbage record.
   */
  private static void produceMixed(
      Topics topics, int count, int[] next, Map<String, List<Long>> offsets) throws Exception {
    ConfluentAvro<PreferencePair> codec =
        new ConfluentAvro<>(PreferencePair.class, harness.registry, true);
    String subject = ConfluentAvro.subject(topics.pairs(), false);
    Map<String, Object> props = new HashMap<>(harness.client());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    String[] pattern = {"m1", "m2", "m1", "m3", "m2", "m1", "mu", "m2", "m1", "odd"};
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < count; i++, next[0]++) {
        int n = next[0];
        String model = pattern[n % pattern.length];
        ProducerRecord<String, byte[]> record;
        if (model.equals("odd")) {
          model = (n / pattern.length) % 2 == 0 ? "bad key!" : "garbage";
          record =
              model.equals("garbage")
                  ? new ProducerRecord<>(
                      topics.pairs(), null, "not avro".getBytes(StandardCharsets.UTF_8))
                  : new ProducerRecord<>(
                      topics.pairs(), model, codec.encode(subject, pair("m1", n)));
        } else {
          record =
              new ProducerRecord<>(topics.pairs(), model, codec.encode(subject, pair(model, n)));
        }
        long offset = producer.send(record).get().offset();
        offsets.computeIfAbsent(model, k -> new ArrayList<>()).add(offset);
      }
    }
  }

  private static PreferencePair pair(String model, int n) {
    List<String> things = List.of("tea", "rain", "jazz", "maps", "cats", "snow");
    String thing = things.get(n % things.size());
    return PreferencePair.newBuilder()
        .setPairId(StreamingHarness.sha256(model + "/" + n))
        .setModelId(model)
        .setPrompt("What about " + thing + "?")
        .setChosen("I love " + thing + ".")
        .setRejected("I hate " + thing + ".")
        .setKind(FeedbackKind.PAIRWISE)
        .setEventIds(List.of(model + "-e" + n))
        .setSource("test")
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L + n))
        .build();
  }

  private static List<Rejection> deadLetters(Topics topics) {
    List<Rejection> dead = new ArrayList<>();
    ConfluentAvro<Rejection> codec = new ConfluentAvro<>(Rejection.class, harness.registry, false);
    TopicScan.readAll(
        harness.client(), topics.deadLetters(), r -> dead.add(codec.decode(r.value())));
    return dead;
  }

  private static long committedOffset(Topics topics, String group) {
    try (Admin admin = Admin.create(harness.client())) {
      OffsetAndMetadata committed =
          admin
              .listConsumerGroupOffsets(group)
              .partitionsToOffsetAndMetadata()
              .get()
              .get(new TopicPartition(topics.pairs(), 0));
      return committed == null ? -1 : committed.offset();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static void await(
      StreamingHarness.Running trainer, BooleanSupplier condition, String what) throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (System.nanoTime() < deadline) {
      if (trainer.failure() != null) {
        throw new AssertionError("the trainer failed waiting for: " + what, trainer.failure());
      }
      if (condition.getAsBoolean()) {
        return;
      }
      Thread.sleep(300);
    }
    throw new AssertionError("never happened: " + what);
  }

  private static List<Long> sequence(int n) {
    List<Long> s = new ArrayList<>();
    for (long v = 1; v <= n; v++) {
      s.add(v);
    }
    return s;
  }

  /**
   * Real learners; {@code stepMillis} of a model's id stretches each of its steps (a big model on a
   * slow device), {@code unusable} makes every pair of a model untrainable.
   */
  static Learner.Factory wrap(
      Learner.Factory real,
      java.util.function.ToLongFunction<String> stepMillis,
      java.util.function.Predicate<String> unusable) {
    return new Learner.Factory() {
      @Override
      public Learner create(String modelId) {
        Learner learner = real.create(modelId);
        return new Learner() {
          @Override
          public Optional<String> problemWith(PreferencePair pair) {
            return unusable.test(modelId)
                ? Optional.of("this test's learner cannot use pairs of " + modelId)
                : learner.problemWith(pair);
          }

          @Override
          public StepReport step(List<PreferencePair> batch) {
            long ms = stepMillis.applyAsLong(modelId);
            if (ms > 0) {
              try {
                Thread.sleep(ms); // fault injection: a slow step, not synchronization
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            }
            return learner.step(batch);
          }

          @Override
          public Map<String, Double> evaluate(List<PreferencePair> pairs) {
            return learner.evaluate(pairs);
          }

          @Override
          public Snapshot adapter() {
            return learner.adapter();
          }

          @Override
          public Map<String, byte[]> stateFiles() {
            return learner.stateFiles();
          }

          @Override
          public void restore(Map<String, byte[]> stateFiles) {
            learner.restore(stateFiles);
          }

          @Override
          public void close() {
            learner.close();
          }
        };
      }

      @Override
      public String baseModelName() {
        return real.baseModelName();
      }

      @Override
      public String baseModelSha256() {
        return real.baseModelSha256();
      }

      @Override
      public void close() {}
    };
  }
}
