package dev.prefstream.cli;

import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.trainer.offline.PreferenceFile;
import dev.prefstream.trainer.tokenize.ChatTurn;
import dev.prefstream.trainer.tokenize.Prompt;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * A record of a preference file as the feedback event that states it: a pair as PAIRWISE, an
 * unpaired example as BINARY (label true = thumbs up). Lives in the CLI because the trainer's
 * offline package knows nothing of the Avro wire types.
 */
final class PreferenceEvents {
  private PreferenceEvents() {}

  static FeedbackEvent of(
      PreferenceFile.Record record,
      String eventId,
      String modelId,
      String source,
      Instant occurredAt) {
    FeedbackEvent.Builder event =
        FeedbackEvent.newBuilder()
            .setEventId(eventId)
            .setModelId(modelId)
            .setOccurredAt(occurredAt)
            .setSource(source)
            .setPrompt(prompt(record.prompt()));
    if (record.paired()) {
      return event
          .setKind(FeedbackKind.PAIRWISE)
          .setChosen(record.chosen())
          .setRejected(record.rejected())
          .build();
    }
    return event
        .setKind(FeedbackKind.BINARY)
        .setResponse(record.chosen())
        .setLabel(record.label())
        .build();
  }

  /** Plain text as a string, chat turns as the Avro message list. */
  static Object prompt(Prompt prompt) {
    if (prompt instanceof Prompt.Chat chat) {
      List<ChatMessage> messages = new ArrayList<>(chat.turns().size());
      for (ChatTurn turn : chat.turns()) {
        messages.add(new ChatMessage(turn.role(), turn.content()));
      }
      return messages;
    }
    return ((Prompt.Text) prompt).text();
  }
}
