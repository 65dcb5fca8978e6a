package dev.prefstream.audit;

import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainingBatch;
import dev.prefstream.trainer.stream.PairSelection;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What became of a pair of the pairs topic, read from its model's history: trained into a version,
 * held out, dead-lettered, in a refused candidate or a skipped batch, left out by a forget, or not
 * yet in any version; and which versions descend from a version.
 */
final class Fates {
  /** Fates, as the JSON names them. */
  static final String TRAINED = "trained";

  static final String HELD_OUT = "held_out";
  static final String DEAD_LETTERED = "dead_lettered";
  static final String REFUSED = "refused";
  static final String SKIPPED_BATCH = "skipped_non_finite";
  static final String FORGOTTEN = "forgotten";
  static final String NOT_YET_TRAINED = "not_yet_trained";

  /** A pair's fate: {@code version} is the version (or refusal's parent) it concerns. */
  record Fate(String fate, Long version, String detail) {}

  private final ModelHistory history;
  private final Map<String, Rejection> deadLetters;
  private final PairSelection selection;

  /**
   * @param deadLetters rejections by {@code topic/partition/offset} of the record rejected
   * @param selection the held-out rule of the model's trainer
   */
  Fates(ModelHistory history, Map<String, Rejection> deadLetters, PairSelection selection) {
    this.history = history;
    this.deadLetters = deadLetters;
    this.selection = selection;
  }

  static String where(String topic, int partition, long offset) {
    return topic + "/" + partition + "/" + offset;
  }

  Fate of(String topic, int partition, long offset, PreferencePair pair) {
    Rejection rejected = deadLetters.get(where(topic, partition, offset));
    if (rejected != null) {
      return new Fate(DEAD_LETTERED, null, rejected.getReason() + ": " + rejected.getMessage());
    }
    for (ModelHistory.Entry e : history.entries()) {
      boolean manifest = e.isManifest();
      List<OffsetRange> lineage = manifest ? e.manifest().getLineage() : e.refusal().getLineage();
      if (manifest && e.manifest().getOrigin() == AdapterOrigin.FORGET) {
        continue;
      }
      if (!contains(lineage, topic, partition, offset)) {
        continue;
      }
      if (!manifest) {
        return new Fate(
            REFUSED,
            e.refusal().getParentVersion(),
            "in a candidate refused (" + e.refusal().getReason() + "); its parent stayed current");
      }
      AdapterManifest m = e.manifest();
      if (pair != null && selection.heldOut(pair)) {
        return new Fate(HELD_OUT, m.getVersion(), "held out for the evaluation gate");
      }
      Optional<TrainingBatch> batch =
          m.getBatches().stream()
              .filter(b -> contains(b.getRanges(), topic, partition, offset))
              .findFirst();
      if (batch.isEmpty()) {
        return new Fate(
            HELD_OUT, m.getVersion(), "inside v" + m.getVersion() + "'s range but in no batch");
      }
      if (batch.get().getStatus() != BatchStatus.APPLIED) {
        return new Fate(SKIPPED_BATCH, m.getVersion(), "its batch had a non-finite loss");
      }
      Optional<AdapterManifest> forget = forgetting(m.getVersion(), pair);
      if (forget.isPresent()) {
        return new Fate(
            FORGOTTEN,
            m.getVersion(),
            "trained in v"
                + m.getVersion()
                + ", left out of its rebuild v"
                + forget.get().getVersion());
      }
      return new Fate(TRAINED, m.getVersion(), "step " + batch.get().getStep());
    }
    return new Fate(NOT_YET_TRAINED, null, "in no published version or refusal yet");
  }

  private Optional<AdapterManifest> forgetting(long version, PreferencePair pair) {
    if (pair == null) {
      return Optional.empty();
    }
    return history.manifests().stream()
        .filter(
            m ->
                m.getOrigin() == AdapterOrigin.FORGET
                    && Long.valueOf(version).equals(m.getForgetOf())
                    && m.getExcludedPairIds().contains(pair.getPairId()))
        .findFirst();
  }

  /**
   * The versions whose content descends from {@code version}: through parents, and for a rollback
   * through the version it rolled back to (a rollback to before {@code version} does not descend).
   */
  List<Long> descendants(long version) {
    List<Long> found = new ArrayList<>();
    for (AdapterManifest m : history.manifests()) {
      if (m.getVersion() > version && descendsFrom(m, version, 0)) {
        found.add(m.getVersion());
      }
    }
    return found;
  }

  private boolean descendsFrom(AdapterManifest m, long ancestor, int depth) {
    Long source = history.contentSource(m);
    if (source == null || depth > 1_000_000) {
      return false;
    }
    if (source == ancestor) {
      return true;
    }
    Optional<AdapterManifest> parent = history.manifest(source);
    return parent.isPresent()
        && parent.get().getVersion() < m.getVersion()
        && descendsFrom(parent.get(), ancestor, depth + 1);
  }

  static boolean contains(List<OffsetRange> ranges, String topic, int partition, long offset) {
    for (OffsetRange r : ranges) {
      if (r.getTopic().equals(topic)
          && r.getPartition() == partition
          && r.getFromOffset() <= offset
          && offset < r.getToOffset()) {
        return true;
      }
    }
    return false;
  }
}
