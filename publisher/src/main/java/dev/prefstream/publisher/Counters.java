package dev.prefstream.publisher;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Named monotonic counters, safe to bump from any thread: what the sink skipped or refused (by
 * reason), materialized, and what each serving engine answered. Plain on purpose, so a metrics
 * registry can expose {@link #snapshot()} later without this module depending on one.
 */
public final class Counters {
  private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

  public void increment(String name) {
    counts.computeIfAbsent(name, n -> new LongAdder()).increment();
  }

  public long get(String name) {
    LongAdder adder = counts.get(name);
    return adder == null ? 0 : adder.sum();
  }

  /** Every counter by name, sorted. */
  public Map<String, Long> snapshot() {
    Map<String, Long> copy = new TreeMap<>();
    counts.forEach((name, adder) -> copy.put(name, adder.sum()));
    return copy;
  }

  /** The counters whose name starts with {@code prefix}, with the prefix removed. */
  public Map<String, Long> withPrefix(String prefix) {
    Map<String, Long> selected = new TreeMap<>();
    snapshot()
        .forEach(
            (name, count) -> {
              if (name.startsWith(prefix)) {
                selected.put(name.substring(prefix.length()), count);
              }
            });
    return selected;
  }

  @Override
  public String toString() {
    return snapshot().toString();
  }
}
