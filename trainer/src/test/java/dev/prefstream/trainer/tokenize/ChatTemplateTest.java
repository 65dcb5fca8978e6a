package dev.prefstream.trainer.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.prefstream.trainer.Golden;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Byte-for-byte against Python jinja2 renders (tools/golden/make_chat_golden.py). */
class ChatTemplateTest {

  static List<ChatTurn> turns(JsonNode messages) {
    List<ChatTurn> out = new ArrayList<>();
    messages.forEach(m -> out.add(new ChatTurn(m.get("role").asText(), m.get("content").asText())));
    return out;
  }

  @Test
  void rendersLikeJinja2() throws Exception {
    JsonNode g =
        new com.fasterxml.jackson.databind.ObjectMapper()
            .readTree(Golden.dir("chat_templates.json").toFile());
    int checked = 0;
    List<String> failures = new ArrayList<>();
    for (JsonNode c : g.get("cases")) {
      String name = c.get("template").asText();
      ChatTemplate t = new ChatTemplate(g.get("templates").get(name).asText(), "<s>", "</s>");
      List<ChatTurn> messages = turns(g.get("conversations").get(c.get("conversation").asText()));
      boolean gen = c.get("add_generation_prompt").asBoolean();
      String id = name + "/" + c.get("conversation").asText() + "/" + gen;
      if (c.has("error")) {
        try {
          t.render(messages, gen);
          failures.add(id + ": expected error " + c.get("error").asText());
        } catch (TemplateException e) {
          if (!e.getMessage().contains(c.get("error").asText())) {
            failures.add(id + ": wrong error " + e.getMessage());
          }
        }
      } else {
        String got;
        try {
          got = t.render(messages, gen);
        } catch (RuntimeException e) {
          got = "EXCEPTION " + e;
        }
        if (!got.equals(c.get("rendered").asText())) {
          failures.add(
              id
                  + ":\n  want "
                  + c.get("rendered")
                  + "\n  got  "
                  + com.fasterxml.jackson.databind.node.TextNode.valueOf(got));
        }
      }
      checked++;
    }
    assertThat(failures).as("renders that differ from jinja2").isEmpty();
    assertThat(checked).isEqualTo(100);
  }

  @Test
  void userTextIsNeverTemplateCode() {
    ChatTemplate t =
        new ChatTemplate("{% for m in messages %}{{ m['content'] }}{% endfor %}", "<s>", "</s>");
    assertThat(t.render(List.of(new ChatTurn("user", "{{ 7*7 }}{% raw %}")), false))
        .isEqualTo("{{ 7*7 }}{% raw %}");
  }

  @Test
  void raiseExceptionFailsTheRender() {
    ChatTemplate t = new ChatTemplate("{{ raise_exception('no system role') }}", "", "");
    assertThatThrownBy(() -> t.render(List.of(), false)).hasMessageContaining("no system role");
  }
}
