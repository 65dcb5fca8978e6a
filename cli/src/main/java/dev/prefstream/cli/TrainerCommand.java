package dev.prefstream.cli;

import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.trainer.stream.TrainerConfig;
import dev.prefstream.trainer.stream.TrainerListener;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;

@Command(
    name = "trainer",
    description =
        "Runs the streaming trainer until stopped: consumes pairs, takes DPO steps on LoRA"
            + " adapters, publishes versions transactionally.",
    modelTransformer = TrainerCommand.Flags.class)
final class TrainerCommand implements Callable<Integer> {
  @Mixin HelpOption help;

  @Mixin KafkaOptions kafka;

  /** Flags that are aliases of trainer keys, the recipe's included. */
  static final class Flags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      List<KeyFlags.Alias> aliases =
          new ArrayList<>(
              List.of(
                  KeyFlags.alias("--model-dir", TrainerConfig.MODEL_DIR_CONFIG),
                  KeyFlags.alias("--models", TrainerConfig.MODEL_IDS_CONFIG),
                  KeyFlags.alias("--publish-every-steps", TrainerConfig.PUBLISH_EVERY_STEPS_CONFIG),
                  KeyFlags.alias("--publish-every-ms", TrainerConfig.PUBLISH_EVERY_MS_CONFIG),
                  KeyFlags.alias("--trainer-id", TrainerConfig.ID_CONFIG),
                  KeyFlags.alias("--signing-key", TrainerConfig.SIGNING_KEY_CONFIG),
                  KeyFlags.METRICS_PORT));
      aliases.addAll(KeyFlags.TRAINING);
      return KeyFlags.add(spec, TrainerConfig.CONFIG, aliases);
    }
  }

  @Override
  public Integer call() throws InterruptedException {
    TrainerConfig config = new TrainerConfig(kafka.settings());
    Telemetry telemetry = Telemetry.start(config);
    AutoCloseable trainer =
        Services.trainer(
            config,
            new TrainerListener() {
              @Override
              public void onPublished(AdapterManifest m, List<Instant> pairOccurredAt) {
                System.out.printf(
                    "%s v%d: %d pairs, loss %.4f, reward accuracy %.2f, sha256 %s%n",
                    m.getModelId(),
                    m.getVersion(),
                    m.getPairs(),
                    m.getMetrics().getOrDefault(MetricNames.LOSS, Double.NaN),
                    m.getMetrics().getOrDefault(MetricNames.REWARD_ACCURACY, Double.NaN),
                    m.getSha256());
              }

              @Override
              public void onRefused(VersionRefusal r) {
                System.out.printf(
                    "%s: candidate after v%s REFUSED (%s): %s%n",
                    r.getModelId(), r.getParentVersion(), r.getReason(), r.getMessage());
              }
            },
            telemetry);
    System.out.println(
        "trainer running on "
            + config.topics().pairs()
            + (config.unpairedInput() ? " and " + config.topics().unpaired() : "")
            + " with "
            + config.modelDir());
    Until.stopped(Telemetry.closing(trainer, telemetry));
    return 0;
  }
}
