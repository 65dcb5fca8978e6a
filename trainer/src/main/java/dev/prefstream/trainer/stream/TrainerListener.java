package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.VersionRefusal;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/** Progress callbacks, called on the trainer's thread; keep them quick. */
public interface TrainerListener {
  TrainerListener NONE = new TrainerListener() {};

  /** A batch was processed (applied or skipped). */
  default void onStep(
      String modelId, long step, boolean applied, int pairs, Map<String, Double> metrics) {}

  /** A version was committed; {@code pairOccurredAt} has one entry per pair trained into it. */
  default void onPublished(AdapterManifest manifest, List<Instant> pairOccurredAt) {}

  /** A candidate was refused and recorded; training continues from the last published version. */
  default void onRefused(VersionRefusal refusal) {}

  /**
   * A pairs record became a dead letter ({@code reason} is a {@code DeadLetterReason} code): of a
   * model trained here (it commits with the version or refusal whose range holds it), or of no
   * model trained here ({@code model_not_trained}, {@code invalid_model_id}, an unkeyed unreadable
   * record; it commits with the next transaction on its partition). {@code modelId} is null when
   * the record names no usable model id. A record re-read after a restart before its dead letter
   * committed is reported again.
   */
  default void onDeadLetter(String modelId, String reason) {}
}
