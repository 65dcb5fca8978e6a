package dev.prefstream.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class ModelIdsTest {
  @Test
  void theHandWrittenCheckAgreesWithThePattern() {
    Random random = new Random(7);
    String alphabet = "aZ09._-/\\ \u0000é:";
    for (int n = 0; n < 200_000; n++) {
      StringBuilder id = new StringBuilder();
      int length = random.nextInt(4) == 0 ? 120 + random.nextInt(12) : random.nextInt(6);
      for (int i = 0; i < length; i++) {
        id.append(alphabet.charAt(random.nextInt(alphabet.length())));
      }
      String s = id.toString();
      assertThat(ModelIds.isValid(s))
          .as("'%s'", s)
          .isEqualTo(ModelIds.PATTERN.matcher(s).matches());
    }
  }

  @Test
  void pathTricksAndEdgesAreRefused() {
    assertThat(ModelIds.isValid("qwen2.5-0.5b_chat")).isTrue();
    assertThat(ModelIds.isValid("a".repeat(128))).isTrue();
    assertThat(ModelIds.isValid("a".repeat(129))).isFalse();
    for (String bad :
        new String[] {null, "", ".", "..", "-x", "_x", "a/b", "a\\b", "a\u0000", "é"}) {
      assertThat(ModelIds.isValid(bad)).as("'%s'", bad).isFalse();
    }
  }
}
