package dev.prefstream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.prefstream.audit.ModelHistory;
import dev.prefstream.audit.Replayability;
import dev.prefstream.audit.SnapshotLog;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.publisher.ManifestSigner;
import dev.prefstream.publisher.ManifestVerifier;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.stream.TrainerConfig;
import dev.prefstream.trainer.stream.TrainerStateWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

@Command(
    name = "adapters",
    description =
        "Lists a model's adapter versions with their lineage, rolls back to one, or draws a"
            + " report.",
    subcommands = {
      AdaptersCommand.ListVersions.class,
      AdaptersCommand.RollbackTo.class,
      AdaptersCommand.Report.class
    })
final class AdaptersCommand {
  @Mixin HelpOption help;

  private static final ObjectMapper JSON = new ObjectMapper();

  @Command(
      name = "list",
      description =
          "One line (or JSON object) per version: parent, sha256, pairs, metrics and the pair"
              + " offsets it was trained on (to_offset exclusive).")
  static final class ListVersions implements Callable<Integer> {
    @Mixin HelpOption help;

    @Mixin KafkaOptions kafka;

    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @Option(names = "--output", defaultValue = "table", description = "table or json")
    String output;

    @Option(names = "--refusals", description = "Also list refused candidates.")
    boolean refusals;

    @Option(
        names = "--trusted-key",
        paramLabel = "FILE",
        description =
            "List only versions signed by one of these public keys (repeatable); without it every"
                + " well-formed manifest is listed.")
    List<Path> trustedKeys = new ArrayList<>();

    @Override
    public Integer call() {
      CommonConfig config = new CommonConfig(kafka.settings());
      AdapterLog log =
          AdapterLog.read(
              config.kafkaClientProperties(),
              config.topics(),
              config.schemaRegistry(),
              model,
              null,
              trustedKeys.isEmpty() ? null : ManifestVerifier.fromFiles(trustedKeys));
      if (!log.skipped().isEmpty()) {
        System.err.println(model + ": records not listed, by reason: " + log.skipped());
      }
      boolean json = output.equals("json");
      if (!json && !output.equals("table")) {
        throw new IllegalArgumentException("--output must be table or json, got " + output);
      }
      if (!json) {
        System.out.printf(
            "%-8s %-7s %-9s %7s %9s %7s  %-12s  %s%n",
            "version", "parent", "origin", "pairs", MetricNames.LOSS, "acc", "sha256", "lineage");
      }
      // whether each version can still be replayed (audit replay): retained pairs and states
      Map<Long, Optional<String>> replayable =
          Replayability.of(
              ModelHistory.read(
                  config.kafkaClientProperties(), config.topics(), config.schemaRegistry(), model),
              SnapshotLog.read(
                  config.kafkaClientProperties(), config.topics(), config.schemaRegistry(), model),
              earliest(config));
      for (AdapterManifest m : log.versions()) {
        Optional<String> replay =
            replayable.getOrDefault(m.getVersion(), Optional.of("not read back"));
        System.out.println(
            json
                ? toJson(m, replay)
                : toRow(m)
                    + "  replay:"
                    + (replay.isEmpty() ? "yes" : "no (" + replay.get() + ")"));
      }
      if (refusals) {
        for (VersionRefusal r : log.refusals()) {
          System.out.println(
              json
                  ? refusalJson(r)
                  : String.format(
                      "refused  %-7s %-9s %7d  %s  %s",
                      r.getParentVersion(),
                      r.getReason(),
                      r.getPairs(),
                      lineage(r.getLineage()),
                      r.getMessage()));
        }
      }
      return 0;
    }
  }

  @Command(
      name = "rollback",
      description =
          "Publishes a new version whose content is version N's (history is never rewritten); a"
              + " running trainer continues from it.",
      modelTransformer = AdaptersCommand.RollbackTo.Flags.class)
  static final class RollbackTo implements Callable<Integer> {
    @Mixin HelpOption help;

