package dev.prefstream.ingest;

import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import java.util.List;

/** What ingest made of one input record: training data, or a dead letter. */
sealed interface Outcome {

  /** Usable feedback: the pairs it yields (a ranked list yields several), keyed by model id. */
  record Accepted(String modelId, List<PreferencePair> pairs) implements Outcome {}

  /** Unusable input, with its original bytes, where it came from and why. */
  record Rejected(Rejection rejection) implements Outcome {}
}
