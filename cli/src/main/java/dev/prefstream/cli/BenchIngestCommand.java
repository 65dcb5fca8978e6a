package dev.prefstream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.ingest.bench.IngestBenchmark;
import dev.prefstream.schemas.config.CommonConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream bench ingest}: validated events/s through ingest against a raw transactional
 * consume-produce pipe on the same broker, in one run (a fresh embedded stack in a temporary
 * directory unless {@code --bootstrap-servers} is given; then the run uses its own topics and
 * deletes them).
 */
@Command(
    name = "ingest",
    description =
        "Events/s through ingest (exactly-once, dead letters, dedup, rate limits) against a raw"
            + " transactional consume-produce pipe on the same broker, in one run, and their ratio.",
    mixinStandardHelpOptions = true)
final class BenchIngestCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin KafkaOptions kafka;

  @Option(
      names = "--events",
      defaultValue = "300000",
      paramLabel = "N",
      description =
          "Feedback events per round (default: ${DEFAULT-VALUE}). The raw pipe copies about"
              + " 250,000 a second on two cores and its outputs become visible a commit interval"
              + " at a time, so much shorter rounds measure commit timing and garbage collections"
              + " more than throughput.")
  int events;

  @Option(
      names = "--rounds",
      defaultValue = "8",
      paramLabel = "R",
      description =
          "Rounds of pipe then ingest; the first warms up the JVM, the summary is the best of the"
              + " others. Each round reports the JIT compilers' seconds: ingest's code keeps them"
              + " busy for about three rounds of 300,000 events on two cores, so fewer rounds"
              + " measure compilation (default: ${DEFAULT-VALUE}).")
  int rounds;

  @Option(
      names = "--output",
      defaultValue = "text",
      paramLabel = "text|json",
      description =
          "text, or json: one object with pipe_events_per_second, ingest_events_per_second, ratio"
              + " and every round (progress goes to stderr).")
  String output;

  @Override
  public Integer call() {
    return Cli.run(
        spec,
        () -> {
          if (!output.equals("text") && !output.equals("json")) {
            throw new IllegalArgumentException("--output must be text or json, got " + output);
          }
          IngestBenchmark.Options options = new IngestBenchmark.Options(events, rounds);
          PrintWriter out = spec.commandLine().getOut();
          PrintWriter progress = output.equals("json") ? spec.commandLine().getErr() : out;
          Map<String, Object> settings = kafka.settings();
          Path temp = Files.createTempDirectory("prefstream-bench-ingest");
          EmbeddedStack stack = null;
          try {
            settings.put(CommonConfig.DATA_DIR_CONFIG, temp.toString());
            if (String.valueOf(settings.getOrDefault(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, ""))
                .isBlank()) {
              progress.println("starting an embedded Kafka broker and schema registry in " + temp);
              progress.flush();
              stack = EmbeddedStack.start(temp.resolve("stack"));
              settings.put(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers());
              settings.put(CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, stack.registryUrl());
            }
            IngestBenchmark.Result result =
                IngestBenchmark.run(
                    settings,
                    options,
                    line -> {
                      progress.println(line);
                      progress.flush();
                    });
            if (output.equals("json")) {
              out.println(
                  new ObjectMapper()
                      .writerWithDefaultPrettyPrinter()
                      .writeValueAsString(result.json()));
            } else {
              out.print(result.describe());
            }
            out.flush();
            return 0;
          } finally {
            if (stack != null) {
              stack.close();
            }
            deleteTree(temp);
          }
        });
  }

  private static void deleteTree(Path root) {
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + root, e);
    }
  }
}
