package dev.prefstream.cli;

import dev.prefstream.publisher.AdapterSink;
import dev.prefstream.publisher.SinkConfig;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
    name = "sink",
    description =
        "Materializes every adapter version as a PEFT directory <dir>/<model>/v<version>/ until"
            + " stopped.")
final class SinkCommand implements Callable<Integer> {
  @Mixin KafkaOptions kafka;

  @Option(
      names = "--dir",
      paramLabel = "DIR",
      description = "Where versions are written (sink.dir).")
  Path dir;

  @Option(names = "--keep", paramLabel = "N", description = "Versions kept per model; 0 keeps all.")
  Integer keep;

  @Override
  public Integer call() throws InterruptedException {
    Map<String, Object> values = new HashMap<>();
    values.put(SinkConfig.DIR_CONFIG, dir == null ? null : dir.toString());
    values.put(SinkConfig.KEEP_VERSIONS_CONFIG, keep);
    SinkConfig config = new SinkConfig(kafka.settings(values));
    AdapterSink sink =
        new AdapterSink(
            config,
            config.schemaRegistry(),
            m -> System.out.println(m.modelId() + " v" + m.version() + " -> " + m.dir()));
    Thread thread = Until.worker("sink", sink);
    System.out.println("sink writing to " + config.dir());
    Until.stopped(
        () -> {
          sink.close();
          thread.join();
        });
    return 0;
  }
}
