package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.AdapterManifest;
import java.util.Map;

/** Progress callbacks, called on the trainer's thread; keep them quick. */
public interface TrainerListener {
  TrainerListener NONE = new TrainerListener() {};

  /** A batch was processed (applied or skipped). */
  default void onStep(
      String modelId, long step, boolean applied, int pairs, Map<String, Double> metrics) {}

  /** A version was committed. */
  default void onPublished(AdapterManifest manifest) {}
}
