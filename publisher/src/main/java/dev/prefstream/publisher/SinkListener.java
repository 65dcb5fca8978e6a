package dev.prefstream.publisher;

import java.time.Duration;

/**
 * What the sink reports besides the versions it writes (those go to its {@code Consumer<
 * Materialized>}): every version's outcome and every call to a serving engine. Metrics observe the
 * sink through it; called on the sink's thread, keep it quick.
 */
public interface SinkListener {
  SinkListener NONE = new SinkListener() {};

  /** The version is on disk now. */
  String MATERIALIZED = "materialized";

  /** The version's directory already existed (a redelivery after a restart): nothing written. */
  String ALREADY_PRESENT = "already_present";

  /** Chunks were missing or did not match the manifest's sizes and digests: not written. */
  String INCOMPLETE = "incomplete";

  /** The assembled weights do not have the manifest's sha256: not written. */
  String SHA256_MISMATCH = "sha256_mismatch";

  /** A record on the adapters topic could not be decoded: skipped. */
  String UNREADABLE = "unreadable";

  /** A version's outcome, one of the constants above ({@code version} -1 for unreadable). */
  default void onVersion(String modelId, long version, String outcome) {}

  /**
   * A serving engine was asked to load a version (e.g. vLLM's {@code /v1/load_lora_adapter});
   * {@code outcome} is {@code ok} or a short failure code such as {@code http_500}, {@code timeout}
   * or {@code unreachable}.
   */
  default void onReload(String modelId, long version, String outcome, Duration took) {}
}
