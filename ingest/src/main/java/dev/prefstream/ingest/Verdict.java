package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;

/** The rules' judgement of one decoded record: its normalized form, or why it is unusable. */
sealed interface Verdict<T> {

  record Valid<T>(T value) implements Verdict<T> {}

  record Problem<T>(DeadLetterReason reason, String message) implements Verdict<T> {}
}
