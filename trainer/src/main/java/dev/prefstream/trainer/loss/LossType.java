package dev.prefstream.trainer.loss;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** The preference losses we implement, by their TRL / LLaMA-Factory names. */
public enum LossType {
  SIGMOID,
  ROBUST,
  HINGE,
  IPO,
  SIMPO,
  ORPO,
  BCO_PAIR,
  APO_ZERO,
  APO_DOWN,
  KTO,
  APO_ZERO_UNPAIRED;

  /** The name TRL uses, e.g. "bco_pair". */
  public String trlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static LossType parse(String name) {
    for (LossType t : values()) {
      if (t.trlName().equals(name)) {
        return t;
      }
    }
    throw new IllegalArgumentException("unknown loss '" + name + "'; known: " + names());
  }

  public static List<String> names() {
    return Arrays.stream(values()).map(LossType::trlName).toList();
  }

  /** Losses over single (prompt, completion, desirable?) examples rather than pairs. */
  public boolean unpaired() {
    return this == KTO || this == APO_ZERO_UNPAIRED;
  }

  /** Losses without a reference model (the reference is still scored for reports). */
  public boolean referenceFree() {
    return this == SIMPO || this == ORPO;
  }

  /** Losses on log-probabilities averaged over the response tokens, as TRL computes them. */
  public boolean averagesLogps() {
    return this == IPO || this == SIMPO || this == ORPO;
  }
}
