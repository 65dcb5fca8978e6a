package dev.prefstream.trainer.stream;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.model.Safetensors;
import dev.prefstream.trainer.recipe.Recipe;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import javax.management.ObjectName;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.FencedInstanceIdException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The streaming trainer on a real broker and registry, with the real DJL learner. */
class StreamingTrainerIT {
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
  void nanInjectedIntoTheAdapterNeverReachesAPublishedVersion() throws Exception {
    Topics topics = harness.topics("nan.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-nan");
    try (Learner.Factory real = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer = harness.start(settings, poisonAtStep(real, 4))) {
      harness.produce(topics, "m", 0, 60, id -> false);
      AdapterLog log = harness.awaitCoverage(topics, "m", 60);
      assertThat(trainer.failure()).isNull();

      assertThat(log.refusals()).isNotEmpty();
      VersionRefusal refusal = log.refusals().get(0);
      assertThat(refusal.getReason()).isEqualTo("non_finite_weights");
      assertThat(refusal.getBatches())
          .extracting(b -> b.getStatus())
          .contains(BatchStatus.SKIPPED_NON_FINITE);
      for (AdapterManifest v : log.versions()) {
        AdapterFiles files =
            AdapterLog.read(harness.client(), topics, harness.registry, "m", v.getVersion())
                .files()
                .orElseThrow();
        Safetensors weights = Safetensors.of(files.weights(), "v" + v.getVersion());
        for (String name : weights.entries().keySet()) {
          for (float w : weights.floats(name)) {
            assertThat(Float.isFinite(w)).as("v" + v.getVersion() + " " + name).isTrue();
          }
        }
      }
      AdapterManifest after =
          log.versions().stream()
              .filter(v -> v.getCreatedAt().isAfter(refusal.getCreatedAt()))
              .findFirst()
              .orElseThrow();
      assertThat(after.getParentVersion())
          .as("training continues from the last published version")
          .isEqualTo(refusal.getParentVersion());
      assertThat(StreamingHarness.coveredOnce(log)).hasSize(60);
    }
  }

  @Test
  void twoTrainersWithTheSameIdOnlyOneCanPublish() throws Exception {
    Topics topics = harness.topics("fence.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-fence");
    settings.put(TrainerConfig.INSTANCE_ID_CONFIG, "the-one");
    try (Learner.Factory first = DpoLearner.factory(new TrainerConfig(settings));
        Learner.Factory second = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running a = harness.start(settings, first)) {
      harness.produce(topics, "m", 0, 40, id -> false);
      harness.awaitCoverage(topics, "m", 1);
      try (StreamingHarness.Running b = harness.start(settings, second)) {
        harness.produce(topics, "m", 40, 40, id -> false);
        AdapterLog log = harness.awaitCoverage(topics, "m", 80);
        a.thread.join(30_000);
        assertThat(a.thread.isAlive()).as("the older trainer stopped").isFalse();
        assertThat(a.failure()).isInstanceOf(FencedInstanceIdException.class);
        assertThat(b.failure()).isNull();
        long expected = 1;
        for (AdapterManifest v : log.versions()) {
          assertThat(v.getVersion()).isEqualTo(expected);
          assertThat(v.getParentVersion()).isEqualTo(expected == 1 ? null : expected - 1);
          expected++;
        }
        assertThat(StreamingHarness.coveredOnce(log)).hasSize(80);
      }
    }
  }

