package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.schemas.Sha256;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.trainer.offline.PreferenceFile;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** emit reads what train reads, rejects what train rejects, and keeps its event ids stable. */
class EmitCommandTest {
  @TempDir Path dir;

  static final String PAIR = "{\"prompt\": \"Q?\", \"chosen\": \"yes\", \"rejected\": \"no\"}";
  static final String CHAT_PAIR =
      "{\"prompt\": [{\"role\": \"system\", \"content\": \"be brief\"},"
          + " {\"role\": \"user\", \"content\": \"hi\"}],"
          + " \"chosen\": [{\"role\": \"assistant\", \"content\": \"hello\"}],"
          + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"go away\"}]}";
  static final String THUMBS_UP =
      "{\"prompt\": [{\"role\": \"user\", \"content\": \"hi\"}], \"completion\": \"hello\","
          + " \"label\": true}";
  static final String THUMBS_DOWN =
      "{\"prompt\": \"Q?\", \"completion\": \"no idea\", \"label\": false}";

  private EmitCommand command(Path file) {
    EmitCommand emit = new EmitCommand();
    emit.file = file;
    emit.model = "m1";
    emit.source = "prefstream-emit";
    return emit;
  }

  @Test
  void sendsConversationalPairsAndUnpairedExamplesAsTrainReadsThem() throws IOException {
    Path file =
        Files.write(dir.resolve("prefs.jsonl"), List.of(CHAT_PAIR, PAIR, THUMBS_UP, THUMBS_DOWN));
    List<FeedbackEvent> sent = new ArrayList<>();

    List<String> problems = command(file).emit(sent::add);

    assertThat(problems).isEmpty();
    assertThat(PreferenceFile.read(file)).hasSize(4);
    assertThat(sent)
        .extracting(FeedbackEvent::getKind)
        .containsExactly(
            FeedbackKind.PAIRWISE, FeedbackKind.PAIRWISE, FeedbackKind.BINARY, FeedbackKind.BINARY);
    FeedbackEvent chat = sent.get(0);
    assertThat(chat.getPrompt())
        .isEqualTo(List.of(new ChatMessage("system", "be brief"), new ChatMessage("user", "hi")));
    assertThat(chat.getChosen()).isEqualTo("hello");
    assertThat(chat.getRejected()).isEqualTo("go away");
    assertThat(sent.get(2).getPrompt()).isEqualTo(List.of(new ChatMessage("user", "hi")));
    assertThat(sent.get(2).getResponse()).isEqualTo("hello");
    assertThat(sent.get(2).getLabel()).isTrue();
    assertThat(sent.get(3).getPrompt()).isEqualTo("Q?");
    assertThat(sent.get(3).getLabel()).isFalse();
    assertThat(sent).allSatisfy(e -> assertThat(e.getModelId()).isEqualTo("m1"));
    assertThat(sent).allSatisfy(e -> assertThat(e.getSource()).isEqualTo("prefstream-emit"));
  }

  @Test
  void eventIdsAreTheSameAsBeforeSoThatReEmittingAFileIsDeduplicated() throws IOException {
    Path file = Files.write(dir.resolve("pairs.jsonl"), List.of("", PAIR));
    List<FeedbackEvent> first = new ArrayList<>();
    List<FeedbackEvent> again = new ArrayList<>();

    command(file).emit(first::add);
    command(file).emit(again::add);

    // model, file name, line number and line text, as emit has always hashed them
    String expected = "emit-" + Sha256.hex("m1\npairs.jsonl\n2\n" + PAIR).substring(0, 32);
    assertThat(first).extracting(FeedbackEvent::getEventId).containsExactly(expected);
    assertThat(again).extracting(FeedbackEvent::getEventId).containsExactly(expected);
  }

  @Test
  void badLinesAreSkippedWithTheMessageTrainGivesAndTheRestIsSent() throws IOException {
    Path file =
        Files.write(
            dir.resolve("mixed.jsonl"),
            List.of(
                PAIR,
                "{\"prompt\": \"Q?\", \"chosen\": \"yes\"}",
                "not json",
                THUMBS_DOWN,
                "{\"prompt\": \"Q?\", \"completion\": \"ok\", \"label\": \"yes\"}"));
    List<FeedbackEvent> sent = new ArrayList<>();

    List<String> problems = command(file).emit(sent::add);

    assertThat(sent).hasSize(2);
    assertThat(problems).hasSize(3);
    assertThat(problems.get(0)).startsWith(file + ":2: missing \"rejected\"");
    assertThat(problems.get(1)).startsWith(file + ":3: ");
    assertThat(problems.get(2)).isEqualTo(file + ":5: label must be true or false, got \"yes\"");
    // train stops at the first of them, with the very same message
    assertThatThrownBy(() -> PreferenceFile.read(file)).hasMessage(problems.get(0));
  }

  @Test
  void aFileWithoutRecordsIsRefusedAsTrainRefusesIt() throws IOException {
    Path file = Files.write(dir.resolve("empty.jsonl"), List.of(""));

    assertThatThrownBy(() -> command(file).emit(e -> {})).hasMessage(file + ": no records");
  }
}
