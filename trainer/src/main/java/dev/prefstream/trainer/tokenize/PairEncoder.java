package dev.prefstream.trainer.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.FileNames;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns (prompt, chosen, rejected) text into token ids with TRL's DPO semantics (v0.2x {@code
 * tokenize_row}): the prompt is tokenized with the tokenizer's special tokens (e.g. BOS) when it is
 * plain text, or rendered with tokenizer_config.json's chat template (add_generation_prompt) and
 * tokenized without them when it is a list of messages (the template writes its own BOS); each
 * response is tokenized alone without special tokens and EOS is appended.
 *
 * <p>Truncation to {@code maxLength} tokens: when prompt + longer response exceed it, the prompt
 * keeps its last tokens (TRL's keep_end) but at most half of maxLength when the responses need the
 * rest, and responses keep their first tokens (then without EOS).
 */
public final class PairEncoder implements AutoCloseable {

  private final HuggingFaceTokenizer tokenizer;
  private final ChatTemplate template;
  private final int bosId;
  private final int eosId;
  private final int maxLength;

  private PairEncoder(
      HuggingFaceTokenizer tokenizer, ChatTemplate template, int bosId, int eosId, int maxLength) {
    this.tokenizer = tokenizer;
    this.template = template;
    this.bosId = bosId;
    this.eosId = eosId;
    this.maxLength = maxLength;
  }

  /** The chat template file transformers writes beside tokenizer_config.json (v4.47+). */
  public static final String CHAT_TEMPLATE_FILE = "chat_template.jinja";

  /** {@link #load(Path, int, Map)} without chat template kwargs. */
  public static PairEncoder load(Path modelDir, int maxLength) throws IOException {
    return load(modelDir, maxLength, Map.of());
  }

  /**
   * Reads tokenizer.json (DJL's Hugging Face tokenizers) and tokenizer_config.json, and the chat
   * template: {@value #CHAT_TEMPLATE_FILE} when present (as transformers prefers it), else
   * tokenizer_config.json's {@code chat_template}, a string or a list of named templates (the one
   * named "default"). The template is parsed here, so an unsupported one fails at start-up.
   *
   * @param templateKwargs extra template variables (the recipe's chat template kwargs)
   * @throws TemplateException when the chat template uses a construct prefstream cannot render
   */
  public static PairEncoder load(Path modelDir, int maxLength, Map<String, ?> templateKwargs)
      throws IOException {
    if (maxLength < 4) {
      throw new IllegalArgumentException("max length must be >= 4, got " + maxLength);
    }
    Path tokenizerFile = modelDir.resolve(FileNames.TOKENIZER);
    if (!Files.isRegularFile(tokenizerFile)) {
      throw new IOException("No tokenizer.json in " + modelDir);
    }
    HuggingFaceTokenizer tok =
        HuggingFaceTokenizer.newInstance(
            tokenizerFile,
            Map.of(
                "addSpecialTokens", "false",
                "truncation", "false",
                "padding", "false",
                "modelMaxLength", Integer.toString(Integer.MAX_VALUE)));
    try {
      ObjectMapper json = new ObjectMapper();
      Path configFile = modelDir.resolve(FileNames.TOKENIZER_CONFIG);
      JsonNode tc =
          Files.isRegularFile(configFile)
              ? json.readTree(configFile.toFile())
              : json.createObjectNode();
      JsonNode mc =
          Files.isRegularFile(modelDir.resolve(FileNames.MODEL_CONFIG))
              ? json.readTree(modelDir.resolve(FileNames.MODEL_CONFIG).toFile())
              : json.createObjectNode();
      String bos = tokenText(tc.get("bos_token"));
      String eos = tokenText(tc.get("eos_token"));
      int bosId = idOf(tok, bos, mc.path("bos_token_id").asInt(-1));
      int eosId = idOf(tok, eos, mc.path("eos_token_id").asInt(-1));
      if (eosId < 0) {
        throw new IOException(
            modelDir
                + ": no EOS token (tokenizer_config.json eos_token or config.json eos_token_id)");
      }
      Path templateFile = modelDir.resolve(CHAT_TEMPLATE_FILE);
      String chat =
          Files.isRegularFile(templateFile)
              ? Files.readString(templateFile, StandardCharsets.UTF_8)
              : chatTemplate(tc.get("chat_template"));
      ChatTemplate template;
      try {
        template = chat == null ? null : new ChatTemplate(chat, specialTokens(tc), templateKwargs);
      } catch (TemplateException e) {
        throw new TemplateException(
            (Files.isRegularFile(templateFile) ? templateFile : configFile) + ": " + e.getMessage(),
            e);
      }
      return new PairEncoder(tok, template, bosId, eosId, maxLength);
    } catch (IOException | RuntimeException e) {
      tok.close();
      throw e;
    }
  }

  /** transformers' special_tokens_map: the special tokens that are set, by attribute name. */
  private static Map<String, Object> specialTokens(JsonNode tc) {
    Map<String, Object> out = new LinkedHashMap<>();
    for (String name :
        List.of(
            "bos_token",
            "eos_token",
            "unk_token",
            "sep_token",
            "pad_token",
            "cls_token",
            "mask_token")) {
      String text = tokenText(tc.get(name));
      if (text != null) {
        out.put(name, text);
      }
    }
    JsonNode extra = tc.get("additional_special_tokens");
    if (extra != null && extra.isArray() && !extra.isEmpty()) {
      List<Object> list = new ArrayList<>();
      extra.forEach(t -> list.add(tokenText(t)));
      out.put("additional_special_tokens", list);
    }
    return out;
  }

  private static String tokenText(JsonNode t) {
    if (t == null || t.isNull()) {
      return null;
    }
    return t.isObject() ? t.path("content").asText(null) : t.asText();
  }

  private static int idOf(HuggingFaceTokenizer tok, String token, int fallback) {
    if (token != null) {
      long[] ids = tok.encode(token, false, false).getIds();
      if (ids.length == 1) {
        return (int) ids[0];
      }
    }
    return fallback;
  }

  private static String chatTemplate(JsonNode t) {
    if (t == null || t.isNull()) {
      return null;
    }
    if (t.isArray()) {
      // transformers: a list of {name, template}; without a name asked for, "default"
      List<String> names = new ArrayList<>();
      for (JsonNode named : t) {
        names.add(named.path("name").asText());
        if (named.path("name").asText().equals("default")) {
          return named.path("template").asText();
        }
      }
      throw new TemplateException(
          "tokenizer_config.json has named chat templates " + names + " but none named default");
    }
    return t.asText();
  }

  public int bosId() {
    return bosId;
  }

  public int eosId() {
    return eosId;
  }

  public int maxLength() {
    return maxLength;
  }

  /** The prompt's token ids (before truncation). */
  public int[] encodePrompt(Prompt prompt) {
    if (prompt instanceof Prompt.Chat chat) {
      return ids(renderChat(chat), false);
    }
    return ids(((Prompt.Text) prompt).text(), true);
  }

  /** The chat template's rendering of the messages with add_generation_prompt. */
  public String renderChat(Prompt.Chat chat) {
    if (template == null) {
      throw new IllegalArgumentException(
          "the prompt is a list of messages but tokenizer_config.json has no chat_template");
    }
    return template.render(chat.turns(), true);
  }

  /** A response's token ids: no special tokens, EOS appended. */
  public int[] encodeResponse(String text) {
    int[] ids = ids(text, false);
    int[] out = Arrays.copyOf(ids, ids.length + 1);
    out[ids.length] = eosId;
    return out;
  }

  public EncodedPair encode(Prompt prompt, String chosen, String rejected) {
    return truncate(encodePrompt(prompt), encodeResponse(chosen), encodeResponse(rejected));
  }

  /** An unpaired example (KTO): the prompt and one response, truncated by the same rule. */
  public int[][] encodeExample(Prompt prompt, String completion) {
    EncodedPair p = truncate(encodePrompt(prompt), encodeResponse(completion), new int[] {eosId});
    return new int[][] {p.promptIds(), p.chosenIds()};
  }

  private EncodedPair truncate(int[] prompt, int[] chosen, int[] rejected) {
    int longest = Math.max(chosen.length, rejected.length);
    if (prompt.length + longest <= maxLength) {
      return new EncodedPair(prompt, chosen, rejected);
    }
    int keep = Math.min(prompt.length, Math.max(maxLength / 2, maxLength - longest));
    int budget = maxLength - keep;
    return new EncodedPair(
        Arrays.copyOfRange(prompt, prompt.length - keep, prompt.length),
        Arrays.copyOf(chosen, Math.min(chosen.length, budget)),
        Arrays.copyOf(rejected, Math.min(rejected.length, budget)));
  }

  private int[] ids(String text, boolean specials) {
    long[] ids = tokenizer.encode(text, specials, false).getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = (int) ids[i];
    }
    return out;
  }

  /** Decodes ids to text (special tokens kept), for reports. */
  public String decode(int[] ids) {
    return tokenizer.decode(Arrays.stream(ids).asLongStream().toArray(), false);
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
