package dev.prefstream.audit;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.publisher.ManifestSigner;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.trainer.stream.StateReset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@code audit forget}: a user's events, their pairs and the versions those shaped (the {@link
 * Plan}); executed, every version from the first one a pair of the user shaped to the latest is
 * trained again without the user's pairs, from the state after the last version before it, and
 * published as a new version with origin {@code FORGET}, {@code forget_of} the version it rebuilds
 * and {@code excluded_pair_ids} the pairs it left out (replay leaves them out too). The last one's
 * state becomes the trainer's, so training continues from a model without them.
 */
public final class Forget {
  private Forget() {}

  /** A pair of the user, where it is and what became of it. */
  public record PlannedPair(
      String pairId,
      String model,
      String topic,
      int partition,
      long offset,
      String fate,
      Long version) {}

  /**
   * One model's part of the plan.
   *
   * @param firstVersion the first version a pair of the user was trained into
   * @param rebuildFrom the last version before it (null: the initial adapter)
   * @param shaped the versions whose content the user's pairs shaped (trained into them, or into an
   *     ancestor)
   * @param pairsByVersion the user's pair ids by the version they were trained into
   */
  public record ModelPlan(
      String model,
      long firstVersion,
      Long rebuildFrom,
      List<Long> shaped,
      TreeMap<Long, List<String>> pairsByVersion) {}

  /** What forget finds for a user key. */
  public record Plan(
      String userKey,
      List<String> events,
      List<String> deadLetteredEvents,
      List<PlannedPair> pairs,
      List<ModelPlan> models) {}

  /** A version rebuilt without the user's pairs. */
  public record Rebuild(
      String model,
      long oldVersion,
      long newVersion,
      String sha256,
      List<String> excludedPairIds) {}

  /**
   * Rebuilds and publishes, model by model. Stop the model's trainer first or let it be fenced: the
   * publish takes over the model's transactional id, as a rollback does.
   *
   * @param trainerId the trainer's {@code trainer.id} (its transactional ids)
   * @param signer the trainer's signing key, or null to publish unsigned versions
   */
  public static List<Rebuild> execute(
      Audit audit,
      Plan plan,
      Path modelDir,
      Map<String, String> fallbackSettings,
      String trainerId,
      ManifestSigner signer) {
    List<Rebuild> done = new ArrayList<>();
    for (ModelPlan mp : plan.models()) {
      String model = mp.model();
      Set<String> userPairs = new HashSet<>();
      plan.pairs().stream()
          .filter(p -> p.model().equals(model))
          .forEach(p -> userPairs.add(p.pairId()));
      ModelHistory history = audit.history(model);
      List<AdapterManifest> toRebuild = new ArrayList<>();
      Set<Long> seen = new HashSet<>();
      for (AdapterManifest m : history.manifests()) {
        if (m.getVersion() >= mp.firstVersion() && seen.add(m.getVersion())) {
          toRebuild.add(m);
        }
      }
      toRebuild.sort((a, b) -> Long.compare(a.getVersion(), b.getVersion()));
      long latest =
          history.manifests().stream().mapToLong(AdapterManifest::getVersion).max().orElseThrow();
      try (Replayer replayer =
              new Replayer(
                  history,
                  audit.pairs(),
                  audit.snapshots(model),
                  modelDir,
                  fallbackSettings,
                  Set.of());
          AdapterPublisher publisher =
              new AdapterPublisher(
                  audit.clientProperties(),
                  AdapterPublisher.transactionalId(trainerId, model),
                  audit.topics(),
                  audit.registry(),
                  AdapterPublisher.DEFAULT_CHUNK_BYTES)) {
        Map<Long, Replayer.Rebuilt> rebuilt = new HashMap<>();
        for (AdapterManifest old : toRebuild) {
          if (history.isRollbackLike(old)) {
            // a rollback republishes its target: the rebuilt one when the target was rebuilt
            long target = history.rollbackTarget(old);
            Replayer.Rebuilt content = rebuilt.get(target);
            String configJson;
            byte[] weights;
            if (content != null) {
              configJson = content.configJson();
              weights = content.weights();
            } else {
              List<String> problems = new ArrayList<>();
              Map<String, byte[]> files =
                  history.files(history.manifest(target).orElseThrow(), problems);
              if (!problems.isEmpty()) {
                throw new IllegalStateException(
                    model + " v" + target + "'s files are not complete: " + problems);
              }
              configJson = new String(files.get(AdapterFiles.CONFIG), StandardCharsets.UTF_8);
              weights = files.get(AdapterFiles.WEIGHTS);
            }
            Replayer.Rebuilt r =
                new Replayer.Rebuilt(
                    configJson, weights, Map.of(AdapterFiles.WEIGHTS, weights), List.of(), 0, 0);
            done.add(
                publish(
                    audit, publisher, replayer, model, old, ++latest, r, List.of(), trainerId,
                    signer));
            rebuilt.put(old.getVersion(), r);
            continue;
          }
          Long source = history.contentSource(old);
          Map<String, byte[]> start =
              source == null
                  ? null
                  : rebuilt.containsKey(source)
                      ? rebuilt.get(source).stateFiles()
                      : replayer.stateAfter(source);
          Set<String> excluded = new HashSet<>(userPairs);
          excluded.addAll(old.getExcludedPairIds());
          Replayer.Rebuilt r = replayer.train(old, start, excluded, null);
          List<String> excludedHere = inLineage(audit, old, userPairs);
          excludedHere.addAll(old.getExcludedPairIds());
          done.add(
              publish(
                  audit,
                  publisher,
                  replayer,
                  model,
                  old,
                  ++latest,
                  r,
                  excludedHere,
                  trainerId,
                  signer));
          rebuilt.put(old.getVersion(), r);
        }
      }
    }
    return done;
  }

