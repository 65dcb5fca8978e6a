package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.PreferencePair;
import java.util.List;

/** The rules' judgement of one decoded event, before it is placed in the stream. */
sealed interface Verdict {

  record Pairs(List<PreferencePair> pairs) implements Verdict {}

  record Problem(DeadLetterReason reason, String message) implements Verdict {}
}
