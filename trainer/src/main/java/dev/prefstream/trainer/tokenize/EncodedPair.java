package dev.prefstream.trainer.tokenize;

import java.util.Arrays;

/**
 * Token ids of one preference pair: the prompt, and the chosen and rejected responses (each ending
 * with EOS unless truncated). The responses are exactly the tokens that are scored.
 */
public record EncodedPair(int[] promptIds, int[] chosenIds, int[] rejectedIds) {

  public EncodedPair {
    if (promptIds.length == 0) {
      throw new IllegalArgumentException("an encoded pair needs at least one prompt token");
    }
    if (chosenIds.length == 0 || rejectedIds.length == 0) {
      throw new IllegalArgumentException(
          "an encoded pair needs at least one chosen and one rejected token, got "
              + chosenIds.length
              + " and "
              + rejectedIds.length);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof EncodedPair p
        && Arrays.equals(promptIds, p.promptIds)
        && Arrays.equals(chosenIds, p.chosenIds)
        && Arrays.equals(rejectedIds, p.rejectedIds);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(promptIds) * 31 * 31
        + Arrays.hashCode(chosenIds) * 31
        + Arrays.hashCode(rejectedIds);
  }

  @Override
  public String toString() {
    return "EncodedPair{prompt="
        + Arrays.toString(promptIds)
        + ", chosen="
        + Arrays.toString(chosenIds)
        + ", rejected="
        + Arrays.toString(rejectedIds)
        + "}";
  }
}
