package dev.prefstream.trainer.stream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.Sha256;
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
import java.util.Set;
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
    Map<String, Integer> reported = new java.util.concurrent.ConcurrentHashMap<>();
    TrainerListener counting =
        new TrainerListener() {
          @Override
          public void onDeadLetter(String modelId, String reason) {
            reported.merge(reason, 1, Integer::sum);
          }
        };
    try (Learner.Factory real = DpoLearner.factory(new TrainerConfig(settings))) {
      Learner.Factory learners = wrap(real, m -> 0L, "mu"::equals);
      try (StreamingHarness.Running trainer = harness.start(settings, learners, counting)) {
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
      try (StreamingHarness.Running restarted = harness.start(settings, learners, counting)) {
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
      StreamingHarness.assertOneVersionSequence(log, model);
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
    // every dead letter was reported to the listener (the metrics count them through it); a
    // record re-read after the restart before its dead letter committed is reported twice
    Map<String, Integer> written = new TreeMap<>();
    dead.forEach(r -> written.merge(r.getReason(), 1, Integer::sum));
    written.forEach(
        (reason, n) ->
            assertThat(reported.getOrDefault(reason, 0))
                .as("dead letters reported to the listener as " + reason)
                .isGreaterThanOrEqualTo(n));
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
   * The gate's held-out pairs are part of the committed state: after a restart the gate judges the
   * candidates on every held-out pair seen so far, not only on those read since the restart (the
   * committed offset is past the earlier ones, so they are never read again).
   */
  @Test
  void theGateJudgesTheSameHeldOutPairsAfterARestart() throws Exception {
    Topics topics = harness.topics("gate-restart.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-gate-restart");
    settings.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 25.0);
    settings.put(TrainerConfig.GATE_MAX_KL_CONFIG, 1e9); // the gate evaluates, and never refuses
    HoldoutSplit split = new HoldoutSplit(25.0);
    // only model m on the topic: pair i is at offset i. Each run ends on a trained pair, so the
    // last version covers everything produced (a trailing held-out pair waits for a batch)
    int first = endOnTrainedPair(split, 40);
    int all = endOnTrainedPair(split, first + 40);
    long heldOutBefore = heldOutAmong(split, 0, first);
    assertThat(heldOutBefore).as("held-out pairs before the restart").isPositive();
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings))) {
      try (StreamingHarness.Running trainer = harness.start(settings, learners)) {
        harness.produce(topics, "m", 0, first, id -> false);
        AdapterLog log = harness.awaitCoverage(topics, "m", first);
        assertThat(evalPairs(log.latest().orElseThrow())).isEqualTo(heldOutBefore);
        assertThat(trainer.failure()).isNull();
      }
      harness.produce(topics, "m", first, all - first, id -> false);
      try (StreamingHarness.Running restarted = harness.start(settings, learners)) {
        AdapterLog log = harness.awaitCoverage(topics, "m", all);
        assertThat(restarted.failure()).isNull();
        assertThat(evalPairs(log.latest().orElseThrow()))
            .as("the gate judges every held-out pair, including those before the restart")
            .isEqualTo(heldOutAmong(split, 0, all));
        StreamingHarness.assertOneVersionSequence(log, "m");
        assertThat(StreamingHarness.coveredOnce(log)).hasSize(all);
      }
    }
  }

  /**
   * Three models on one partition, restarted twice with work trained but not published: each
   * model's last version has the same adapter bytes (sha256) as an uninterrupted run on the same
   * pairs. Equal weights need equal batches: {@code trainer.batch.max.wait.ms=0} trains full
   * batches only, so a model's batches are fixed by its offsets, whatever the timing of polls,
   * publishes and restarts; each model has a multiple of the batch size and nothing is held out.
   */
  @Test
  void threeModelsRestartedTwiceEndWithTheAdaptersOfAnUninterruptedRun() throws Exception {
    List<String> models = List.of("a", "b", "c");
    int rounds = 6; // per round, 4 pairs (one batch) of each model, interleaved
    Map<String, String> uninterrupted = new TreeMap<>();
    Map<String, String> restarted = new TreeMap<>();
    Topics calm = harness.topics("same-calm.");
    Map<String, Object> calmSettings = deterministic(harness.trainerSettings(calm, "t-same-calm"));
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(calmSettings))) {
      produceRounds(calm, models, 0, rounds);
      try (StreamingHarness.Running trainer = harness.start(calmSettings, learners)) {
        for (int k = 0; k < models.size(); k++) {
          AdapterLog log =
              harness.awaitCoverage(calm, models.get(k), lastOffset(models, k, rounds) + 1);
          uninterrupted.put(models.get(k), log.latest().orElseThrow().getSha256());
        }
        assertThat(trainer.failure()).isNull();
      }
    }
    Topics crash = harness.topics("same-crash.");
    Map<String, Object> settings = deterministic(harness.trainerSettings(crash, "t-same-crash"));
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings))) {
      produceRounds(crash, models, 0, 3);
      try (StreamingHarness.Running trainer = harness.start(settings, learners)) {
        // each model has 3 batches: v1 holds 2, the third is trained and never published
        for (String model : models) {
          await(
              trainer,
              () -> !harness.log(crash, model).versions().isEmpty(),
              model + " publishes v1");
        }
      } // stopped: the unpublished batches are dropped, as by a kill
      produceRounds(crash, models, 3, rounds - 3);
      try (StreamingHarness.Running trainer = harness.start(settings, learners)) {
        await(
            trainer,
            () -> harness.log(crash, "b").versions().size() >= 2,
            "b publishes v2 after the restart");
      }
      try (StreamingHarness.Running trainer = harness.start(settings, learners)) {
        for (int k = 0; k < models.size(); k++) {
          String model = models.get(k);
          AdapterLog log = harness.awaitCoverage(crash, model, lastOffset(models, k, rounds) + 1);
          StreamingHarness.assertOneVersionSequence(log, model);
          assertThat(StreamingHarness.coveredOnce(log))
              .as(model + "'s pairs are each in one version")
              .containsAll(offsetsOf(models, k, rounds));
          assertThat(log.versions().stream().mapToInt(AdapterManifest::getPairs).sum())
              .as(model + " trained each of its pairs once")
              .isEqualTo(4 * rounds);
          restarted.put(model, log.latest().orElseThrow().getSha256());
        }
        assertThat(trainer.failure()).isNull();
      }
    }
    assertThat(Set.copyOf(uninterrupted.values()))
        .as("the models' adapters differ from each other")
        .hasSize(models.size());
    assertThat(restarted).isEqualTo(uninterrupted);
  }

  /**
   * Two instances of one trainer id with different {@code trainer.instance.id} (two hosts): they
   * share the consumer group and the transactional ids. The one-partition topic moves to the
   * instance that joins (the range assignor orders static members by instance id), which fences the
   * other's producers, and back when it stops. No pair is trained into two versions, no version
   * number repeats, and the instance that lost the partition keeps running.
   */
  @Test
  void twoInstancesOfOneTrainerHandThePartitionOverWithoutTrainingAPairTwice() throws Exception {
    Topics topics = harness.topics("instances.");
    Map<String, Object> first = harness.trainerSettings(topics, "t-instances");
    first.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 0.0);
    // a stopped static member does not leave the group: the survivor takes the partition back
    // after this session timeout (the broker's minimum)
    first.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6_000);
    first.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1_000);
    Map<String, Object> second = new HashMap<>(first);
    first.put(TrainerConfig.INSTANCE_ID_CONFIG, "host-z");
    second.put(TrainerConfig.INSTANCE_ID_CONFIG, "host-a");
    java.util.concurrent.atomic.AtomicInteger publishedByFirst =
        new java.util.concurrent.atomic.AtomicInteger();
    java.util.concurrent.atomic.AtomicInteger publishedBySecond =
        new java.util.concurrent.atomic.AtomicInteger();
    Map<String, List<Long>> offsets = new TreeMap<>();
    long[] next = {0};
    try (Learner.Factory firstLearners = DpoLearner.factory(new TrainerConfig(first));
        Learner.Factory secondLearners = DpoLearner.factory(new TrainerConfig(second));
        StreamingHarness.Running a =
            harness.start(first, firstLearners, countingPublishes(publishedByFirst))) {
      produceTwoModels(topics, 20, next, offsets);
      await(a, () -> publishedByFirst.get() >= 2, "the first instance publishes");
      try (StreamingHarness.Running b =
          harness.start(second, secondLearners, countingPublishes(publishedBySecond))) {
        produceTwoModels(topics, 20, next, offsets);
        await(b, () -> publishedBySecond.get() >= 2, "the partition moves to the second instance");
        assertThat(a.failure()).isNull();
      }
      int before = publishedByFirst.get();
      produceTwoModels(topics, 20, next, offsets);
      await(a, () -> publishedByFirst.get() > before, "the first instance takes it back");
      for (String model : List.of("m1", "m2")) {
        List<Long> mine = offsets.get(model);
        harness.awaitCoverage(topics, model, mine.get(mine.size() - 1) + 1);
      }
      assertThat(a.failure()).isNull();
    }
    for (String model : List.of("m1", "m2")) {
      AdapterLog log = harness.log(topics, model);
      StreamingHarness.assertOneVersionSequence(log, model);
      assertThat(StreamingHarness.coveredOnce(log))
          .as(model + "'s pairs are each in one version")
          .containsAll(offsets.get(model));
      assertThat(log.versions().stream().mapToInt(AdapterManifest::getPairs).sum())
          .as(model + " trained each of its pairs once")
          .isEqualTo(offsets.get(model).size());
    }
  }

  private static TrainerListener countingPublishes(
      java.util.concurrent.atomic.AtomicInteger published) {
    return new TrainerListener() {
      @Override
      public void onPublished(AdapterManifest manifest, List<Instant> pairOccurredAt) {
        published.incrementAndGet();
      }
    };
  }

  /** {@code perModel} pairs of m1, then as many of m2, recording their offsets. */
  private static void produceTwoModels(
      Topics topics, int perModel, long[] next, Map<String, List<Long>> offsets) {
    for (String model : List.of("m1", "m2")) {
      int from = offsets.getOrDefault(model, List.of()).size();
      harness.produce(topics, model, from, perModel, id -> false);
      for (int i = 0; i < perModel; i++) {
        offsets.computeIfAbsent(model, k -> new ArrayList<>()).add(next[0]++);
      }
    }
  }

  /** Full batches only, nothing held out, a version every 2 batches and never by time. */
  private static Map<String, Object> deterministic(Map<String, Object> settings) {
    settings.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 0.0);
    settings.put(TrainerConfig.BATCH_MAX_WAIT_MS_CONFIG, 0);
    settings.put(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG, 2);
    settings.put(TrainerConfig.PUBLISH_EVERY_MS_CONFIG, 0);
    return settings;
  }

  /**
   * Rounds {@code from..from+count-1}: per round, one batch (4 pairs) of each model in turn. The
   * k-th model's pairs start 100 k further in the harness's sequence of prompts, so each model
   * learns from different batches (a mix-up of models' states shows).
   */
  private static void produceRounds(Topics topics, List<String> models, int from, int count) {
    for (int r = from; r < from + count; r++) {
      for (int k = 0; k < models.size(); k++) {
        harness.produce(topics, models.get(k), 100 * k + 4 * r, 4, id -> false);
      }
    }
  }

  private static long lastOffset(List<String> models, int k, int rounds) {
    List<Long> mine = offsetsOf(models, k, rounds);
    return mine.get(mine.size() - 1);
  }

  private static List<Long> offsetsOf(List<String> models, int k, int rounds) {
    List<Long> mine = new ArrayList<>();
    for (int r = 0; r < rounds; r++) {
      for (int i = 0; i < 4; i++) {
        mine.add((long) (r * 4 * models.size() + k * 4 + i));
      }
    }
    return mine;
  }

  /** The smallest count >= {@code atLeast} of m's pairs whose last pair is not held out. */
  private static int endOnTrainedPair(HoldoutSplit split, int atLeast) {
    int n = atLeast;
    while (split.isHeldOut(Sha256.hex("m/" + (n - 1)))) {
      n++;
    }
    return n;
  }

  private static long heldOutAmong(HoldoutSplit split, int from, int to) {
    long n = 0;
    for (int i = from; i < to; i++) {
      if (split.isHeldOut(Sha256.hex("m/" + i))) {
        n++;
      }
    }
    return n;
  }

  private static long evalPairs(AdapterManifest manifest) {
    Double pairs = manifest.getMetrics().get(Gate.EVAL_PAIRS);
    assertThat(pairs).as("v" + manifest.getVersion() + " has " + Gate.EVAL_PAIRS).isNotNull();
    return pairs.longValue();
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
        .setPairId(Sha256.hex(model + "/" + n))
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