    /** --trainer-id is an alias of trainer.id, as for the trainer. */
    static final class Flags implements CommandLine.IModelTransformer {
      @Override
      public CommandSpec transform(CommandSpec spec) {
        return KeyFlags.add(
            spec,
            TrainerConfig.CONFIG,
            List.of(
                KeyFlags.alias("--trainer-id", TrainerConfig.ID_CONFIG),
                KeyFlags.alias("--signing-key", TrainerConfig.SIGNING_KEY_CONFIG)));
      }
    }

    @Mixin KafkaOptions kafka;

    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @Option(names = "--to-version", required = true, paramLabel = "N")
    long toVersion;

    @Override
    public Integer call() {
      Map<String, Object> settings = kafka.settings();
      CommonConfig config = new CommonConfig(settings);
      // the trainer's own key, read from the same configuration the trainer reads
      Map<String, Object> trainerKeys = TrainerConfig.CONFIG.parse(settings);
      String trainerId = (String) trainerKeys.get(TrainerConfig.ID_CONFIG);
      ManifestSigner signer =
          ManifestSigner.fromConfig(
              TrainerConfig.SIGNING_KEY_CONFIG,
              (String) trainerKeys.get(TrainerConfig.SIGNING_KEY_CONFIG));
      AdapterManifest written =
          TrainerStateWriter.rollback(
              config.kafkaClientProperties(),
              config.topics(),
              config.schemaRegistry(),
              trainerId,
              model,
              toVersion,
              signer);
      System.out.printf(
          "%s v%d published: the content of v%d (sha256 %s)%n",
          model, written.getVersion(), toVersion, written.getSha256());
      return 0;
    }
  }

  @Command(
      name = "report",
      description =
          "Draws a model's history from the adapters topic: loss, reward accuracy, margins, KL,"
              + " pairs and freshness per version, versions and refusals over time. PNG (the"
              + " charts in a grid) or HTML (the same charts and the numbers as tables), by the"
              + " extension of --out or --format. Unreadable records are skipped and listed.")
  static final class Report implements Callable<Integer> {
    @Mixin HelpOption help;

    @Mixin KafkaOptions kafka;

    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "*.png or *.html")
    java.nio.file.Path out;

    @Option(
        names = "--format",
        paramLabel = "png|html",
        description = "Overrides the extension of --out.")
    String format;

