package dev.prefstream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.prefstream.audit.Audit;
import dev.prefstream.audit.Forget;
import dev.prefstream.audit.ModelHistory;
import dev.prefstream.audit.Replayer;
import dev.prefstream.audit.Verifier;
import dev.prefstream.publisher.ManifestSigner;
import dev.prefstream.publisher.ManifestVerifier;
import dev.prefstream.publisher.SinkConfig;
import dev.prefstream.schemas.ModelIds;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.trainer.stream.TrainerConfig;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "audit",
    description =
        "Audits from the topics alone: verify a model's versions, replay them bit for bit, trace"
            + " feedback to versions, forget a user.",
    subcommands = {
      AuditCommand.Verify.class,
      AuditCommand.Replay.class,
      AuditCommand.Trace.class,
      AuditCommand.ForgetUser.class
    })
final class AuditCommand {
  @Mixin HelpOption help;

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Records as JSON with the snake_case field names every other output uses. */
  private static final ObjectMapper SNAKE =
      new ObjectMapper().setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

  /** --model-dir and --trainer-id are aliases of the trainer's keys. */
  static final class TrainerFlags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      return KeyFlags.add(spec, TrainerConfig.CONFIG, ALIASES);
    }

    static final List<KeyFlags.Alias> ALIASES =
        List.of(
            KeyFlags.alias("--data-dir", CommonConfig.DATA_DIR_CONFIG),
            KeyFlags.alias("--model-dir", TrainerConfig.MODEL_DIR_CONFIG),
            KeyFlags.alias("--trainer-id", TrainerConfig.ID_CONFIG));
  }

  /** The trainer's flags, and --signing-key: forget publishes versions, signed as the trainer's. */
  static final class ForgetFlags implements CommandLine.IModelTransformer {
    @Override
    public CommandSpec transform(CommandSpec spec) {
      List<KeyFlags.Alias> aliases = new ArrayList<>(TrainerFlags.ALIASES);
      aliases.add(KeyFlags.alias("--signing-key", TrainerConfig.SIGNING_KEY_CONFIG));
      return KeyFlags.add(spec, TrainerConfig.CONFIG, aliases);
    }
  }

  static boolean json(String output) {
    if (!output.equals("json") && !output.equals("table")) {
      throw new IllegalArgumentException("--output must be table or json, got " + output);
    }
    return output.equals("json");
  }

  static String model(String model) {
    if (!ModelIds.isValid(model)) {
      throw new IllegalArgumentException("--model " + ModelIds.problem(model));
    }
    return model;
  }

  /** The audit over the configured topics. */
  static Audit audit(Map<String, Object> settings) {
    CommonConfig config = new CommonConfig(settings);
    double holdout =
        (Double) TrainerConfig.CONFIG.parse(settings).get(TrainerConfig.HOLDOUT_PERCENT_CONFIG);
    return new Audit(
        config.kafkaClientProperties(), config.topics(), config.schemaRegistry(), holdout);
  }

  /**
   * The base model directory: {@code trainer.model.dir}, or the demo's model under data.dir when
   * the demo wrote one there.
   */
  static Path modelDir(Map<String, Object> settings) {
    Map<String, Object> parsed = TrainerConfig.CONFIG.parse(settings);
    String dir = (String) parsed.get(TrainerConfig.MODEL_DIR_CONFIG);
    if (dir.isBlank()) {
      Path demo = Path.of((String) parsed.get(CommonConfig.DATA_DIR_CONFIG), "demo-model");
      if (Files.isDirectory(demo)) {
        return demo.toAbsolutePath();
      }
      throw new IllegalArgumentException(
          "replay needs the base model: set " + TrainerConfig.MODEL_DIR_CONFIG + " (--model-dir)");
    }
    return Path.of(dir);
  }

  /**
   * The trainer's settings from this command's configuration, for versions whose snapshots do not
   * record theirs; empty when they do not form a valid trainer configuration.
   */
  static Map<String, String> fallbackSettings(Map<String, Object> settings, Path modelDir) {
    Map<String, Object> all = new java.util.HashMap<>(settings);
    all.put(TrainerConfig.MODEL_DIR_CONFIG, modelDir.toString());
    return new TrainerConfig(all).trainingSettings();
  }

  /** Signatures must verify under one of {@code keys}; an unreadable key file names the key. */
  static Verifier.SignatureCheck signatureCheck(List<Path> keys) {
    ManifestVerifier verifier;
    try {
      verifier = ManifestVerifier.fromFiles(keys);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(SinkConfig.TRUSTED_KEYS_CONFIG, keys.toString(), e.getMessage());
    }
    return manifest ->
        Optional.ofNullable(verifier.problem(manifest)).map(why -> "signature: " + why);
  }

  static void printSkipped(PrintWriter out, List<dev.prefstream.audit.Skipped> skipped) {
    for (var s : skipped) {
      out.printf(
          "skipped %s-%d@%d: %s (%s)%n",
          s.topic(), s.partition(), s.offset(), s.reason(), s.message());
    }
  }

  @Command(
      name = "verify",
      description =
          "Checks every version of a model: parent chain, version numbers, lineage ranges"
              + " (contiguous, disjoint, no gap), files and their sha256, signatures when signing"
              + " is configured. Exit 0 only when all holds.")
  static final class Verify implements Callable<Integer> {
    @Mixin HelpOption help;

    @Mixin KafkaOptions kafka;

    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    @Option(names = "--output", defaultValue = "table", description = "table or json")
    String output;

    @Option(
        names = "--trusted-key",
        paramLabel = "FILE",
        description =
            "Public key(s) versions must be signed by (repeatable; default: the sink's"
                + " sink.trusted.keys from the configuration). A version that is unsigned, signed"
                + " by another key or whose signature does not verify is a problem. Without any"
                + " key, signatures are not checked (and the output says so).")
    List<Path> trustedKeys = new ArrayList<>();

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      boolean json = json(output);
      Map<String, Object> settings = kafka.settings();
      Audit audit = audit(settings);
      ModelHistory history = audit.history(model(model));
      List<Path> keys = new ArrayList<>(trustedKeys);
      if (keys.isEmpty()) {
        Object configured = settings.get(SinkConfig.TRUSTED_KEYS_CONFIG);
        if (configured != null) {
          for (Object file :
              (List<?>)
                  ConfigDef.parseType(
                      SinkConfig.TRUSTED_KEYS_CONFIG, configured, ConfigDef.Type.LIST)) {
            keys.add(Path.of(file.toString()));
          }
        }
      }
      Verifier.SignatureCheck signatures =
          keys.isEmpty() ? Verifier.SignatureCheck.NONE : signatureCheck(keys);
      if (keys.isEmpty() && !json) {
        out.println("signatures not checked: no --trusted-key and no sink.trusted.keys");
      }
      Verifier.Report report = Verifier.verify(history, signatures);
      if (json) {
        ObjectNode node = JSON.createObjectNode();
        node.put("model", report.model());
        node.put("ok", report.ok());
        node.put("versions", report.versions());
        node.put("refusals", report.refusals());
        ArrayNode problems = node.putArray("problems");
        for (Verifier.Problem p : report.problems()) {
          ObjectNode n = problems.addObject();
          if (p.version() == null) {
            n.putNull("version");
          } else {
            n.put("version", p.version());
          }
          n.put("problem", p.what());
        }
        node.set("skipped", JSON.valueToTree(report.skipped()));
        out.println(node);
      } else {
        for (Verifier.Problem p : report.problems()) {
          out.println((p.version() == null ? "model" : "v" + p.version()) + ": " + p.what());
        }
        printSkipped(out, report.skipped());
        out.printf(
            "%s: %d versions, %d refusals: %s%n",
            report.model(),
            report.versions(),
            report.refusals(),
            report.ok() ? "verified" : report.problems().size() + " problem(s)");
      }
      return report.ok() ? 0 : 1;
    }
  }

  @Command(
      name = "replay",
      description =
          "Rebuilds a version from the committed state it started from and the pairs its lineage"
              + " names, on the CPU, and compares its sha256 with the published one. Exit 0 only"
              + " when identical.",
      modelTransformer = TrainerFlags.class)
  static final class Replay implements Callable<Integer> {
    @Mixin HelpOption help;

    @Mixin KafkaOptions kafka;

    @Spec CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "M")
    String model;

    static final class Which {
      @Option(names = "--version", paramLabel = "N", required = true)
      Long version;

      @Option(names = "--all", required = true, description = "Every version, one line each.")
      boolean all;
    }

    @ArgGroup(multiplicity = "1")
    Which which;

    @Option(names = "--output", defaultValue = "table", description = "table or json")
    String output;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      boolean json = json(output);
      Map<String, Object> settings = kafka.settings();
      Path modelDir = modelDir(settings);
      Audit audit = audit(settings);
      ModelHistory history = audit.history(model(model));
      List<Long> versions = new ArrayList<>();
      if (which.all) {
        new LinkedHashSet<>(history.manifests().stream().map(AdapterManifest::getVersion).toList())
            .stream().sorted().forEach(versions::add);
        if (versions.isEmpty()) {
          throw new IllegalArgumentException("no version of " + model + " to replay");
        }
      } else {
        versions.add(which.version);
      }
      boolean allIdentical = true;
      try (Replayer replayer =
          new Replayer(
              history,
              audit.pairs(),
              audit.snapshots(model),
              modelDir,
              fallbackSettings(settings, modelDir),
              Set.of())) {
        for (long v : versions) {
          ObjectNode node = JSON.createObjectNode();
          node.put("model", model);
          node.put("version", v);
          try {
            Replayer.Result r = replayer.replay(v);
            allIdentical &= r.identical();
            node.put("published_sha256", r.publishedSha256());
            node.put("replayed_sha256", r.replayedSha256());
            node.put("identical", r.identical());
            node.put("steps", r.steps());
            node.put("seconds", r.seconds());
            node.put("started_from", r.startedFrom());
            node.put("trained_seconds", r.trainedSeconds());
            node.set("problems", JSON.valueToTree(r.problems()));
            if (!json) {
              out.printf(
                  Locale.ROOT,
                  "v%d %s: %d steps in %.2f s (trained in %.2f s), from %s%s%n",
                  v,
                  r.identical() ? "identical" : "DIFFERS",
                  r.steps(),
                  r.seconds(),
                  r.trainedSeconds(),
                  r.startedFrom(),
                  r.problems().isEmpty() ? "" : ": " + r.problems());
            }
          } catch (Replayer.NotReplayable e) {
            allIdentical = false;
            node.putNull("published_sha256");
            node.putNull("replayed_sha256");
            node.put("identical", false);
            node.put("steps", 0);
            node.put("seconds", 0.0);
            node.put("error", e.getMessage());
            if (!json) {
              out.printf("v%d cannot be replayed: %s%n", v, e.getMessage());
            }
          }
          if (json) {
            out.println(node);
          }
        }
      }
      if (!json) {
        printSkipped(out, audit.skipped());
      }
      return allIdentical ? 0 : 1;
    }
  }

  @Command(
      name = "trace",
      description =
          "--event-id E: the pairs made from a feedback event, where they are and what became of"
              + " each (trained in a version, held out, dead-lettered, not yet trained) with the"
              + " versions that descend from it. --version N --model M: the events behind a"
              + " version.")
  static final class Trace implements Callable<Integer> {
    @Mixin HelpOption help;

    @Mixin KafkaOptions kafka;

    @Spec CommandSpec spec;

    @Option(names = "--event-id", paramLabel = "E")
    String eventId;

    @Option(names = "--version", paramLabel = "N")
    Long version;

    @Option(names = "--model", paramLabel = "M")
    String model;

    @Option(names = "--output", defaultValue = "table", description = "table or json")
    String output;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      boolean json = json(output);
      Audit audit = audit(kafka.settings());
      ObjectNode node;
      boolean found;
      if (eventId != null && version == null) {
        node = audit.traceEvent(eventId);
        found = node.get("found").asBoolean();
      } else if (eventId == null && version != null && model != null) {
        node = audit.traceVersion(model(model), version);
        found = true;
      } else {
        throw new IllegalArgumentException("give --event-id E, or --version N with --model M");
      }
      if (json) {
        out.println(node);
      } else if (eventId != null) {
        for (var p : node.get("pairs")) {
          out.printf(
              "pair %s (%s) %s-%d@%d: %s%s %s%s%n",
              p.get("pair_id").asText().substring(0, 12),
              p.get("kind").asText(),
              p.get("topic").asText(),
              p.get("partition").asInt(),
              p.get("offset").asLong(),
              p.get("fate").asText(),
              p.get("version").isNull() ? "" : " v" + p.get("version").asLong(),
              p.get("detail").asText(),
              p.get("descendants").isEmpty() ? "" : "; descendants " + p.get("descendants"));
        }
        for (var u : node.get("unpaired")) {
          out.printf(
              "unpaired %s-%d@%d: %s%n",
              u.get("topic").asText(),
              u.get("partition").asInt(),
              u.get("offset").asLong(),
              u.get("fate").asText());
        }
        for (var d : node.get("dead_letters")) {
          out.printf(
              "dead letter (%s, %s) of %s-%d@%d: %s%n",
              d.get("reason").asText(),
              d.get("stage").asText(),
              d.get("source_topic").asText(),
              d.get("source_partition").asInt(),
              d.get("source_offset").asLong(),
              d.get("message").asText());
        }
        if (!found) {
          out.println("event " + eventId + " made no pair, unpaired record or dead letter");
        }
      } else {
        for (var p : node.get("pairs")) {
          out.printf(
              "%s-%d@%d %s %s events %s%n",
              p.get("topic").asText(),
              p.get("partition").asInt(),
              p.get("offset").asLong(),
              p.get("pair_id").asText().substring(0, 12),
              p.get("kind").asText(),
              p.get("event_ids"));
        }
        out.printf(
            "%s v%d (%s): %d pairs from %d events%n",
            model,
            version,
            node.get("origin").asText(),
            node.get("pairs").size(),
            node.get("events").size());
      }
      return found ? 0 : 1;
    }
  }

  @Command(
      name = "forget",
      description =
          "The plan for a user key: its events, their pairs, the first version each shaped, the"
              + " versions to rebuild. --execute rebuilds them without the user's pairs and"
              + " publishes them as new versions (origin FORGET), signed with the trainer's key"
              + " (--signing-key, publish.signing.key) so that sinks accept them.",
      modelTransformer = ForgetFlags.class)
  static final class ForgetUser implements Callable<Integer> {
    @Mixin HelpOption help;

    @Mixin KafkaOptions kafka;

    @Spec CommandSpec spec;

    @Option(names = "--user-key", required = true, paramLabel = "K")
    String userKey;

    @Option(names = "--model", paramLabel = "M")
    String model;

    @Option(names = "--execute", description = "Rebuild and publish (otherwise only the plan).")
    boolean execute;

    @Option(names = "--output", defaultValue = "table", description = "table or json")
    String output;

    @Override
    public Integer call() {
      PrintWriter out = spec.commandLine().getOut();
      boolean json = json(output);
      Map<String, Object> settings = kafka.settings();
      Audit audit = audit(settings);
      Forget.Plan plan = audit.forgetPlan(userKey, model == null ? null : model(model));
      ObjectNode node = SNAKE.valueToTree(plan);
      if (execute) {
        Path modelDir = modelDir(settings);
        Map<String, Object> trainerKeys = TrainerConfig.CONFIG.parse(settings);
        String trainerId = (String) trainerKeys.get(TrainerConfig.ID_CONFIG);
        ManifestSigner signer =
            ManifestSigner.fromConfig(
                TrainerConfig.SIGNING_KEY_CONFIG,
                (String) trainerKeys.get(TrainerConfig.SIGNING_KEY_CONFIG));
        List<Forget.Rebuild> rebuilt =
            Forget.execute(
                audit, plan, modelDir, fallbackSettings(settings, modelDir), trainerId, signer);
        node.set("rebuilt", SNAKE.valueToTree(rebuilt));
      }
      if (json) {
        out.println(node);
      } else {
        out.printf(
            "user %s: %d events (%d dead-lettered), %d pairs%n",
            userKey, plan.events().size(), plan.deadLetteredEvents().size(), plan.pairs().size());
        for (Forget.PlannedPair p : plan.pairs()) {
          out.printf(
              "  pair %s %s %s-%d@%d: %s%s%n",
              p.pairId().substring(0, 12),
              p.model(),
              p.topic(),
              p.partition(),
              p.offset(),
              p.fate(),
              p.version() == null ? "" : " v" + p.version());
        }
        for (Forget.ModelPlan m : plan.models()) {
          out.printf(
              "%s: first shaped v%d; rebuild from %s; versions shaped %s%n",
              m.model(),
              m.firstVersion(),
              m.rebuildFrom() == null ? "the initial adapter" : "v" + m.rebuildFrom(),
              m.shaped());
        }
        if (node.has("rebuilt")) {
          for (var r : node.get("rebuilt")) {
            out.printf(
                "%s v%d -> v%d without %d pair(s)%n",
                r.get("model").asText(),
                r.get("old_version").asLong(),
                r.get("new_version").asLong(),
                r.get("excluded_pair_ids").size());
          }
        }
      }
      return 0;
    }
  }
}
