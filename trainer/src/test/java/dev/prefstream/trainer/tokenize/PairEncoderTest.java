package dev.prefstream.trainer.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.trainer.model.ModelInit;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PairEncoder over the byte-level tokenizer ModelInit writes: ids are the UTF-8 bytes. */
class PairEncoderTest {

  @TempDir static Path dir;

  @BeforeAll
  static void init() throws Exception {
    ModelInit.write(dir, ModelInit.Spec.builder("llama").build());
  }

  static int[] utf8(String s) {
    byte[] b = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    int[] out = new int[b.length];
    for (int i = 0; i < b.length; i++) {
      out[i] = b[i] & 0xff;
    }
    return out;
  }

  static int[] cat(int[]... parts) {
    return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
  }

  @Test
  void plainPromptGetsBosResponsesGetEos() throws Exception {
    try (PairEncoder e = PairEncoder.load(dir, 1024)) {
      EncodedPair p = e.encode(Prompt.text("Grüße?"), " yes", " no");
      assertThat(p.promptIds()).containsExactly(cat(new int[] {ModelInit.BOS}, utf8("Grüße?")));
      assertThat(p.chosenIds()).containsExactly(cat(utf8(" yes"), new int[] {ModelInit.EOS}));
      assertThat(p.rejectedIds()).containsExactly(cat(utf8(" no"), new int[] {ModelInit.EOS}));
      assertThat(e.bosId()).isEqualTo(ModelInit.BOS);
      assertThat(e.eosId()).isEqualTo(ModelInit.EOS);
    }
  }

  @Test
  void chatPromptIsRenderedWithTheTemplateWithoutExtraBos() throws Exception {
    try (PairEncoder e = PairEncoder.load(dir, 1024)) {
      Prompt chat = Prompt.chat(List.of(new ChatTurn("user", "{{ 7*7 }}")));
      assertThat(e.renderChat((Prompt.Chat) chat))
          .isEqualTo("<s><|im_start|>user\n{{ 7*7 }}<|im_end|>\n<|im_start|>assistant\n");
      int[] ids = e.encodePrompt(chat);
      assertThat(ids)
          .containsExactly(
              cat(
                  new int[] {ModelInit.BOS, 259},
                  utf8("user\n{{ 7*7 }}"),
                  new int[] {260},
                  utf8("\n"),
                  new int[] {259},
                  utf8("assistant\n")));
    }
  }

  @Test
  void longTextIsNotTruncatedByTheTokenizerButByTheDocumentedRule() throws Exception {
    String prompt = "p".repeat(3000);
    try (PairEncoder e = PairEncoder.load(dir, 4096)) {
      assertThat(e.encodePrompt(Prompt.text(prompt))).hasSize(3001);
    }
    try (PairEncoder e = PairEncoder.load(dir, 100)) {
      // prompt keeps its end, at most half the budget when the responses need the rest
      EncodedPair p = e.encode(Prompt.text(prompt), "c".repeat(200), "r");
      assertThat(p.promptIds()).hasSize(50).containsOnly('p');
      assertThat(p.chosenIds()).hasSize(50).containsOnly('c');
      assertThat(p.rejectedIds()).containsExactly('r', ModelInit.EOS);
      // short responses leave the prompt the rest of the budget
      EncodedPair q = e.encode(Prompt.text(prompt), "c", "rr");
      assertThat(q.promptIds()).hasSize(97);
      assertThat(q.rejectedIds()).containsExactly('r', 'r', ModelInit.EOS);
    }
  }

  @Test
  void chatPromptWithoutTemplateFailsClearly() throws Exception {
    Path noTemplate = dir.resolveSibling(dir.getFileName() + "-plain");
    ModelInit.write(noTemplate, ModelInit.Spec.builder("llama").build());
    Path tc = noTemplate.resolve("tokenizer_config.json");
    Files.writeString(tc, Files.readString(tc).replaceAll("\"chat_template\": \".*\",", ""));
    try (PairEncoder e = PairEncoder.load(noTemplate, 64)) {
      assertThatThrownBy(() -> e.encodePrompt(Prompt.chat(List.of(new ChatTurn("user", "x")))))
          .hasMessageContaining("chat_template");
    }
  }

  /** A fresh model dir whose tokenizer_config.json chat_template is {@code template} (JSON). */
  static Path withConfigTemplate(String name, com.fasterxml.jackson.databind.JsonNode template)
      throws Exception {
    Path d = dir.resolveSibling(dir.getFileName() + "-" + name);
    ModelInit.write(d, ModelInit.Spec.builder("llama").build());
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var tc =
        (com.fasterxml.jackson.databind.node.ObjectNode)
            json.readTree(d.resolve("tokenizer_config.json").toFile());
    tc.set("chat_template", template);
    json.writeValue(d.resolve("tokenizer_config.json").toFile(), tc);
    return d;
  }

  static final Prompt.Chat HI = (Prompt.Chat) Prompt.chat(List.of(new ChatTurn("user", "hi")));

  @Test
  void chatTemplateJinjaBesideTheConfigIsPreferred() throws Exception {
    Path d =
        withConfigTemplate("file", com.fasterxml.jackson.databind.node.TextNode.valueOf("config"));
    Files.writeString(
        d.resolve(PairEncoder.CHAT_TEMPLATE_FILE), "file:{{ messages[0].content }}\n");
    try (PairEncoder e = PairEncoder.load(d, 64)) {
      assertThat(e.renderChat(HI)).isEqualTo("file:hi");
    }
  }

  @Test
  void namedTemplatesUseTheDefaultOneOrFailNamingThem() throws Exception {
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    Path d =
        withConfigTemplate(
            "named",
            json.readTree(
                "[{\"name\": \"tool_use\", \"template\": \"tools\"},"
                    + " {\"name\": \"default\", \"template\": \"default {{ messages|length }}\"}]"));
    try (PairEncoder e = PairEncoder.load(d, 64)) {
      assertThat(e.renderChat(HI)).isEqualTo("default 1");
    }
    Path none =
        withConfigTemplate(
            "nodefault", json.readTree("[{\"name\": \"tool_use\", \"template\": \"tools\"}]"));
    assertThatThrownBy(() -> PairEncoder.load(none, 64))
        .isInstanceOf(TemplateException.class)
        .hasMessageContaining("tool_use")
        .hasMessageContaining("default");
  }

  @Test
  void kwargsAndSpecialTokensAreTemplateVariables() throws Exception {
    Path d =
        withConfigTemplate(
            "kwargs",
            com.fasterxml.jackson.databind.node.TextNode.valueOf(
                "{{ bos_token }}{{ eos_token }}{{ enable_thinking }}{{ enable_thinking is false }}"));
    try (PairEncoder e = PairEncoder.load(d, 64, java.util.Map.of("enable_thinking", false))) {
      assertThat(e.renderChat(HI)).isEqualTo("<s></s>FalseTrue");
    }
  }

  @Test
  void anUnsupportedTemplateFailsAtLoadNamingTheFileAndConstruct() throws Exception {
    Path d =
        withConfigTemplate(
            "unsupported",
            com.fasterxml.jackson.databind.node.TextNode.valueOf(
                "{% filter upper %}x{% endfilter %}"));
    assertThatThrownBy(() -> PairEncoder.load(d, 64))
        .isInstanceOf(TemplateException.class)
        .hasMessageContaining("tokenizer_config.json")
        .hasMessageContaining("{% filter %}");
  }
}
