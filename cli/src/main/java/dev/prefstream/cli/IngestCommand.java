package dev.prefstream.cli;

import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.schemas.config.CommonConfig;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;

@Command(
    name = "ingest",
    description =
        "Runs the ingest Kafka Streams job (feedback -> pairs / dead-letters) until stopped.",
    modelTransformer = IngestCommand.Flags.class)
final class IngestCommand implements Callable<Integer> {
  @Mixin HelpOption help;

  @Mixin KafkaOptions kafka;

  /** --data-dir is an alias of data.dir. */
  static final class Flags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      return KeyFlags.add(
          spec,
          IngestConfig.CONFIG,
          List.of(
              KeyFlags.alias("--data-dir", CommonConfig.DATA_DIR_CONFIG), KeyFlags.METRICS_PORT));
    }
  }

  @Override
  public Integer call() {
    IngestConfig config = new IngestConfig(kafka.settings());
    Telemetry telemetry = Telemetry.start(config);
    AutoCloseable service = Services.ingest(config, telemetry);
    System.out.println(
        "ingest running: " + config.topics().feedback() + " -> " + config.topics().pairs());
    Until.stopped(Telemetry.closing(service, telemetry));
    return 0;
  }
}
