package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.PreferencePair;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The evaluation gate of one model: the held-out pairs (a deterministic share by pair id, the most
 * recent {@code trainer.holdout.max.pairs}) and the verdict on a candidate's held-out evaluation (a
 * reward-accuracy floor and a KL ceiling).
 */
final class Gate {
  /** Why a candidate may not be published. */
  record Refusal(String reason, String message) {}

  private final HoldoutSplit split;
  private final int maxPairs;
  private final double minAccuracy;
  private final double maxKl;
  private final Deque<PreferencePair> heldOut = new ArrayDeque<>();

  Gate(TrainerConfig config) {
    this.split = new HoldoutSplit(config.getDouble(TrainerConfig.HOLDOUT_PERCENT_CONFIG));
    this.maxPairs = config.getInt(TrainerConfig.HOLDOUT_MAX_PAIRS_CONFIG);
    this.minAccuracy = config.getDouble(TrainerConfig.GATE_MIN_ACCURACY_CONFIG);
    this.maxKl = config.getDouble(TrainerConfig.GATE_MAX_KL_CONFIG);
  }

  /** Keeps {@code pair} for the gate when the split holds it out; true when it did. */
  boolean holdOut(PreferencePair pair) {
    if (!split.isHeldOut(pair.getPairId())) {
      return false;
    }
    heldOut.addLast(pair);
    while (heldOut.size() > maxPairs) {
      heldOut.removeFirst();
    }
    return true;
  }

  /** The held-out evaluation of the learner's current adapter; empty when the gate is off. */
  Map<String, Double> evaluate(Learner learner) {
    boolean enabled = minAccuracy > 0 || maxKl > 0;
    return enabled && !heldOut.isEmpty() ? learner.evaluate(List.copyOf(heldOut)) : Map.of();
  }

  /** The refusal a candidate with {@code evaluation} earns, if any. */
  Optional<Refusal> verdict(Map<String, Double> evaluation) {
    if (evaluation.isEmpty()) {
      return Optional.empty();
    }
    double accuracy =
        evaluation.getOrDefault(MetricNames.eval(MetricNames.REWARD_ACCURACY), Double.NaN);
    if (minAccuracy > 0 && !(accuracy >= minAccuracy)) {
      return Optional.of(
          new Refusal(
              "accuracy_below_floor",
              String.format(
                  Locale.ROOT,
                  "held-out reward accuracy %.4f on %d pairs is below %s=%s",
                  accuracy,
                  heldOut.size(),
                  TrainerConfig.GATE_MIN_ACCURACY_CONFIG,
                  minAccuracy)));
    }
    double kl = evaluation.getOrDefault(MetricNames.eval(MetricNames.KL), Double.NaN);
    if (maxKl > 0 && !(kl <= maxKl)) {
      return Optional.of(
          new Refusal(
              "kl_above_ceiling",
              String.format(
                  Locale.ROOT,
                  "held-out KL from the reference %.6f nats/token exceeds %s=%s",
                  kl,
                  TrainerConfig.GATE_MAX_KL_CONFIG,
                  maxKl)));
    }
    return Optional.empty();
  }
}
