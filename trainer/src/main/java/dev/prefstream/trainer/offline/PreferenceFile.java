package dev.prefstream.trainer.offline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.tokenize.ChatTurn;
import dev.prefstream.trainer.tokenize.Prompt;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A JSON-lines file of preference data in TRL's dataset formats. Each line is a pair, {@code
 * {"prompt": ..., "chosen": ..., "rejected": ...}}, or an unpaired example, {@code {"prompt": ...,
 * "completion": ..., "label": true|false}}. A prompt is a string or a list of {role, content}
 * messages (an assistant message may carry reasoning_content, for templates that render it); a
 * response is a string or a list of messages whose assistant contents are joined. Blank lines are
 * skipped; errors name the file and line.
 */
public final class PreferenceFile {

  /** One line: a pair ({@code rejected} non-null) or an unpaired example ({@code label}). */
  public record Record(int line, Prompt prompt, String chosen, String rejected, Boolean label) {
    public boolean paired() {
      return rejected != null;
    }
  }

  /**
   * One non-blank line as read: its number, its text, and either the record it holds or the problem
   * with it, as {@code file:line: message}.
   */
  public record Line(int number, String text, Record record, String problem) {
    public boolean ok() {
      return record != null;
    }
  }

  /** What to do with each line; may stop the reading by throwing. */
  @FunctionalInterface
  public interface LineHandler {
    void accept(Line line) throws IOException;
  }

  private static final ObjectMapper JSON = new ObjectMapper();

  private PreferenceFile() {}

  /** Every record of the file; the first bad line fails the whole read. */
  public static List<Record> read(Path file) throws IOException {
    List<Record> out = new ArrayList<>();
    forEachLine(
        file,
        line -> {
          if (!line.ok()) {
            throw new IOException(line.problem());
          }
          out.add(line.record());
        });
    return out;
  }

  /**
   * Hands each non-blank line, good or bad, to {@code handler} in file order, so that a caller can
   * go past bad lines. A file without a single non-blank line is an error, as in {@link #read}.
   */
  public static void forEachLine(Path file, LineHandler handler) throws IOException {
    int nonBlank = 0;
    try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      int n = 0;
      for (String text; (text = r.readLine()) != null; ) {
        n++;
        if (text.isBlank()) {
          continue;
        }
        nonBlank++;
        handler.accept(line(file, n, text));
      }
    }
    if (nonBlank == 0) {
      throw new IOException(file + ": no records");
    }
  }

  private static Line line(Path file, int number, String text) {
    try {
      return new Line(number, text, parse(JSON.readTree(text), number), null);
    } catch (IOException | IllegalArgumentException e) {
      return new Line(number, text, null, file + ":" + number + ": " + e.getMessage());
    }
  }

  static Record parse(JsonNode o, int line) {
    if (!o.isObject()) {
      throw new IllegalArgumentException("expected a JSON object, got " + o.getNodeType());
    }
    Prompt prompt = prompt(require(o, "prompt"));
    if (o.has("completion")) {
      JsonNode label = require(o, "label");
      if (!label.isBoolean()) {
        throw new IllegalArgumentException("label must be true or false, got " + label);
      }
      return new Record(
          line, prompt, response(o.get("completion"), "completion"), null, label.asBoolean());
    }
    return new Record(
        line,
        prompt,
        response(require(o, "chosen"), "chosen"),
        response(require(o, "rejected"), "rejected"),
        null);
  }

  private static JsonNode require(JsonNode o, String key) {
    JsonNode v = o.get(key);
    if (v == null || v.isNull()) {
      throw new IllegalArgumentException(
          "missing \""
              + key
              + "\" (a pair needs prompt, chosen, rejected; an unpaired example"
              + " needs prompt, completion, label)");
    }
    return v;
  }

  private static Prompt prompt(JsonNode p) {
    if (p.isTextual()) {
      return Prompt.text(p.asText());
    }
    return Prompt.chat(turns(p, "prompt"));
  }

  private static String response(JsonNode r, String key) {
    if (r.isTextual()) {
      return r.asText();
    }
    StringBuilder sb = new StringBuilder();
    for (ChatTurn t : turns(r, key)) {
      if (t.role().equals("assistant")) {
        sb.append(t.content());
      }
    }
    return sb.toString();
  }

  private static List<ChatTurn> turns(JsonNode list, String key) {
    if (!list.isArray()) {
      throw new IllegalArgumentException(
          key + " must be a string or a list of messages, got " + list.getNodeType());
    }
    List<ChatTurn> turns = new ArrayList<>();
    for (JsonNode m : list) {
      if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
        throw new IllegalArgumentException(
            key + ": each message needs string role and content, got " + m);
      }
      JsonNode reasoning = m.path("reasoning_content");
      if (!reasoning.isMissingNode() && !reasoning.isNull() && !reasoning.isTextual()) {
        throw new IllegalArgumentException(
            key + ": a message's reasoning_content must be a string, got " + reasoning);
      }
      turns.add(
          new ChatTurn(
              m.get("role").asText(),
              m.get("content").asText(),
              reasoning.isTextual() ? reasoning.asText() : null));
    }
    return turns;
  }
}