    @Override
    public Integer call() {
      String problem = dev.prefstream.schemas.ModelIds.problem(model);
      if (problem != null) {
        throw new IllegalArgumentException("--model " + model + ": " + problem);
      }
      String chosen = format != null ? format : AdapterReport.formatOf(out);
      if (chosen == null || !(chosen.equals("png") || chosen.equals("html"))) {
        throw new IllegalArgumentException(
            "--format must be png or html (or --out must end in .png or .html), got "
                + (format != null ? format : out));
      }
      AdapterHistory history = AdapterHistory.read(new CommonConfig(kafka.settings()), model);
      AdapterReport report = new AdapterReport(history);
      report.write(out, chosen);
      System.out.println(report.summary() + " -> " + out);
      history.skipped().forEach(s -> System.err.println("skipped " + s));
      return 0;
    }
  }

  /** A version as JSON, with whether it can still be replayed, and why not. */
  static String toJson(AdapterManifest m, Optional<String> notReplayable) {
    ObjectNode o = toObject(m);
    o.put("replayable", notReplayable.isEmpty());
    notReplayable.ifPresent(why -> o.put("not_replayable_because", why));
    return o.toString();
  }

  private static ObjectNode toObject(AdapterManifest m) {
    ObjectNode o = JSON.createObjectNode();
    o.put("model", m.getModelId());
    o.put("version", m.getVersion());
    if (m.getParentVersion() == null) {
      o.putNull("parent_version");
    } else {
      o.put("parent_version", m.getParentVersion());
    }
    o.put("origin", m.getOrigin().name());
    if (m.getRollbackOf() != null) {
      o.put("rollback_of", m.getRollbackOf());
    }
    o.put("sha256", m.getSha256());
    o.put("pairs", m.getPairs());
    o.put("created_at", m.getCreatedAt().toString());
    o.put("trainer_id", m.getTrainerId());
    o.put("seed", m.getSeed());
    o.put("config_hash", m.getConfigHash());
    o.putObject("base_model")
        .put("name", m.getBaseModel().getName())
        .put("sha256", m.getBaseModel().getSha256());
    ObjectNode metrics = o.putObject("metrics");
    m.getMetrics().forEach(metrics::put);
    putLineage(o, m.getLineage());
    ArrayNode batches = o.putArray("batches");
    m.getBatches()
        .forEach(
            b -> {
              ObjectNode batch = batches.addObject();
              batch.put("step", b.getStep());
              batch.put("pairs", b.getPairs());
              batch.put("status", b.getStatus().name());
              putRanges(batch.putArray("ranges"), b.getRanges());
            });
    o.put("state_snapshot", m.getStateSnapshot());
    if (m.getForgetOf() != null) {
      o.put("forget_of", m.getForgetOf());
      o.set("excluded_pair_ids", JSON.valueToTree(m.getExcludedPairIds()));
    }
    return o;
  }

  private static String refusalJson(VersionRefusal r) {
    ObjectNode o = JSON.createObjectNode();
    o.put("model", r.getModelId());
    o.put("refused", true);
    if (r.getParentVersion() == null) {
      o.putNull("parent_version");
    } else {
      o.put("parent_version", r.getParentVersion());
    }
    o.put("reason", r.getReason());
    o.put("message", r.getMessage());
    o.put("pairs", r.getPairs());
    ObjectNode metrics = o.putObject("metrics");
    r.getMetrics().forEach(metrics::put);
    putLineage(o, r.getLineage());
    return o.toString();
  }

  private static void putLineage(ObjectNode o, List<OffsetRange> ranges) {
    putRanges(o.putArray("lineage"), ranges);
  }

  private static void putRanges(ArrayNode array, List<OffsetRange> ranges) {
    for (OffsetRange r : ranges) {
      array
          .addObject()
          .put("topic", r.getTopic())
          .put("partition", r.getPartition())
          .put("from_offset", r.getFromOffset())
          .put("to_offset", r.getToOffset());
    }
  }

  /** The first offset each partition of pairs and unpaired (unpaired-loss versions) holds. */
  private static Map<org.apache.kafka.common.TopicPartition, Long> earliest(
      dev.prefstream.schemas.config.CommonConfig config) {
    Map<org.apache.kafka.common.TopicPartition, Long> earliest =
        new java.util.HashMap<>(
            Replayability.earliestOffsets(config.kafkaClientProperties(), config.topics().pairs()));
    earliest.putAll(
        Replayability.earliestOffsets(config.kafkaClientProperties(), config.topics().unpaired()));
    return earliest;
  }

  private static String toRow(AdapterManifest m) {
    return String.format(
        "v%-7d %-7s %-9s %7d %9.4f %7.2f  %-12s  %s",
        m.getVersion(),
        m.getParentVersion() == null ? "-" : "v" + m.getParentVersion(),
        m.getOrigin()
            + (m.getRollbackOf() == null ? "" : "<-v" + m.getRollbackOf())
            + (m.getForgetOf() == null ? "" : "<-v" + m.getForgetOf()),
        m.getPairs(),
        m.getMetrics().getOrDefault(MetricNames.LOSS, Double.NaN),
        m.getMetrics().getOrDefault(MetricNames.REWARD_ACCURACY, Double.NaN),
        m.getSha256().substring(0, 12),
        lineage(m.getLineage()));
  }

  private static String lineage(List<OffsetRange> ranges) {
    return String.join(
        " ",
        ranges.stream()
            .map(
                r ->
                    r.getTopic()
                        + "-"
                        + r.getPartition()
                        + "["
                        + r.getFromOffset()
                        + ","
                        + r.getToOffset()
                        + ")")
            .toList());
  }
}
