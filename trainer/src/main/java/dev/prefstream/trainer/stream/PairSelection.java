package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.UnpairedFeedback;

/**
 * The rules by which the trainer leaves a readable pair of its model out of the batches, for audits
 * that rebuild those batches from a version's recorded ranges: held out for the gate (a hash of
 * pair_id, {@value TrainerConfig#HOLDOUT_PERCENT_CONFIG}). Pairs the learner cannot use ({@link
 * Learner#problemWith}) are left out too, as {@code ModelSession.add} does.
 */
public final class PairSelection {
  private final HoldoutSplit split;

  public PairSelection(double holdoutPercent) {
    this.split = new HoldoutSplit(holdoutPercent);
  }

  /** True when the trainer held {@code pair} out of training. */
  public boolean heldOut(PreferencePair pair) {
    return split.isHeldOut(pair.getPairId());
  }

  /** True when the trainer held {@code example} out of training (by its feedback_id). */
  public boolean heldOut(UnpairedFeedback example) {
    return split.isHeldOut(example.getFeedbackId());
  }
}
