package dev.prefstream.cli;

import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.offline.PreferenceFile;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "emit",
    description =
        "Sends a JSONL preference file, the format `train` reads, as feedback events: each pair"
            + " ({\"prompt\", \"chosen\", \"rejected\"}) as PAIRWISE, each unpaired example"
            + " ({\"prompt\", \"completion\", \"label\": true|false}) as BINARY (true = thumbs up)."
            + " Bad lines are skipped and reported; the exit code is then 1.")
final class EmitCommand implements Callable<Integer> {
  @Mixin HelpOption help;

  @Spec CommandSpec spec;

  @Mixin KafkaOptions kafka;

  @Option(
      names = "--file",
      required = true,
      paramLabel = "FILE.jsonl",
      description = "Pairs and/or unpaired examples, one JSON object per line.")
  Path file;

  @Option(names = "--model", required = true, paramLabel = "M", description = "Model id.")
  String model;

  @Option(names = "--source", defaultValue = "prefstream-emit", description = "Event source.")
  String source;

  @Override
  public Integer call() throws IOException {
    CommonConfig config = new CommonConfig(kafka.settings());
    Topics topics = config.topics();
    ConfluentAvro<FeedbackEvent> codec =
        new ConfluentAvro<>(FeedbackEvent.class, config.schemaRegistry(), true);
    String subject = ConfluentAvro.subject(topics.feedback(), false);
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    int[] sent = {0};
    List<String> problems;
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      problems =
          emit(
              event -> {
                producer.send(
                    new ProducerRecord<>(topics.feedback(), model, codec.encode(subject, event)));
                sent[0]++;
              });
      producer.flush();
    }
    spec.commandLine()
        .getOut()
        .println("sent " + sent[0] + " events to " + topics.feedback() + " (model " + model + ")");
    PrintWriter err = spec.commandLine().getErr();
    problems.forEach(p -> err.println("skipped " + p));
    err.flush();
    return problems.isEmpty() ? 0 : 1;
  }

  /**
   * Reads the file with {@link PreferenceFile}, the reader {@code train} and {@code eval} use, and
   * hands each record's event to {@code send}. Bad lines are skipped; their problems, {@code
   * file:line: message} each, come back in file order.
   */
  List<String> emit(Consumer<FeedbackEvent> send) throws IOException {
    List<String> problems = new ArrayList<>();
    PreferenceFile.forEachLine(
        file,
        line -> {
          if (!line.ok()) {
            problems.add(line.problem());
            return;
          }
          send.accept(
              PreferenceEvents.of(
                  line.record(),
                  eventId(line.number(), line.text()),
                  model,
                  source,
                  Instant.now()));
        });
    return problems;
  }

  /** Stable per (model, file, line): re-sending the same file is deduplicated by ingest. */
  String eventId(int lineNumber, String line) {
    String identity = model + "\n" + file.getFileName() + "\n" + lineNumber + "\n" + line;
    return "emit-" + Sha256.hex(identity).substring(0, 32);
  }
}
