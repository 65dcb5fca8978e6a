package dev.prefstream.cli;

import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.ingest.IngestService;
import dev.prefstream.schemas.config.CommonConfig;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
    name = "ingest",
    description =
        "Runs the ingest Kafka Streams job (feedback -> pairs / dead-letters) until stopped.")
final class IngestCommand implements Callable<Integer> {
  @Mixin KafkaOptions kafka;

  @Option(names = "--data-dir", description = "Local state (Kafka Streams stores).")
  Path dataDir;

  @Override
  public Integer call() {
    Map<String, Object> values = new HashMap<>();
    values.put(CommonConfig.DATA_DIR_CONFIG, dataDir == null ? null : dataDir.toString());
    IngestConfig config = new IngestConfig(kafka.settings(values));
    IngestService service = IngestService.start(config, config.schemaRegistry());
    System.out.println(
        "ingest running: " + config.topics().feedback() + " -> " + config.topics().pairs());
    Until.stopped(service);
    return 0;
  }
}
