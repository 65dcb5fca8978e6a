package dev.prefstream.trainer.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The tokenizer files {@link ModelInit} writes: a Hugging Face tokenizers BPE model with one token
 * per byte (ids 0-255 are the byte values, spelled with GPT-2's byte-to-unicode alphabet), no
 * merges, a ByteLevel pre-tokenizer and decoder, the specials of {@link ModelInit#SPECIALS}, and a
 * post-processor that prepends BOS.
 */
final class ByteTokenizer {

  private ByteTokenizer() {}

  /** GPT-2's reversible byte -> printable unicode character map (Radford et al. 2019). */
  static char[] byteAlphabet() {
    char[] map = new char[256];
    boolean[] printable = new boolean[256];
    for (int b = 0; b < 256; b++) {
      printable[b] = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }
    int next = 0;
    for (int b = 0; b < 256; b++) {
      map[b] = printable[b] ? (char) b : (char) (256 + next++);
    }
    return map;
  }

  static Map<String, Object> tokenizerJson() {
    Map<String, Object> t = new LinkedHashMap<>();
    t.put("version", "1.0");
    t.put("truncation", null);
    t.put("padding", null);
    List<Object> added = new ArrayList<>();
    for (int i = 0; i < ModelInit.SPECIALS.size(); i++) {
      Map<String, Object> a = new LinkedHashMap<>();
      a.put("id", 256 + i);
      a.put("content", ModelInit.SPECIALS.get(i));
      a.put("single_word", false);
      a.put("lstrip", false);
      a.put("rstrip", false);
      a.put("normalized", false);
      a.put("special", true);
      added.add(a);
    }
    t.put("added_tokens", added);
    t.put("normalizer", null);
    t.put("pre_tokenizer", byteLevel());
    String bos = ModelInit.SPECIALS.get(0);
    Map<String, Object> post = new LinkedHashMap<>();
    post.put("type", "TemplateProcessing");
    post.put("single", List.of(special(bos), sequence("A")));
    post.put("pair", List.of(special(bos), sequence("A"), special(bos), sequence("B")));
    post.put(
        "special_tokens",
        Map.of(bos, Map.of("id", bos, "ids", List.of(ModelInit.BOS), "tokens", List.of(bos))));
    t.put("post_processor", post);
    t.put("decoder", byteLevel());
    Map<String, Object> model = new LinkedHashMap<>();
    model.put("type", "BPE");
    model.put("dropout", null);
    model.put("unk_token", null);
    model.put("continuing_subword_prefix", null);
    model.put("end_of_word_suffix", null);
    model.put("fuse_unk", false);
    model.put("byte_fallback", false);
    model.put("ignore_merges", false);
    Map<String, Object> vocab = new LinkedHashMap<>();
    char[] alphabet = byteAlphabet();
    for (int b = 0; b < 256; b++) {
      vocab.put(String.valueOf(alphabet[b]), b);
    }
    for (int i = 0; i < ModelInit.SPECIALS.size(); i++) {
      vocab.put(ModelInit.SPECIALS.get(i), 256 + i);
    }
    model.put("vocab", vocab);
    model.put("merges", List.of());
    t.put("model", model);
    return t;
  }

  static Map<String, Object> tokenizerConfig(int maxLength, String chatTemplate) {
    Map<String, Object> c = new LinkedHashMap<>();
    c.put("add_bos_token", true);
    c.put("add_eos_token", false);
    Map<String, Object> decoder = new LinkedHashMap<>();
    for (int i = 0; i < ModelInit.SPECIALS.size(); i++) {
      Map<String, Object> a = new LinkedHashMap<>();
      a.put("content", ModelInit.SPECIALS.get(i));
      a.put("lstrip", false);
      a.put("normalized", false);
      a.put("rstrip", false);
      a.put("single_word", false);
      a.put("special", true);
      decoder.put(Integer.toString(256 + i), a);
    }
    c.put("added_tokens_decoder", decoder);
    c.put("bos_token", ModelInit.SPECIALS.get(0));
    c.put("chat_template", chatTemplate);
    c.put("clean_up_tokenization_spaces", false);
    c.put("eos_token", ModelInit.SPECIALS.get(1));
    c.put("model_max_length", maxLength);
    c.put("pad_token", ModelInit.SPECIALS.get(2));
    c.put("tokenizer_class", "PreTrainedTokenizerFast");
    c.put("unk_token", null);
    return c;
  }

  private static Map<String, Object> byteLevel() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("type", "ByteLevel");
    m.put("add_prefix_space", false);
    m.put("trim_offsets", true);
    m.put("use_regex", true);
    return m;
  }

  private static Map<String, Object> special(String token) {
    return Map.of("SpecialToken", Map.of("id", token, "type_id", 0));
  }

  private static Map<String, Object> sequence(String id) {
    return Map.of("Sequence", Map.of("id", id, "type_id", 0));
  }
}
