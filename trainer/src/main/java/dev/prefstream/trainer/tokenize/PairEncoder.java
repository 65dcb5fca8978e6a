package dev.prefstream.trainer.tokenize;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.FileNames;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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

  /** Reads tokenizer.json (DJL's Hugging Face tokenizers) and tokenizer_config.json. */
  public static PairEncoder load(Path modelDir, int maxLength) throws IOException {
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
      String chat = chatTemplate(tc.get("chat_template"));
      ChatTemplate template = chat == null ? null : new ChatTemplate(chat, bos, eos);
      return new PairEncoder(tok, template, bosId, eosId, maxLength);
    } catch (IOException | RuntimeException e) {
      tok.close();
      throw e;
    }
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
      for (JsonNode named : t) {
        if (named.path("name").asText().equals("default")) {
          return named.path("template").asText();
        }
      }
      return t.isEmpty() ? null : t.get(0).path("template").asText();
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
