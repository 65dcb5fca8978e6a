package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.MetricNames;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The evaluation gate of one model: the held-out pairs (a deterministic share by pair id, the most
 * recent {@code trainer.holdout.max.pairs}) and the verdict on a candidate's held-out evaluation (a
 * reward-accuracy floor and a KL ceiling). With an unpaired loss, unpaired records are held out by
 * the same rule (a hash of feedback_id), kept apart, and committed with the state the same way; the
 * gate's floor and ceiling are then off ({@link TrainerConfig} refuses them at start-up).
 */
final class Gate {
  /** Why a candidate may not be published. */
  record Refusal(String reason, String message) {}

  /** The held-out pairs in the trainer state: the gate judges the same pairs after a restart. */
  static final String HELD_OUT_FILE = "heldout.avro";

  /** The held-out unpaired records (unpaired losses), likewise. */
  static final String HELD_OUT_UNPAIRED_FILE = "heldout-unpaired.avro";

  private static final Logger log = LoggerFactory.getLogger(Gate.class);

  private final HoldoutSplit split;
  private final int maxPairs;
  private final double minAccuracy;
  private final double maxKl;
  private final Deque<PreferencePair> heldOut = new ArrayDeque<>();
  private final Deque<UnpairedFeedback> heldOutUnpaired = new ArrayDeque<>();

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
    if (heldOut.stream().anyMatch(p -> p.getPairId().equals(pair.getPairId()))) {
      return true; // re-read after a restart: already restored from the state
    }
    heldOut.addLast(pair);
    while (heldOut.size() > maxPairs) {
      heldOut.removeFirst();
    }
    return true;
  }

  /** As {@link #holdOut(PreferencePair)}, for an unpaired record (by its feedback_id). */
  boolean holdOut(UnpairedFeedback example) {
    if (!split.isHeldOut(example.getFeedbackId())) {
      return false;
    }
    if (heldOutUnpaired.stream().anyMatch(u -> u.getFeedbackId().equals(example.getFeedbackId()))) {
      return true; // re-read after a restart: already restored from the state
    }
    heldOutUnpaired.addLast(example);
    while (heldOutUnpaired.size() > maxPairs) {
      heldOutUnpaired.removeFirst();
    }
    return true;
  }

  /**
   * The held-out evaluation of the learner's current adapter, with {@code eval/pairs}; empty when
   * the gate is off. With no held-out pair yet it is only {@code eval/pairs = 0}: reported (in the
   * manifest and the log) as unevaluated, never counted as a pass of the floor or the ceiling.
   */
  Map<String, Double> evaluate(Learner learner) {
    boolean enabled = minAccuracy > 0 || maxKl > 0;
    if (!enabled) {
      return Map.of();
    }
    Map<String, Double> metrics = new TreeMap<>();
    if (!heldOut.isEmpty() || !heldOutUnpaired.isEmpty()) {
      metrics.putAll(
          heldOutUnpaired.isEmpty()
              ? learner.evaluate(List.copyOf(heldOut))
              : learner.evaluate(List.copyOf(heldOut), List.copyOf(heldOutUnpaired)));
    } else {
      log.warn("the gate has no held-out pairs yet: this candidate is published unevaluated");
    }
    metrics.put(EVAL_PAIRS, (double) heldOut.size() + heldOutUnpaired.size());
    return metrics;
  }

  /** {@code eval/pairs}: how many held-out pairs the gate judged a candidate on. */
  static final String EVAL_PAIRS = MetricNames.eval("pairs");

  /** {@code stateFiles} plus the held-out pairs, for the state committed with a version. */
  Map<String, byte[]> with(Map<String, byte[]> stateFiles) {
    Map<String, byte[]> all = new LinkedHashMap<>(stateFiles);
    all.put(HELD_OUT_FILE, encode(heldOut, PreferencePair.class));
    if (!heldOutUnpaired.isEmpty()) {
      all.put(HELD_OUT_UNPAIRED_FILE, encode(heldOutUnpaired, UnpairedFeedback.class));
    }
    return all;
  }

  /** Takes back the held-out records of a committed state (none in states of older versions). */
  void restore(Map<String, byte[]> stateFiles) {
    restore(heldOut, stateFiles.get(HELD_OUT_FILE), PreferencePair.class);
    restore(heldOutUnpaired, stateFiles.get(HELD_OUT_UNPAIRED_FILE), UnpairedFeedback.class);
  }

  private static <T> void restore(Deque<T> into, byte[] file, Class<T> type) {
    into.clear();
    if (file == null) {
      return;
    }
    SpecificDatumReader<T> reader = new SpecificDatumReader<>(type);
    BinaryDecoder in = DecoderFactory.get().binaryDecoder(file, null);
    try {
      while (!in.isEnd()) {
        into.addLast(reader.read(null, in));
      }
    } catch (IOException | RuntimeException e) {
      log.error(
          "held-out {} records in the trainer state are unreadable, starting without: {}",
          type.getSimpleName(),
          e.toString());
      into.clear();
    }
  }

  private static <T> byte[] encode(Deque<T> records, Class<T> type) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    SpecificDatumWriter<T> writer = new SpecificDatumWriter<>(type);
    BinaryEncoder out = EncoderFactory.get().binaryEncoder(bytes, null);
    try {
      for (T record : records) {
        writer.write(record, out);
      }
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  /** The refusal a candidate with {@code evaluation} earns, if any. */
  Optional<Refusal> verdict(Map<String, Double> evaluation) {
    if (evaluation.isEmpty() || evaluation.getOrDefault(EVAL_PAIRS, 0.0) == 0.0) {
      return Optional.empty(); // gate off, or nothing to judge on (reported by evaluate)
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
