package dev.prefstream.trainer.tokenize;

import java.util.Objects;

/**
 * One chat message: {@code role} ("system", "user", "assistant", ...), its text, and for an
 * assistant turn optionally its {@code reasoning_content} (the thinking that templates such as
 * Qwen3's render, or drop, by their own rules).
 */
public record ChatTurn(String role, String content, String reasoningContent) {
  public ChatTurn {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(content, "content");
  }

  public ChatTurn(String role, String content) {
    this(role, content, null);
  }
}
