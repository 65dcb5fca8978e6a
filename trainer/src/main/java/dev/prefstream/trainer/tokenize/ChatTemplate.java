package dev.prefstream.trainer.tokenize;

import dev.prefstream.trainer.tokenize.jinja.JinjaTemplate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Hugging Face chat template, rendered as transformers' {@code apply_chat_template} renders it:
 * the variables are {@code messages}, {@code tools} and {@code documents} (None), {@code
 * add_generation_prompt}, the tokenizer's special tokens ({@code bos_token}, {@code eos_token},
 * ...) and the recipe's chat template kwargs (e.g. {@code enable_thinking}). Message text is data,
 * never template code: {@code {{ 7*7 }}} in a message renders literally.
 *
 * <p>The template is parsed when this is made, so one that uses an unsupported construct fails at
 * start-up, naming it; a conversation the template refuses ({@code raise_exception}) or cannot
 * render fails with a {@link TemplateException}.
 */
public final class ChatTemplate {

  private final JinjaTemplate template;
  private final Map<String, Object> specialTokens;
  private final Map<String, Object> kwargs;

  /**
   * @param specialTokens bos_token, eos_token, ... as the tokenizer config names them (unset ones
   *     absent)
   * @param kwargs extra template variables (chat_template_kwargs)
   * @throws TemplateException when the template cannot be parsed or uses an unsupported construct
   */
  public ChatTemplate(String template, Map<String, ?> specialTokens, Map<String, ?> kwargs) {
    this.template = JinjaTemplate.parse(template);
    this.specialTokens = new LinkedHashMap<>(specialTokens);
    this.kwargs = new LinkedHashMap<>(kwargs);
  }

  /** A template with only a BOS and an EOS token (either may be null) and no kwargs. */
  public ChatTemplate(String template, String bosToken, String eosToken) {
    this(template, tokens(bosToken, eosToken), Map.of());
  }

  private static Map<String, Object> tokens(String bos, String eos) {
    Map<String, Object> m = new LinkedHashMap<>();
    if (bos != null) {
      m.put("bos_token", bos);
    }
    if (eos != null) {
      m.put("eos_token", eos);
    }
    return m;
  }

  /**
   * Renders {@code messages}; with {@code addGenerationPrompt} the template appends the header that
   * starts an assistant turn.
   *
   * @throws TemplateException with the template's own message when it raises, or the line and
   *     construct that failed
   */
  public String render(List<ChatTurn> messages, boolean addGenerationPrompt) {
    List<Map<String, Object>> turns = new ArrayList<>();
    for (ChatTurn t : messages) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("role", t.role());
      m.put("content", t.content());
      if (t.reasoningContent() != null) {
        m.put("reasoning_content", t.reasoningContent());
      }
      turns.add(m);
    }
    Map<String, Object> vars = new HashMap<>(specialTokens);
    vars.put("messages", turns);
    vars.put("tools", null);
    vars.put("documents", null);
    vars.put("add_generation_prompt", addGenerationPrompt);
    vars.putAll(kwargs);
    return template.render(vars);
  }
}
