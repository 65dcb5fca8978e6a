package dev.prefstream.trainer.tokenize;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jinjava.javax.el.CompositeELResolver;

/**
 * A Hugging Face chat template (Jinja) rendered with Jinjava configured like transformers' jinja2
 * environment: trim_blocks and lstrip_blocks, {@code {{-}}/{@code -}}} trimming, Python operator
 * precedence, {@code raise_exception} that fails the render, and the Python string methods
 * templates use. Message text is data: nested interpretation is off, so {@code {{ 7*7 }}} in a
 * message renders literally.
 */
public final class ChatTemplate {

  private final String template;
  private final String bosToken;
  private final String eosToken;
  private final Jinjava jinjava;

  /** Thrown by the template's raise_exception(message). */
  static final class RaisedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    RaisedException(String message) {
      super(message);
    }
  }

  public ChatTemplate(String template, String bosToken, String eosToken) {
    this.template = template;
    this.bosToken = bosToken == null ? "" : bosToken;
    this.eosToken = eosToken == null ? "" : eosToken;
    CompositeELResolver resolver = new CompositeELResolver();
    resolver.add(new PythonMethodResolver());
    resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
    JinjavaConfig config =
        JinjavaConfig.newBuilder()
            .withTrimBlocks(true)
            .withLstripBlocks(true)
            .withNestedInterpretationEnabled(false)
            .withElResolver(resolver)
            .withLegacyOverrides(
                LegacyOverrides.newBuilder()
                    .withUseTrimmingForNotesAndExpressions(true)
                    .withParseWhitespaceControlStrictly(true)
                    .withUseNaturalOperatorPrecedence(true)
                    .withHandleBackslashInQuotesOnly(true)
                    .withKeepNullableLoopValues(true)
                    .build())
            .build();
    this.jinjava = new Jinjava(config);
    jinjava
        .getGlobalContext()
        .registerFunction(
            new ELFunctionDefinition(
                "", "raise_exception", ChatTemplate.class, "raiseException", String.class));
  }

  /** The function templates call to reject a conversation. */
  public static String raiseException(String message) {
    throw new RaisedException(message);
  }

  /**
   * Renders {@code messages}; with {@code addGenerationPrompt} the template appends the header that
   * starts an assistant turn. Fails with the template's own message when it raises.
   */
  public String render(List<ChatTurn> messages, boolean addGenerationPrompt) {
    List<Map<String, Object>> turns = new ArrayList<>();
    for (ChatTurn t : messages) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("role", t.role());
      m.put("content", t.content());
      turns.add(m);
    }
    Map<String, Object> bindings = new HashMap<>();
    bindings.put("messages", turns);
    bindings.put("add_generation_prompt", addGenerationPrompt);
    bindings.put("bos_token", bosToken);
    bindings.put("eos_token", eosToken);
    RenderResult result = jinjava.renderForResult(template, bindings);
    for (TemplateError e : result.getErrors()) {
      for (Throwable t = e.getException(); t != null; t = t.getCause()) {
        if (t instanceof RaisedException) {
          throw new IllegalArgumentException("chat template: " + t.getMessage(), t);
        }
      }
      if (e.getSeverity() == TemplateError.ErrorType.FATAL) {
        throw new IllegalArgumentException(
            "chat template failed at line " + e.getLineno() + ": " + e.getMessage());
      }
    }
    return result.getOutput();
  }
}
