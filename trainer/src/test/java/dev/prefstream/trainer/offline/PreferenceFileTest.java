package dev.prefstream.trainer.offline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.trainer.tokenize.ChatTurn;
import dev.prefstream.trainer.tokenize.Prompt;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one reader of preference JSONL files: whole-file reads and per-line results agree. */
class PreferenceFileTest {
  @TempDir Path dir;

  private Path write(String... lines) throws IOException {
    return Files.write(dir.resolve("prefs.jsonl"), List.of(lines));
  }

  private static List<PreferenceFile.Line> lines(Path file) throws IOException {
    List<PreferenceFile.Line> out = new ArrayList<>();
    PreferenceFile.forEachLine(file, out::add);
    return out;
  }

  @Test
  void readsPairsAndUnpairedExamplesWithTextAndChatPrompts() throws IOException {
    Path file =
        write(
            "{\"prompt\": \"Q?\", \"chosen\": \"yes\", \"rejected\": \"no\"}",
            "",
            "{\"prompt\": [{\"role\": \"system\", \"content\": \"be brief\"},"
                + " {\"role\": \"user\", \"content\": \"hi\"}],"
                + " \"chosen\": [{\"role\": \"assistant\", \"content\": \"hello\"}],"
                + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"go away\"}]}",
            "{\"prompt\": \"Q?\", \"completion\": \"maybe\", \"label\": false}");

    List<PreferenceFile.Record> records = PreferenceFile.read(file);

    assertThat(records)
        .containsExactly(
            new PreferenceFile.Record(1, Prompt.text("Q?"), "yes", "no", null),
            new PreferenceFile.Record(
                3,
                Prompt.chat(
                    List.of(new ChatTurn("system", "be brief"), new ChatTurn("user", "hi"))),
                "hello",
                "go away",
                null),
            new PreferenceFile.Record(4, Prompt.text("Q?"), "maybe", null, false));
    assertThat(records.get(2).paired()).isFalse();
  }

  @Test
  void everyBadLineIsReportedWithItsNumberAndTheGoodOnesStillCome() throws IOException {
    String good = "{\"prompt\": \"Q?\", \"chosen\": \"yes\", \"rejected\": \"no\"}";
    Path file =
        write(
            "{\"prompt\": \"Q?\", \"chosen\": \"yes\"}",
            good,
            "not json",
            "{\"prompt\": \"Q?\", \"completion\": \"ok\", \"label\": \"yes\"}",
            "{\"prompt\": [{\"role\": \"user\"}], \"chosen\": \"a\", \"rejected\": \"b\"}");

    List<PreferenceFile.Line> lines = lines(file);

    assertThat(lines).extracting(PreferenceFile.Line::number).containsExactly(1, 2, 3, 4, 5);
    assertThat(lines)
        .extracting(PreferenceFile.Line::ok)
        .containsExactly(false, true, false, false, false);
    assertThat(lines.get(1).text()).isEqualTo(good);
    assertThat(lines.get(0).problem()).isEqualTo(file + ":1: " + missing("rejected"));
    assertThat(lines.get(2).problem()).startsWith(file + ":3: ");
    assertThat(lines.get(3).problem())
        .isEqualTo(file + ":4: label must be true or false, got \"yes\"");
    assertThat(lines.get(4).problem())
        .startsWith(file + ":5: prompt: each message needs string role and content");
  }

  @Test
  void aWholeReadFailsWithTheSameMessageAsTheFirstBadLine() throws IOException {
    Path file =
        write(
            "{\"prompt\": \"Q?\", \"chosen\": \"yes\", \"rejected\": \"no\"}",
            "{\"prompt\": 3, \"chosen\": \"yes\", \"rejected\": \"no\"}",
            "{}");

    String first = lines(file).get(1).problem();

    assertThat(first)
        .isEqualTo(file + ":2: prompt must be a string or a list of messages, got NUMBER");
    assertThatThrownBy(() -> PreferenceFile.read(file))
        .isInstanceOf(IOException.class)
        .hasMessage(first);
  }

  @Test
  void aFileWithoutRecordsIsAnErrorForBothWaysOfReading() throws IOException {
    Path file = write("", "  ");

    assertThatThrownBy(() -> PreferenceFile.read(file)).hasMessage(file + ": no records");
    assertThatThrownBy(() -> lines(file)).hasMessage(file + ": no records");
  }

  private static String missing(String key) {
    return "missing \""
        + key
        + "\" (a pair needs prompt, chosen, rejected; an unpaired example needs prompt,"
        + " completion, label)";
  }
}
