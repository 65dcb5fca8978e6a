package dev.prefstream.trainer.tokenize;

import java.util.List;

/** A prompt: plain text, or chat messages rendered with the model's chat template. */
public sealed interface Prompt permits Prompt.Text, Prompt.Chat {

  static Prompt text(String text) {
    return new Text(text);
  }

  static Prompt chat(List<ChatTurn> turns) {
    return new Chat(List.copyOf(turns));
  }

  /** Plain text, tokenized with the tokenizer's special tokens (e.g. BOS). */
  record Text(String text) implements Prompt {}

  /** Messages, rendered by tokenizer_config.json's chat_template with add_generation_prompt. */
  record Chat(List<ChatTurn> turns) implements Prompt {}
}
