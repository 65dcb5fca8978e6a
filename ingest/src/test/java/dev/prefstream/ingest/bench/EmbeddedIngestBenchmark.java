package dev.prefstream.ingest.bench;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.config.CommonConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * {@link IngestBenchmark} on a fresh embedded stack, for the ingest module's Maven profile: {@code
 * mvn -q -B -pl ingest -am -Pbench -DskipTests -Dspotless.check.skip=true verify} (options: {@code
 * -Dbench.events=N -Dbench.rounds=R}). {@code prefstream bench ingest} runs the same benchmark. Not
 * part of the test suite.
 */
public final class EmbeddedIngestBenchmark {
  private EmbeddedIngestBenchmark() {}

  public static void main(String[] args) throws Exception {
    int events = Integer.getInteger("bench.events", 100_000);
    int rounds = Integer.getInteger("bench.rounds", 2);
    Path dataDir = Files.createTempDirectory("prefstream-bench");
    try (EmbeddedStack stack = EmbeddedStack.start(dataDir)) {
      Map<String, Object> settings = new HashMap<>();
      System.getProperties()
          .forEach(
              (k, v) -> {
                if (k.toString().startsWith("ingest.")) {
                  settings.put(k.toString(), v);
                }
              });
      settings.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
      settings.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
      settings.put(CommonConfig.DATA_DIR_CONFIG, dataDir.toString());
      IngestBenchmark.Result result =
          IngestBenchmark.run(
              settings, new IngestBenchmark.Options(events, rounds), System.out::println);
      System.out.print(result.describe());
    }
  }
}
