package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.PreferencePair;
import java.util.ArrayList;
import java.util.List;

/** One model's pairs waiting for a batch, oldest first, with their offsets and arrival times. */
final class BatchQueue {
  /** A pair waiting to be trained. */
  record Pending(long offset, PreferencePair pair, long arrivedNanos) {}

  private final List<Pending> pending = new ArrayList<>();

  void add(long offset, PreferencePair pair, long nowNanos) {
    pending.add(new Pending(offset, pair, nowNanos));
  }

  int size() {
    return pending.size();
  }

  boolean isEmpty() {
    return pending.isEmpty();
  }

  /** True when the oldest pair has waited at least {@code maxWaitNanos} (0: never). */
  boolean waitedTooLong(long nowNanos, long maxWaitNanos) {
    return maxWaitNanos > 0
        && !pending.isEmpty()
        && nowNanos - pending.get(0).arrivedNanos() >= maxWaitNanos;
  }

  /** Removes and returns the oldest {@code size} pairs. */
  List<Pending> take(int size) {
    List<Pending> taken = new ArrayList<>(pending.subList(0, size));
    pending.subList(0, size).clear();
    return taken;
  }
}