  /** Publishes {@code r} as {@code newVersion}, the rebuild of {@code old}, with its state. */
  private static Rebuild publish(
      Audit audit,
      AdapterPublisher publisher,
      Replayer replayer,
      String model,
      AdapterManifest old,
      long newVersion,
      Replayer.Rebuilt r,
      List<String> excluded,
      String trainerId,
      ManifestSigner signer) {
    AdapterManifest.Builder manifest =
        AdapterManifest.newBuilder()
            .setModelId(model)
            .setVersion(newVersion)
            .setParentVersion(newVersion - 1)
            .setOrigin(AdapterOrigin.FORGET)
            .setForgetOf(old.getVersion())
            .setBaseModel(old.getBaseModel())
            .setLineage(old.getLineage())
            .setBatches(r.batches())
            .setPairs(r.pairs())
            .setSeed(old.getSeed())
            .setConfigHash(old.getConfigHash())
            .setTrainerId(trainerId)
            .setMetrics(Map.of())
            .setStateSnapshot(true)
            .setExcludedPairIds(List.copyOf(new LinkedHashSet<>(excluded)));
    AdapterManifest published =
        publisher
            .publish(
                manifest,
                AdapterFiles.peft(r.configJson(), r.weights()),
                StateReset.to(
                    audit.clientProperties(),
                    audit.topics(),
                    audit.registry(),
                    model,
                    newVersion,
                    r.stateFiles(),
                    old.getConfigHash(),
                    replayer.settings(old)),
                signer)
            .manifest();
    return new Rebuild(
        model, old.getVersion(), newVersion, published.getSha256(), published.getExcludedPairIds());
  }

  /** The user's pairs that lie in {@code m}'s lineage. */
  private static List<String> inLineage(Audit audit, AdapterManifest m, Set<String> userPairs) {
    List<String> found = new ArrayList<>();
    for (OffsetRange r : m.getLineage()) {
      for (PairLog.Entry e :
          audit.pairs().range(r.getTopic(), r.getPartition(), r.getFromOffset(), r.getToOffset())) {
        if (e.pair() != null && userPairs.contains(e.pair().getPairId())) {
          found.add(e.pair().getPairId());
        }
      }
    }
    return found;
  }
}
