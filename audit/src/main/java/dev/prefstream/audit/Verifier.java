package dev.prefstream.audit;

import dev.prefstream.publisher.AdapterFiles;
import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.TrainingBatch;
import dev.prefstream.schemas.avro.VersionRefusal;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * {@code audit verify}: checks a model's history on the adapters topic. For every version: its
 * signature (through a pluggable {@link SignatureCheck}), its parent (the version published just
 * before it), a version number that is new and larger than every earlier one, its files (every
 * chunk present, sizes and sha-256 as the manifest names them, the adapter's sha-256 that of its
 * weights), its batches inside its lineage; and for the versions and refusals together: lineage
 * ranges that follow each other with no gap and no overlap.
 */
public final class Verifier {
  private Verifier() {}

  /** One thing wrong, with the version it is about (null: the model as a whole). */
  public record Problem(Long version, String what) {}

  /** What verify found. */
  public record Report(
      String model, int versions, int refusals, List<Problem> problems, List<Skipped> skipped) {
    /** True when nothing is wrong (records that could not be read are reported, not judged). */
    public boolean ok() {
      return problems.isEmpty() && versions > 0;
    }
  }

  /**
   * Checks a manifest's signature: empty when it holds, else what is wrong.
   *
   * <p>{@code prefstream audit verify} builds one from trusted public keys (the publisher's
   * ManifestVerifier: unsigned, unknown key and bad signature are problems); {@link #NONE} where no
   * key is configured.
   */
  @FunctionalInterface
  public interface SignatureCheck {
    /** No signing configured: nothing to check. */
    SignatureCheck NONE = manifest -> Optional.empty();

    Optional<String> problem(AdapterManifest manifest);
  }

  public static Report verify(ModelHistory history, SignatureCheck signatures) {
    List<Problem> problems = new ArrayList<>();
    Map<Long, AdapterManifest> published = new HashMap<>();
    Map<String, Long> nextOffset =
        new HashMap<>(); // topic/partition -> where the next range starts
    Long previous = null;
    int versions = 0;
    int refusals = 0;
    for (ModelHistory.Entry entry : history.entries()) {
      if (!entry.isManifest()) {
        refusals++;
        VersionRefusal refusal = entry.refusal();
        if (!Objects.equals(refusal.getParentVersion(), previous)) {
          problems.add(
              new Problem(
                  refusal.getParentVersion(),
                  "a refusal at offset "
                      + entry.offset()
                      + " names parent_version "
                      + refusal.getParentVersion()
                      + " but the latest published version then was "
                      + previous));
        }
        tile(
            refusal.getLineage(),
            "refused candidate at offset " + entry.offset(),
            null,
            nextOffset,
            problems);
        checkBatches(refusal.getLineage(), refusal.getBatches(), null, problems);
        continue;
      }
      versions++;
      AdapterManifest m = entry.manifest();
      long v = m.getVersion();
      if (!history.modelId().equals(m.getModelId()) || !history.modelId().equals(entry.key())) {
        problems.add(
            new Problem(
                v,
                "record key '"
                    + entry.key()
                    + "' and model_id '"
                    + m.getModelId()
                    + "' at offset "
                    + entry.offset()
                    + " do not both name "
                    + history.modelId()));
      }
      if (published.containsKey(v)) {
        problems.add(
            new Problem(
                v,
                "version " + v + " is published twice (again at offset " + entry.offset() + ")"));
      } else if (previous != null && v <= previous) {
        problems.add(
            new Problem(
                v, "version " + v + " comes after version " + previous + ": not increasing"));
      } else if (v < 1) {
        problems.add(new Problem(v, "version numbers start at 1"));
      }
      if (!Objects.equals(m.getParentVersion(), previous)) {
        problems.add(
            new Problem(
                v,
                "parent_version "
                    + m.getParentVersion()
                    + " but the version published before it is "
                    + previous));
      }
      checkFiles(history, m, problems);
      signatures.problem(m).ifPresent(p -> problems.add(new Problem(v, "signature: " + p)));
      AdapterOrigin origin = m.getOrigin();
      if (origin == AdapterOrigin.ROLLBACK) {
        AdapterManifest target =
            m.getRollbackOf() == null ? null : published.get(m.getRollbackOf());
        if (target == null) {
          problems.add(
              new Problem(v, "rollback_of " + m.getRollbackOf() + " is no earlier version"));
        } else if (!target.getSha256().equals(m.getSha256())) {
          problems.add(
              new Problem(
                  v,
                  "a rollback to v"
                      + target.getVersion()
                      + " must have its sha256 "
                      + target.getSha256()
                      + ", has "
                      + m.getSha256()));
        }
      } else if (origin == AdapterOrigin.FORGET) {
        AdapterManifest rebuilt = m.getForgetOf() == null ? null : published.get(m.getForgetOf());
        if (rebuilt == null) {
          problems.add(new Problem(v, "forget_of " + m.getForgetOf() + " is no earlier version"));
        } else if (!rebuilt.getLineage().equals(m.getLineage())) {
          problems.add(
              new Problem(
                  v,
                  "a forget rebuild covers the lineage of v"
                      + rebuilt.getVersion()
                      + ", but its lineage differs"));
        }
        checkBatches(m.getLineage(), m.getBatches(), v, problems);
      } else {
        tile(m.getLineage(), "version " + v, v, nextOffset, problems);
        checkBatches(m.getLineage(), m.getBatches(), v, problems);
        int applied =
            m.getBatches().stream()
                .filter(b -> b.getStatus() == BatchStatus.APPLIED)
                .mapToInt(TrainingBatch::getPairs)
                .sum();
        if (applied != m.getPairs()) {
          problems.add(
              new Problem(v, "pairs " + m.getPairs() + " but its applied batches hold " + applied));
        }
      }
      published.putIfAbsent(v, m);
      if (previous == null || v > previous) {
        previous = v;
      }
    }
    if (versions == 0) {
      problems.add(
          new Problem(null, "no version of " + history.modelId() + " on " + history.topic()));
    }
    return new Report(history.modelId(), versions, refusals, problems, history.skipped());
  }

