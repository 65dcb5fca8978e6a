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

  /**
   * Chunks were missing or did not match the manifest's sizes and digests (the weights' sha256
   * included): not written.
   */
  String INCOMPLETE = "incomplete";

  /** A write failed (disk full, I/O error): the version is retried, offsets held before it. */
  String WRITE_FAILED = "write_failed";

  // other outcomes: refused_<reason> (unsigned, unknown_key, bad_signature: never written) and
  // skipped_<reason> (a record that failed a check, see AdapterRecordReader)

  /** A record on the adapters topic could not be decoded: skipped. */
  String UNREADABLE = "unreadable";

  /** A version's outcome, one of the constants above ({@code version} -1 for unreadable). */
  default void onVersion(String modelId, long version, String outcome) {}

  /**
   * A serving engine was asked to load a version (vLLM's {@code /v1/load_lora_adapter}, SGLang's
   * {@code /load_lora_adapter}) and finished, retries included: {@code outcome} is {@code ok} or
   * {@code failed}; {@code took} runs from the version's materialization to the final reply.
   */
  default void onReload(String modelId, long version, String outcome, Duration took) {}
}
