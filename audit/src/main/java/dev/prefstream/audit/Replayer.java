package dev.prefstream.audit;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.TrainingBatch;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.stream.DpoLearner;
import dev.prefstream.trainer.stream.Learner;
import dev.prefstream.trainer.stream.PairSelection;
import dev.prefstream.trainer.stream.TrainerConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * {@code audit replay}: rebuilds a version from the committed state it started from and the pairs
 * its lineage and batch boundaries name, with the trainer's own learner ({@link DpoLearner}, the
 * streaming trainer's code path) on the CPU, and compares the adapter's sha-256 with the published
 * one.
 *
 * <p>Where a version starts: nothing (the first version: the initial adapter of the recorded seed),
 * its parent's snapshot on the trainer-snapshots topic, a rollback parent's published weights (the
 * optimizer starts afresh, as the trainer's does), or else the parent rebuilt by replay itself,
 * back to the nearest of those: the cost is the versions since the nearest retained state.
 */
public final class Replayer implements AutoCloseable {
  /** What replaying one version gave. */
  public record Result(
      String model,
      long version,
      String publishedSha256,
      String replayedSha256,
      boolean identical,
      int steps,
      double seconds,
      String startedFrom,
      double trainedSeconds,
      List<String> problems) {}

  /** Why a version cannot be replayed (settings, base model or pairs no longer available). */
  public static final class NotReplayable extends RuntimeException {
    NotReplayable(String message) {
      super(message);
    }
  }

  private record State(Map<String, byte[]> files, String from) {}

  private final ModelHistory history;
  private final PairLog pairs;
  private final SnapshotLog snapshots;
  private final Path modelDir;
  private final Map<String, String> fallbackSettings;
  private final Map<String, Learner.Factory> factories = new HashMap<>();
  private final Map<Long, State> replayedStates = new HashMap<>();
  private final Map<Long, Result> results = new HashMap<>();
  private final Set<String> excludedEverywhere;

  /**
   * @param modelDir the base model directory (checked against each manifest's base model sha256)
   * @param fallbackSettings training settings to use for a config hash no snapshot recorded (the
   *     trainer's own configuration), or empty
   * @param excludedEverywhere pair ids no rebuild may train (forgotten), on top of each manifest's
   *     own exclusions; empty for a plain replay
   */
  public Replayer(
      ModelHistory history,
      PairLog pairs,
      SnapshotLog snapshots,
      Path modelDir,
      Map<String, String> fallbackSettings,
      Set<String> excludedEverywhere) {
    this.history = history;
    this.pairs = pairs;
    this.snapshots = snapshots;
    this.modelDir = modelDir;
    this.fallbackSettings = fallbackSettings;
    this.excludedEverywhere = Set.copyOf(excludedEverywhere);
  }

  /** Replays {@code version}, and first whatever versions it needs to start from. */
  public Result replay(long version) {
    Result done = results.get(version);
    if (done != null) {
      return done;
    }
    AdapterManifest m = manifest(version);
    // walk back to the nearest start that needs no replay, then replay forward
    List<AdapterManifest> chain = new ArrayList<>();
    chain.add(m);
    Long parent = startOf(m);
    while (parent != null && startWithoutReplay(parent).isEmpty()) {
      chain.add(0, manifest(parent));
      parent = startOf(manifest(parent));
    }
    Result result = null;
    for (AdapterManifest step : chain) {
      result = results.containsKey(step.getVersion()) ? results.get(step.getVersion()) : one(step);
    }
    return result;
  }

  /**
   * The state that training continues from after {@code version} and the pairs trained into it,
   * replaying it if needed: what forget rebuilds on. Requires the version to replay identically.
   */
  public Map<String, byte[]> stateAfter(long version) {
    Optional<State> start = startWithoutReplay(version);
    if (start.isPresent()) {
      return start.get().files();
    }
    Result r = replay(version);
    if (!r.identical()) {
      throw new NotReplayable(
          history.modelId() + " v" + version + " does not replay identically: " + r.problems());
    }
    return replayedStates.get(version).files();
  }

  private AdapterManifest manifest(long version) {
    return history
        .manifest(version)
        .orElseThrow(
            () ->
                new NotReplayable(
                    history.modelId()
                        + " has no version "
                        + version
                        + " on "
                        + history.topic()
                        + "; versions: "
                        + history.manifests().stream().map(AdapterManifest::getVersion).toList()));
  }

  /** The version whose committed state training of {@code m} continued from (null: none). */
  private Long startOf(AdapterManifest m) {
    return history.isRollbackLike(m) ? null : history.contentSource(m);
  }

  /** A start for the version after {@code version} that needs no replay, if there is one. */
  private Optional<State> startWithoutReplay(long version) {
    State replayed = replayedStates.get(version);
    if (replayed != null) {
      return Optional.of(replayed);
    }
    List<String> problems = new ArrayList<>();
    Optional<SnapshotLog.Snapshot> snapshot = snapshots.get(version, problems);
    if (snapshot.isPresent()) {
      return Optional.of(new State(snapshot.get().files(), "snapshot of v" + version));
    }
    AdapterManifest m = manifest(version);
    if (history.isRollbackLike(m)) {
      List<String> fileProblems = new ArrayList<>();
      Map<String, byte[]> files = history.files(m, fileProblems);
      if (!fileProblems.isEmpty()) {
        throw new NotReplayable(
            "rollback v" + version + "'s files are not complete: " + fileProblems);
      }
      // what a rollback commits as trainer state: the weights, no optimizer moments
      return Optional.of(
          new State(
              Map.of(AdapterFiles.WEIGHTS, files.get(AdapterFiles.WEIGHTS)),
              "rollback v"
                  + version
                  + " (weights of v"
                  + history.rollbackTarget(m)
                  + ", fresh optimizer)"));
    }
    return Optional.empty();
  }

  private Result one(AdapterManifest m) {
    long started = System.nanoTime();
    List<String> problems = new ArrayList<>();
    String publishedSha = m.getSha256();
    if (history.isRollbackLike(m)) {
      // nothing was trained: the content is the rolled-back version's
      State state = startWithoutReplay(m.getVersion()).orElseThrow();
      String sha = AdapterFiles.sha256(state.files().get(AdapterFiles.WEIGHTS));
      AdapterManifest target = manifest(history.rollbackTarget(m));
      if (!target.getSha256().equals(sha)) {
        problems.add("the rolled-back weights are not those of v" + target.getVersion());
      }
      return record(m, sha, 0, started, state.from(), problems, state);
    }
    State start;
    Long parent = startOf(m);
    if (parent == null) {
      start = new State(null, "the initial adapter (seed " + m.getSeed() + ")");
    } else {
      start =
          startWithoutReplay(parent)
              .orElseThrow(() -> new IllegalStateException("v" + parent + " was not replayed"));
      if (replayedStates.containsKey(parent) && !results.get(parent).identical()) {
        problems.add("its parent v" + parent + " did not replay identically");
      }
    }
    Set<String> excluded = new HashSet<>(m.getExcludedPairIds());
    excluded.addAll(excludedEverywhere);
    Rebuilt trained = train(m, start.files(), excluded, problems);
    return record(
        m,
        AdapterFiles.sha256(trained.weights()),
        trained.steps(),
        started,
        start.from(),
        problems,
        new State(trained.stateFiles(), null));
  }

  /** A version trained again: its adapter, the state after it, and its batches as trained. */
  public record Rebuilt(
      String configJson,
      byte[] weights,
      Map<String, byte[]> stateFiles,
      List<TrainingBatch> batches,
      int pairs,
      int steps) {}

  /**
   * Trains {@code m}'s batches again from {@code startFiles} (null: the initial adapter), leaving
   * out {@code excluded} pair ids. {@code problems}, when not null, notes every batch that does not
   * train as recorded (a replay); a rebuild that leaves pairs out passes null.
   */
  public Rebuilt train(
      AdapterManifest m,
      Map<String, byte[]> startFiles,
      Set<String> excluded,
      List<String> problems) {
    Learner.Factory factory = factory(m);
    PairSelection selection = new PairSelection(holdoutPercent(m));
    int steps = 0;
    int trainedPairs = 0;
    List<TrainingBatch> batches = new ArrayList<>();
    try (Learner learner = factory.create(m.getModelId())) {
      if (startFiles != null) {
        learner.restore(startFiles);
      }
      for (TrainingBatch batch : m.getBatches()) {
        List<UnpairedFeedback> batchUnpaired = new ArrayList<>();
        List<PreferencePair> batchPairs =
            batchPairs(m, batch, learner, selection, excluded, batchUnpaired);
        int records = batchPairs.size() + batchUnpaired.size();
        if (records == 0) {
          if (batch.getPairs() > 0 && problems != null) {
            problems.add("batch of step " + batch.getStep() + ": none of its pairs are left");
          }
          continue;
        }
        // as the trainer steps: the pairs by offset, then the unpaired records by offset
        Learner.StepReport report =
            batchUnpaired.isEmpty()
                ? learner.step(batchPairs)
                : learner.step(batchPairs, batchUnpaired);
        steps++;
        boolean recordedApplied = batch.getStatus() == BatchStatus.APPLIED;
        batches.add(
            new TrainingBatch(
                batch.getStep(),
                batch.getRanges(),
                report.applied() ? records : 0,
                report.applied() ? BatchStatus.APPLIED : BatchStatus.SKIPPED_NON_FINITE));
        if (report.applied()) {
          trainedPairs += records;
        }
        if (problems == null) {
          continue;
        }
        if (report.applied() != recordedApplied) {
          problems.add(
              "batch of step "
                  + batch.getStep()
                  + " was "
                  + batch.getStatus()
                  + " but replayed as "
                  + (report.applied() ? "APPLIED" : "SKIPPED_NON_FINITE"));
        } else if (recordedApplied && records != batch.getPairs()) {
          problems.add(
              "batch of step "
                  + batch.getStep()
                  + " trained "
                  + batch.getPairs()
                  + " pairs, its ranges hold "
                  + records);
        }
      }
      Learner.Snapshot adapter = learner.adapter();
      return new Rebuilt(
          adapter.configJson(),
          adapter.safetensors(),
          learner.stateFiles(),
          batches,
          trainedPairs,
          steps);
    }
  }

  private Result record(
      AdapterManifest m,
      String replayedSha,
      int steps,
      long startedNanos,
      String from,
      List<String> problems,
      State after) {
    boolean identical = replayedSha.equals(m.getSha256()) && problems.isEmpty();
    if (!replayedSha.equals(m.getSha256())) {
      problems.add("replayed sha256 " + replayedSha + " differs from the published one");
    }
    double trainedSeconds =
        m.getMetrics().getOrDefault(MetricNames.STEP_MS, 0.0)
            * m.getBatches().stream().filter(b -> b.getStatus() == BatchStatus.APPLIED).count()
            / 1e3;
    Result result =
        new Result(
            m.getModelId(),
            m.getVersion(),
            m.getSha256(),
            replayedSha,
            identical,
            steps,
            (System.nanoTime() - startedNanos) / 1e9,
            from,
            trainedSeconds,
            List.copyOf(problems));
    results.put(m.getVersion(), result);
    replayedStates.put(m.getVersion(), new State(after.files(), "replay of v" + m.getVersion()));
    return result;
  }

  /**
   * The pairs of one recorded batch: the records of this model in its ranges that the trainer
   * trained (readable, usable by the learner, not held out), minus excluded ones.
   */
  List<PreferencePair> batchPairs(
      AdapterManifest m,
      TrainingBatch batch,
      Learner learner,
      PairSelection selection,
      Set<String> excluded,
      List<UnpairedFeedback> unpaired) {
    List<PreferencePair> batchPairs = new ArrayList<>();
    for (OffsetRange r : batch.getRanges()) {
      Long first = pairs.firstOffset(r.getTopic(), r.getPartition());
      if (first == null || first > r.getFromOffset()) {
        throw new NotReplayable(
            m.getModelId()
                + " v"
                + m.getVersion()
                + ": pairs "
                + r.getTopic()
                + "-"
                + r.getPartition()
                + "@"
                + r.getFromOffset()
                + " are no longer retained (first offset held: "
                + first
                + ")");
      }
      if (pairs.isUnpaired(r.getTopic())) {
        // thumbs of an unpaired-loss version, chosen by the trainer's rules
        for (PairLog.UnpairedEntry e :
            pairs.unpairedRange(
                r.getTopic(), r.getPartition(), r.getFromOffset(), r.getToOffset())) {
          if (e.example() == null
              || !m.getModelId().equals(e.model())
              || learner.problemWith(e.example()).isPresent()
              || selection.heldOut(e.example())
              || excluded.contains(e.example().getFeedbackId())) {
            continue;
          }
          unpaired.add(e.example());
        }
        continue;
      }
      for (PairLog.Entry e :
          pairs.range(r.getTopic(), r.getPartition(), r.getFromOffset(), r.getToOffset())) {
        if (e.pair() == null
            || !m.getModelId().equals(e.model())
            || learner.problemWith(e.pair()).isPresent()
            || selection.heldOut(e.pair())
            || excluded.contains(e.pair().getPairId())) {
          continue;
        }
        batchPairs.add(e.pair());
      }
    }
    return batchPairs;
  }

  private double holdoutPercent(AdapterManifest m) {
    return Double.parseDouble(
        settings(m).getOrDefault(TrainerConfig.HOLDOUT_PERCENT_CONFIG, "5.0"));
  }

  /** The training settings {@code m} was made with (recorded, or the given configuration). */
  Map<String, String> settings(AdapterManifest m) {
    Optional<Map<String, String>> recorded = snapshots.settings(m.getConfigHash());
    if (recorded.isPresent()) {
      return recorded.get();
    }
    if (!fallbackSettings.isEmpty()
        && trainerConfig(fallbackSettings).configHash().equals(m.getConfigHash())) {
      return fallbackSettings;
    }
    throw new NotReplayable(
        m.getModelId()
            + " v"
            + m.getVersion()
            + " was trained with settings of config hash "
            + m.getConfigHash()
            + ", which no snapshot records"
            + (fallbackSettings.isEmpty()
                ? ""
                : " and the given configuration does not match (hash "
                    + trainerConfig(fallbackSettings).configHash()
                    + ")")
            + ": give the trainer's configuration (--config, -D)");
  }

  private TrainerConfig trainerConfig(Map<String, String> settings) {
    Map<String, Object> all = new HashMap<>(settings);
    all.put(TrainerConfig.MODEL_DIR_CONFIG, modelDir.toString());
    // bit for bit is promised on the CPU
    all.put(Recipe.DEVICE_CONFIG, "cpu");
    return new TrainerConfig(all);
  }

  /** The learner factory for a version's settings, its base model checked. */
  Learner.Factory factory(AdapterManifest m) {
    Learner.Factory factory = factories.get(m.getConfigHash());
    if (factory == null) {
      TrainerConfig config = trainerConfig(settings(m));
      if (!config.configHash().equals(m.getConfigHash())) {
        throw new NotReplayable(
            "the recorded settings hash to "
                + config.configHash()
                + ", not to v"
                + m.getVersion()
                + "'s config_hash "
                + m.getConfigHash());
      }
      factory = DpoLearner.factory(config);
      factories.put(m.getConfigHash(), factory);
    }
    if (!factory.baseModelSha256().equals(m.getBaseModel().getSha256())) {
      throw new NotReplayable(
          "v"
              + m.getVersion()
              + " was trained on base model "
              + m.getBaseModel().getName()
              + " (sha256 "
              + m.getBaseModel().getSha256()
              + "); "
              + modelDir
              + " has sha256 "
              + factory.baseModelSha256());
    }
    return factory;
  }

  @Override
  public void close() {
    factories.values().forEach(Learner.Factory::close);
    factories.clear();
  }
}
