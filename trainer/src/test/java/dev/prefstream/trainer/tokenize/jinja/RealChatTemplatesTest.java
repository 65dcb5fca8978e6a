package dev.prefstream.trainer.tokenize.jinja;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.Golden;
import dev.prefstream.trainer.tokenize.TemplateException;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * 53 chat templates that real models ship (the end-to-end cases of Hugging Face's JavaScript
 * Jinja), rendered with their example inputs and compared byte for byte with Python jinja2
 * configured as transformers configures it (tools/golden/make_real_template_golden.py). Every
 * template must render exactly or be refused with a TemplateException naming the construct; a
 * render that differs is the one outcome never allowed.
 */
class RealChatTemplatesTest {

  static final ZonedDateTime NOW = ZonedDateTime.of(2024, 7, 26, 13, 14, 15, 0, ZoneOffset.UTC);

  /** The families prefstream promises to render exactly. */
  static final List<String> MUST_RENDER =
      List.of(
          "Qwen/Qwen2.5-7B-Instruct",
          "Qwen/Qwen3-0.6B",
          "deepseek-ai/DeepSeek-R1",
          "meta-llama/Llama-3.1-8B-Instruct",
          "meta-llama/Llama-3.2-11B-Vision-Instruct",
          "mistralai/Mistral-7B-Instruct-v0.3 (JSON Schema)",
          "mistralai/Mistral-Nemo-Instruct-2407",
          "llama",
          "mistralai/Mixtral-8x7B-Instruct-v0.1");

  @Test
  void everyTemplateRendersExactlyOrIsRefusedByName() throws Exception {
    JsonNode golden = new ObjectMapper().readTree(Golden.dir("real_chat_templates.json").toFile());
    List<String> wrong = new ArrayList<>();
    List<String> exact = new ArrayList<>();
    Map<String, String> refused = new LinkedHashMap<>();
    ObjectMapper json = new ObjectMapper();
    for (Iterator<Map.Entry<String, JsonNode>> it = golden.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      JsonNode c = e.getValue();
      @SuppressWarnings("unchecked")
      Map<String, Object> data = json.convertValue(c.get("data"), Map.class);
      try {
        String got = JinjaTemplate.parse(c.get("template").asText(), () -> NOW).render(data);
        if (c.has("rendered") && got.equals(c.get("rendered").asText())) {
          exact.add(e.getKey());
        } else {
          wrong.add(
              e.getKey()
                  + "\n  want "
                  + json.writeValueAsString(c.path("rendered").asText(c.path("error").asText()))
                  + "\n  got  "
                  + json.writeValueAsString(got));
        }
      } catch (TemplateException ex) {
        refused.put(e.getKey(), ex.getMessage());
      }
    }
    System.out.println(exact.size() + " exact, refused: " + refused);
    assertThat(wrong).as("templates rendered differently from jinja2").isEmpty();
    assertThat(refused.keySet()).as("refused").doesNotContainAnyElementsOf(MUST_RENDER);
    assertThat(refused.values()).allSatisfy(m -> assertThat(m).contains("chat template line"));
  }
}
