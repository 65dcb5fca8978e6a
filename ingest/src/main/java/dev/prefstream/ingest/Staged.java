package dev.prefstream.ingest;

import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.ServedResponses;
import dev.prefstream.schemas.avro.UnpairedFeedback;

/**
 * A record on its way through ingest. The processors form a chain; each handles the variants it is
 * about and passes the others on unchanged, so that at the end only the three outcomes are left:
 * pairs, unpaired feedback and rejections.
 */
sealed interface Staged {

  /** Valid, normalized feedback that still needs dedup, rate limiting and conversion. */
  record Feedback(Sourced source, FeedbackEvent event) implements Staged {}

  /** A valid, normalized impression from the served topic, for choices to join. */
  record Impression(Sourced source, ServedResponses impression) implements Staged {}

  /** A preference pair for the pairs topic. */
  record Pair(PreferencePair pair) implements Staged {}

  /** A single rated response for the unpaired topic. */
  record Unpaired(UnpairedFeedback feedback) implements Staged {}

  /** Unusable input, with its original bytes, where it came from and why. */
  record Rejected(Rejection rejection) implements Staged {}
}
