package dev.prefstream.cli;

import dev.prefstream.publisher.SinkConfig;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;

@Command(
    name = "sink",
    description =
        "Materializes every adapter version as a PEFT directory <dir>/<model>/v<version>/ until"
            + " stopped.",
    modelTransformer = SinkCommand.Flags.class)
final class SinkCommand implements Callable<Integer> {
  @Mixin HelpOption help;

  @Mixin KafkaOptions kafka;

  /** Flags that are aliases of sink keys. */
  static final class Flags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      return KeyFlags.add(
          spec,
          SinkConfig.CONFIG,
          List.of(
              KeyFlags.alias("--dir", SinkConfig.DIR_CONFIG),
              KeyFlags.alias("--keep", SinkConfig.KEEP_VERSIONS_CONFIG),
              KeyFlags.alias("--trusted-key", SinkConfig.TRUSTED_KEYS_CONFIG),
              KeyFlags.alias("--allow-unsigned", SinkConfig.ALLOW_UNSIGNED_CONFIG),
              KeyFlags.alias("--max-adapter-bytes", SinkConfig.MAX_ADAPTER_BYTES_CONFIG),
              KeyFlags.alias("--prune-grace-ms", SinkConfig.PRUNE_GRACE_MS_CONFIG),
              KeyFlags.alias("--vllm-url", SinkConfig.VLLM_URLS_CONFIG),
              KeyFlags.alias("--sglang-url", SinkConfig.SGLANG_URLS_CONFIG),
              KeyFlags.alias("--engine-reload", SinkConfig.ENGINE_RELOAD_CONFIG),
              KeyFlags.METRICS_PORT));
    }
  }

  @Override
  public Integer call() throws InterruptedException {
    SinkConfig config = new SinkConfig(kafka.settings());
    Telemetry telemetry = Telemetry.start(config);
    AutoCloseable sink =
        Services.sink(
            config,
            m -> System.out.println(m.modelId() + " v" + m.version() + " -> " + m.dir()),
            telemetry);
    System.out.println("sink writing to " + config.dir());
    Until.stopped(Telemetry.closing(sink, telemetry));
    return 0;
  }
}
