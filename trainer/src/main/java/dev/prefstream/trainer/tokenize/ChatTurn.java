package dev.prefstream.trainer.tokenize;

import java.util.Objects;

/** One chat message: {@code role} ("system", "user", "assistant", ...) and its text. */
public record ChatTurn(String role, String content) {
  public ChatTurn {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(content, "content");
  }
}