  /** Ranges must start where the previous version's (or refusal's) ended on their partition. */
  private static void tile(
      List<OffsetRange> lineage,
      String what,
      Long version,
      Map<String, Long> nextOffset,
      List<Problem> problems) {
    if (lineage.isEmpty()) {
      problems.add(new Problem(version, what + " has no lineage"));
    }
    for (OffsetRange r : lineage) {
      String tp = r.getTopic() + "-" + r.getPartition();
      if (r.getFromOffset() < 0 || r.getToOffset() < r.getFromOffset()) {
        problems.add(
            new Problem(
                version,
                what
                    + " has a malformed range "
                    + tp
                    + " ["
                    + r.getFromOffset()
                    + ", "
                    + r.getToOffset()
                    + ")"));
        continue;
      }
      Long expected = nextOffset.get(tp);
      if (expected != null && r.getFromOffset() > expected) {
        problems.add(
            new Problem(
                version,
                what
                    + " starts at "
                    + tp
                    + "@"
                    + r.getFromOffset()
                    + ": offsets "
                    + expected
                    + ".."
                    + (r.getFromOffset() - 1)
                    + " are in no version (a gap)"));
      } else if (expected != null && r.getFromOffset() < expected) {
        problems.add(
            new Problem(
                version,
                what
                    + " starts at "
                    + tp
                    + "@"
                    + r.getFromOffset()
                    + ", inside an earlier range that ended at "
                    + expected
                    + " (overlap)"));
      }
      nextOffset.put(tp, Math.max(r.getToOffset(), expected == null ? 0 : expected));
    }
  }

  /** Batches lie inside the lineage, in order, without overlapping. */
  private static void checkBatches(
      List<OffsetRange> lineage,
      List<TrainingBatch> batches,
      Long version,
      List<Problem> problems) {
    Map<String, Long> end = new HashMap<>();
    for (TrainingBatch batch : batches) {
      for (OffsetRange r : batch.getRanges()) {
        String tp = r.getTopic() + "-" + r.getPartition();
        boolean inside =
            lineage.stream()
                .anyMatch(
                    l ->
                        l.getTopic().equals(r.getTopic())
                            && l.getPartition() == r.getPartition()
                            && l.getFromOffset() <= r.getFromOffset()
                            && r.getToOffset() <= l.getToOffset());
        if (!inside || r.getToOffset() <= r.getFromOffset()) {
          problems.add(
              new Problem(
                  version,
                  "batch of step "
                      + batch.getStep()
                      + " range "
                      + tp
                      + " ["
                      + r.getFromOffset()
                      + ", "
                      + r.getToOffset()
                      + ") is empty or outside the lineage"));
        }
        Long last = end.get(tp);
        if (last != null && r.getFromOffset() < last) {
          problems.add(
              new Problem(
                  version,
                  "batch of step " + batch.getStep() + " overlaps the batch before it on " + tp));
        }
        end.put(tp, r.getToOffset());
      }
    }
  }

  private static void checkFiles(ModelHistory history, AdapterManifest m, List<Problem> problems) {
    List<String> fileProblems = new ArrayList<>();
    Map<String, byte[]> files = history.files(m, fileProblems);
    fileProblems.forEach(p -> problems.add(new Problem(m.getVersion(), "files: " + p)));
    Optional<AdapterFile> weights =
        m.getFiles().stream().filter(f -> f.getName().equals(AdapterFiles.WEIGHTS)).findFirst();
    if (weights.isEmpty()) {
      problems.add(new Problem(m.getVersion(), "files: no " + AdapterFiles.WEIGHTS));
    } else if (!weights.get().getSha256().equals(m.getSha256())) {
      problems.add(
          new Problem(
              m.getVersion(),
              "sha256 "
                  + m.getSha256()
                  + " is not that of its "
                  + AdapterFiles.WEIGHTS
                  + " ("
                  + weights.get().getSha256()
                  + ")"));
    } else if (files.containsKey(AdapterFiles.WEIGHTS)
        && !AdapterFiles.sha256(files.get(AdapterFiles.WEIGHTS)).equals(m.getSha256())) {
      problems.add(new Problem(m.getVersion(), "the weights' sha256 differs from the manifest's"));
    }
  }
}