  @Test
  void oneTrainerKeepsAVersionSequencePerModelOverOneBaseModel() throws Exception {
    Topics topics = harness.topics("many.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-many");
    settings.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 0.0);
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer = harness.start(settings, learners)) {
      for (int round = 0; round < 4; round++) {
        for (String model : List.of("a", "b", "c")) {
          harness.produce(topics, model, round * 8, 8, id -> false);
        }
      }
      for (String model : List.of("a", "b", "c")) {
        AdapterLog log = harness.awaitCoverage(topics, model, 1);
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (log.versions().stream().mapToInt(AdapterManifest::getPairs).sum() < 32
            && System.nanoTime() < deadline) {
          Thread.sleep(500);
          log = harness.log(topics, model);
        }
        assertThat(log.versions()).isNotEmpty();
        assertThat(log.versions().get(0).getVersion()).isEqualTo(1);
        assertThat(log.versions().stream().mapToInt(AdapterManifest::getPairs).sum())
            .as(model + " trained each of its 32 pairs once")
            .isEqualTo(32);
        TreeSet<Long> covered = StreamingHarness.coveredOnce(log);
        assertThat(covered.last() - covered.first() + 1)
            .as(model + "'s versions tile the partition without gaps")
            .isEqualTo(covered.size());
      }
      assertThat(trainer.failure()).isNull();
    }
  }

  @Test
  void aRollbackIsANewVersionWithOldContentAndTrainingContinuesFromIt() throws Exception {
    Topics topics = harness.topics("roll.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-roll");
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer = harness.start(settings, learners)) {
      harness.produce(topics, "m", 0, 48, id -> false);
      AdapterLog before = harness.awaitCoverage(topics, "m", 48);
      AdapterManifest v1 = before.versions().get(0);
      AdapterManifest last = before.latest().orElseThrow();

      AdapterManifest rollback =
          TrainerStateWriter.rollback(harness.client(), topics, harness.registry, "t-roll", "m", 1);
      assertThat(rollback.getVersion()).isEqualTo(last.getVersion() + 1);
      assertThat(rollback.getOrigin()).isEqualTo(AdapterOrigin.ROLLBACK);
      assertThat(rollback.getRollbackOf()).isEqualTo(1L);
      assertThat(rollback.getSha256()).isEqualTo(v1.getSha256());
      assertThat(rollback.getLineage()).isEmpty();

      harness.produce(topics, "m", 48, 24, id -> false);
      AdapterLog after = harness.awaitCoverage(topics, "m", 72);
      AdapterManifest next =
          after.versions().stream()
              .filter(v -> v.getVersion() == rollback.getVersion() + 1)
              .findFirst()
              .orElseThrow();
      assertThat(next.getParentVersion()).isEqualTo(rollback.getVersion());
      assertThat(next.getLineage().get(0).getFromOffset())
          .as("no pair is lost or trained twice across the rollback")
          .isEqualTo(last.getLineage().get(0).getToOffset());
      assertThat(StreamingHarness.coveredOnce(after)).hasSize(72);
      assertThat(trainer.failure()).isNull();
    }
  }

  @Test
  void theGateRefusesCandidatesThatGotWorseOnHeldOutPairs() throws Exception {
    Topics topics = harness.topics("gate.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-gate");
    settings.put(TrainerConfig.HOLDOUT_PERCENT_CONFIG, 25.0);
    settings.put(TrainerConfig.GATE_MIN_ACCURACY_CONFIG, 0.9);
    settings.put(Recipe.LR_CONFIG, 5e-3);
    HoldoutSplit split = new HoldoutSplit(25.0);
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer = harness.start(settings, learners)) {
      // held-out people prefer the opposite of what training pairs teach
      harness.produce(topics, "g", 0, 48, split::isHeldOut);
      AdapterLog log = harness.awaitCoverage(topics, "g", 48);
      assertThat(log.versions()).isEmpty();
      assertThat(log.refusals()).isNotEmpty();
      VersionRefusal refusal = log.refusals().get(0);
      assertThat(refusal.getReason()).isEqualTo("accuracy_below_floor");
      assertThat(refusal.getMetrics().get("eval/rewards/accuracies")).isLessThan(0.9);
      assertThat(refusal.getMetrics()).containsKey("eval/kl");
      assertThat(refusal.getMessage()).contains("gate.min.reward.accuracy");
      Object refused =
          ManagementFactory.getPlatformMBeanServer()
              .getAttribute(
                  new ObjectName("dev.prefstream:type=Trainer,model=\"g\""), "VersionsRefused");
      assertThat((Long) refused).isPositive();
      assertThat(StreamingHarness.coveredOnce(log)).hasSize(48);
    }
  }

  @Test
  void unreadablePairsGoToTheDeadLettersWithTheVersionThatCoversThem() throws Exception {
    Topics topics = harness.topics("dead.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-dead");
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer = harness.start(settings, learners)) {
      harness.produce(topics, "d", 0, 20, id -> false);
      try (KafkaProducer<String, byte[]> producer =
          new KafkaProducer<>(
              harness.client(), new StringSerializer(), new ByteArraySerializer())) {
        producer.send(new ProducerRecord<>(topics.pairs(), "d", new byte[] {9, 9, 9, 9, 9, 9}));
        producer.send(new ProducerRecord<>(topics.pairs(), "d", new byte[0]));
      }
      harness.produce(topics, "d", 20, 20, id -> false);
      AdapterLog log = harness.awaitCoverage(topics, "d", 42);
      assertThat(StreamingHarness.coveredOnce(log)).hasSize(42);
      List<Rejection> dead = new ArrayList<>();
      ConfluentAvro<Rejection> codec =
          new ConfluentAvro<>(Rejection.class, harness.registry, false);
      TopicScan.readAll(
          harness.client(), topics.deadLetters(), r -> dead.add(codec.decode(r.value())));
      assertThat(dead)
          .extracting(Rejection::getReason, Rejection::getSourceOffset, Rejection::getStage)
          .containsExactly(
              org.assertj.core.groups.Tuple.tuple("bad_magic_byte", 20L, "trainer"),
              org.assertj.core.groups.Tuple.tuple("empty_value", 21L, "trainer"));
      assertThat(dead.get(0).getOriginalValue().array()).containsExactly(9, 9, 9, 9, 9, 9);
      assertThat(trainer.failure()).isNull();
    }
  }

  @Test
  void pairsTheModelCannotTokenizeAreDeadLetteredNotFatal() throws Exception {
    Path plain = dir.resolve("model-without-chat-template");
    java.nio.file.Files.createDirectories(plain);
    try (var files = java.nio.file.Files.list(harness.modelDir)) {
      for (Path f : files.toList()) {
        java.nio.file.Files.copy(f, plain.resolve(f.getFileName()));
      }
    }
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var tokenizerConfig =
        (com.fasterxml.jackson.databind.node.ObjectNode)
            json.readTree(plain.resolve("tokenizer_config.json").toFile());
    tokenizerConfig.remove("chat_template");
    json.writeValue(plain.resolve("tokenizer_config.json").toFile(), tokenizerConfig);

    Topics topics = harness.topics("chat.");
    Map<String, Object> settings = harness.trainerSettings(topics, "t-chat");
    settings.put(TrainerConfig.MODEL_DIR_CONFIG, plain.toString());
    try (Learner.Factory learners = DpoLearner.factory(new TrainerConfig(settings));
        StreamingHarness.Running trainer = harness.start(settings, learners)) {
      harness.produce(topics, "c", 0, 12, id -> false);
      ConfluentAvro<PreferencePair> codec =
          new ConfluentAvro<>(PreferencePair.class, harness.registry, true);
      PreferencePair chat =
          PreferencePair.newBuilder()
              .setPairId(Sha256.hex("chat"))
              .setModelId("c")
              .setPrompt(List.of(new dev.prefstream.schemas.avro.ChatMessage("user", "hi")))
              .setChosen("hello")
              .setRejected("go away")
              .setKind(dev.prefstream.schemas.avro.FeedbackKind.PAIRWISE)
              .setEventIds(List.of("chat-event"))
              .setSource("test")
              .setOccurredAt(java.time.Instant.ofEpochMilli(1_700_000_000_000L))
              .build();
      try (KafkaProducer<String, byte[]> producer =
          new KafkaProducer<>(
              harness.client(), new StringSerializer(), new ByteArraySerializer())) {
        producer.send(
            new ProducerRecord<>(
                topics.pairs(),
                "c",
                codec.encode(ConfluentAvro.subject(topics.pairs(), false), chat)));
      }
      harness.produce(topics, "c", 12, 12, id -> false);
      AdapterLog log = harness.awaitCoverage(topics, "c", 25);
      assertThat(StreamingHarness.coveredOnce(log)).hasSize(25);
      List<Rejection> dead = new ArrayList<>();
      ConfluentAvro<Rejection> rejections =
          new ConfluentAvro<>(Rejection.class, harness.registry, false);
      TopicScan.readAll(
          harness.client(), topics.deadLetters(), r -> dead.add(rejections.decode(r.value())));
      assertThat(dead).hasSize(1);
      assertThat(dead.get(0).getReason()).isEqualTo("unusable_pair");
      assertThat(dead.get(0).getSourceOffset()).isEqualTo(12L);
      assertThat(dead.get(0).getEventId()).isEqualTo("chat-event");
      assertThat(dead.get(0).getMessage()).containsIgnoringCase("template");
      assertThat(trainer.failure()).isNull();
    }
  }

  /** A real learner whose adapter weights are overwritten with NaN before its n-th step. */
  static Learner.Factory poisonAtStep(Learner.Factory real, int n) {
    return new Learner.Factory() {
      @Override
      public Learner create(String modelId) {
        Learner learner = real.create(modelId);
        return new Learner() {
          private int steps;

          @Override
          public java.util.Optional<String> problemWith(PreferencePair pair) {
            return learner.problemWith(pair);
          }

          @Override
          public StepReport step(List<PreferencePair> batch) {
            if (++steps == n) {
              Map<String, byte[]> state = new HashMap<>(learner.stateFiles());
              state.put(AdapterFiles.WEIGHTS, nanWeights(state.get(AdapterFiles.WEIGHTS)));
              learner.restore(state);
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

  /** The same safetensors file with every F32 value replaced by NaN. */
  static byte[] nanWeights(byte[] safetensors) {
    byte[] out = safetensors.clone();
    ByteBuffer buffer = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
    int dataStart = (int) (8 + buffer.getLong(0));
    for (int i = dataStart; i + 4 <= out.length; i += 4) {
      buffer.putFloat(i, Float.NaN);
    }
    return out;
  }
}
