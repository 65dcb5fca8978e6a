package dev.prefstream.trainer.tokenize;

import java.util.Arrays;

/** Token ids of one unpaired feedback example (KTO): a prompt, a completion and its label. */
public record EncodedExample(int[] promptIds, int[] completionIds, boolean desirable) {

  public EncodedExample {
    if (promptIds.length == 0 || completionIds.length == 0) {
      throw new IllegalArgumentException(
          "an example needs at least one prompt and one completion token, got "
              + promptIds.length
              + " and "
              + completionIds.length);
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof EncodedExample e
        && desirable == e.desirable
        && Arrays.equals(promptIds, e.promptIds)
        && Arrays.equals(completionIds, e.completionIds);
  }

  @Override
  public int hashCode() {
    return (Arrays.hashCode(promptIds) * 31 + Arrays.hashCode(completionIds)) * 2
        + (desirable ? 1 : 0);
  }

  @Override
  public String toString() {
    return "EncodedExample{prompt="
        + Arrays.toString(promptIds)
        + ", completion="
        + Arrays.toString(completionIds)
        + ", desirable="
        + desirable
        + "}";
  }
}
