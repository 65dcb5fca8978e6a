package dev.prefstream.cli;

import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.trainer.stream.DpoLearner;
import dev.prefstream.trainer.stream.Learner;
import dev.prefstream.trainer.stream.StreamingTrainer;
import dev.prefstream.trainer.stream.TrainerConfig;
import dev.prefstream.trainer.stream.TrainerListener;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
    name = "trainer",
    description =
        "Runs the streaming trainer until stopped: consumes pairs, takes DPO steps on LoRA"
            + " adapters, publishes versions transactionally.")
final class TrainerCommand implements Callable<Integer> {
  @Mixin KafkaOptions kafka;

  @Option(
      names = "--model-dir",
      paramLabel = "DIR",
      description = "Base model directory (trainer.model.dir).")
  Path modelDir;

  @Option(
      names = "--models",
      split = ",",
      paramLabel = "M[,M...]",
      description = "Model ids to train (trainer.model.ids); default all.")
  List<String> models;

  @Option(
      names = "--batch-size",
      paramLabel = "N",
      description = "Pairs per step (trainer.batch.size).")
  Integer batchSize;

  @Option(
      names = "--publish-every-steps",
      paramLabel = "K",
      description = "Batches per version (trainer.publish.every.steps).")
  Integer publishEverySteps;

  @Option(
      names = "--publish-every-ms",
      paramLabel = "MS",
      description =
          "Also publish after this long with at least one batch (trainer.publish.every.ms).")
  Long publishEveryMs;

  @Option(names = "--seed", description = "trainer.seed")
  Long seed;

  @Option(names = "--device", description = "auto, cpu, gpu or gpu:N (trainer.device).")
  String device;

  @Option(
      names = "--trainer-id",
      description = "trainer.id: consumer group and transactional.id prefix.")
  String trainerId;

  @Override
  public Integer call() throws InterruptedException {
    Map<String, Object> values = new HashMap<>();
    values.put(TrainerConfig.MODEL_DIR_CONFIG, modelDir == null ? null : modelDir.toString());
    values.put(TrainerConfig.MODEL_IDS_CONFIG, models == null ? null : String.join(",", models));
    values.put(TrainerConfig.BATCH_SIZE_CONFIG, batchSize);
    values.put(TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG, publishEverySteps);
    values.put(TrainerConfig.PUBLISH_EVERY_MS_CONFIG, publishEveryMs);
    values.put(TrainerConfig.SEED_CONFIG, seed);
    values.put(TrainerConfig.DEVICE_CONFIG, device);
    values.put(TrainerConfig.ID_CONFIG, trainerId);
    TrainerConfig config = new TrainerConfig(kafka.settings(values));
    Learner.Factory learners = DpoLearner.factory(config);
    StreamingTrainer trainer =
        new StreamingTrainer(
            config,
            config.schemaRegistry(),
            learners,
            new TrainerListener() {
              @Override
              public void onPublished(AdapterManifest m, List<Instant> pairOccurredAt) {
                System.out.printf(
                    "%s v%d: %d pairs, loss %.4f, reward accuracy %.2f, sha256 %s%n",
                    m.getModelId(),
                    m.getVersion(),
                    m.getPairs(),
                    m.getMetrics().getOrDefault("loss", Double.NaN),
                    m.getMetrics().getOrDefault("rewards/accuracies", Double.NaN),
                    m.getSha256());
              }

              @Override
              public void onRefused(VersionRefusal r) {
                System.out.printf(
                    "%s: candidate after v%s REFUSED (%s): %s%n",
                    r.getModelId(), r.getParentVersion(), r.getReason(), r.getMessage());
              }
            });
    Thread thread = Until.worker("trainer", trainer);
    System.out.println(
        "trainer running on " + config.topics().pairs() + " with " + config.modelDir());
    Until.stopped(
        () -> {
          trainer.close();
          thread.join();
          learners.close();
        });
    return 0;
  }
}
