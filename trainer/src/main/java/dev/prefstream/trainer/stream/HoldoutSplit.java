package dev.prefstream.trainer.stream;

/**
 * The deterministic held-out split: a pair is held out when the first 32 bits of its pair_id (a hex
 * sha-256) fall in the lowest {@code percent} of the range. Replays and restarts split alike.
 */
final class HoldoutSplit {
  private final long threshold;

  HoldoutSplit(double percent) {
    if (percent < 0 || percent > 100) {
      throw new IllegalArgumentException("holdout percent must be in [0, 100], got " + percent);
    }
    this.threshold = (long) Math.floor(percent / 100.0 * (1L << 32));
  }

  boolean isHeldOut(String pairId) {
    if (threshold == 0) {
      return false;
    }
    if (pairId.length() < 8) {
      throw new IllegalArgumentException("pair_id '" + pairId + "' is not a hex sha-256");
    }
    return Long.parseLong(pairId.substring(0, 8), 16) < threshold;
  }
}
