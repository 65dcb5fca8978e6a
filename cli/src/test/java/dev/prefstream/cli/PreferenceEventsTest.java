package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.trainer.offline.PreferenceFile;
import dev.prefstream.trainer.tokenize.ChatTurn;
import dev.prefstream.trainer.tokenize.Prompt;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A preference file's record as the feedback event ingest expects for its kind. */
class PreferenceEventsTest {
  private static final Instant AT = Instant.parse("2026-01-02T03:04:05Z");

  @Test
  void aPairIsPairwiseWithATextPrompt() {
    FeedbackEvent e =
        PreferenceEvents.of(
            new PreferenceFile.Record(1, Prompt.text("Q?"), "yes", "no", null),
            "id-1",
            "m1",
            "src",
            AT);

    assertThat(e.getEventId()).isEqualTo("id-1");
    assertThat(e.getModelId()).isEqualTo("m1");
    assertThat(e.getSource()).isEqualTo("src");
    assertThat(e.getOccurredAt()).isEqualTo(AT);
    assertThat(e.getKind()).isEqualTo(FeedbackKind.PAIRWISE);
    assertThat(e.getPrompt()).isEqualTo("Q?");
    assertThat(e.getChosen()).isEqualTo("yes");
    assertThat(e.getRejected()).isEqualTo("no");
    assertThat(e.getResponse()).isNull();
    assertThat(e.getLabel()).isNull();
  }

  @Test
  void aChatPromptBecomesTheAvroMessageList() {
    Prompt chat =
        Prompt.chat(List.of(new ChatTurn("system", "be brief"), new ChatTurn("user", "hi")));

    FeedbackEvent e =
        PreferenceEvents.of(
            new PreferenceFile.Record(1, chat, "hello", "go away", null), "id", "m1", "s", AT);

    assertThat(e.getPrompt())
        .isEqualTo(List.of(new ChatMessage("system", "be brief"), new ChatMessage("user", "hi")));
  }

  @Test
  void unpairedExamplesAreBinaryThumbsUpOrDown() {
    FeedbackEvent up =
        PreferenceEvents.of(
            new PreferenceFile.Record(1, Prompt.text("Q?"), "good", null, true),
            "u",
            "m1",
            "s",
            AT);
    FeedbackEvent down =
        PreferenceEvents.of(
            new PreferenceFile.Record(
                2, Prompt.chat(List.of(new ChatTurn("user", "Q?"))), "bad", null, false),
            "d",
            "m1",
            "s",
            AT);

    assertThat(up.getKind()).isEqualTo(FeedbackKind.BINARY);
    assertThat(up.getPrompt()).isEqualTo("Q?");
    assertThat(up.getResponse()).isEqualTo("good");
    assertThat(up.getLabel()).isTrue();
    assertThat(up.getChosen()).isNull();
    assertThat(up.getRejected()).isNull();
    assertThat(down.getKind()).isEqualTo(FeedbackKind.BINARY);
    assertThat(down.getPrompt()).isEqualTo(List.of(new ChatMessage("user", "Q?")));
    assertThat(down.getResponse()).isEqualTo("bad");
    assertThat(down.getLabel()).isFalse();
  }
}
