package dev.prefstream.ingest;

import java.text.Normalizer;
import java.util.Locale;

/**
 * What ingest accepts as text, and the one normal form it stores.
 *
 * <p>Texts (prompts, responses) are NFC-normalized, so that the same words typed on different
 * keyboards compare equal and tokenize alike. Rejected outright are control characters other than
 * tab, newline and carriage return (C0, DEL, C1), U+FFFD (what a UTF-8 decoder puts where the bytes
 * were not valid UTF-8 — a record that contains it has lost data before or on the wire), unpaired
 * surrogates and Unicode noncharacters. Identifiers (event, request, user ids) are never
 * normalized, only checked the same way.
 */
final class Texts {
  private Texts() {}

  /** {@code text} in NFC (the same instance when it already is). */
  static String nfc(String text) {
    return belowCombiningMarks(text) || Normalizer.isNormalized(text, Normalizer.Form.NFC)
        ? text
        : Normalizer.normalize(text, Normalizer.Form.NFC);
  }

  /**
   * Whether every character is below U+0300, where the combining marks begin: such a text is NFC
   * already (no character below it decomposes or composes with its neighbour; TextsTest checks
   * every pair), and this plain loop spares the JDK's quick check, 3% of ingest's stream threads.
   */
  static boolean belowCombiningMarks(String text) {
    for (int i = 0; i < text.length(); i++) {
      if (text.charAt(i) >= '\u0300') {
        return false;
      }
    }
    return true;
  }

  /**
   * Why {@code text} is not acceptable, as a message fragment naming the character and where it is;
   * {@code null} when it is acceptable.
   */
  static String problem(String text) {
    for (int i = 0; i < text.length(); ) {
      char c = text.charAt(i);
      if (Character.isHighSurrogate(c)) {
        if (i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
          int cp = Character.toCodePoint(c, text.charAt(i + 1));
          if (isNoncharacter(cp)) {
            return describe(cp, i, "a Unicode noncharacter");
          }
          i += 2;
          continue;
        }
        return describe(c, i, "an unpaired surrogate");
      }
      if (Character.isLowSurrogate(c)) {
        return describe(c, i, "an unpaired surrogate");
      }
      if (isControl(c)) {
        return describe(
            c, i, "a control character; only tab, newline and carriage return are accepted");
      }
      if (c == '\uFFFD') {
        return describe(
            c,
            i,
            "the replacement character: the bytes were not valid UTF-8, or the text was damaged"
                + " before it was sent");
      }
      if (isNoncharacter(c)) {
        return describe(c, i, "a Unicode noncharacter");
      }
      i++;
    }
    return null;
  }

  /** As {@link #problem}, for identifiers: tab, newline and carriage return are refused too. */
  static String idProblem(String id) {
    for (int i = 0; i < id.length(); i++) {
      char c = id.charAt(i);
      if (c == '\t' || c == '\n' || c == '\r') {
        return describe(c, i, "a control character, not accepted in identifiers");
      }
    }
    return problem(id);
  }

  static boolean isControl(int c) {
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || (c >= 0x7F && c <= 0x9F);
  }

  private static boolean isNoncharacter(int cp) {
    return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
  }

  private static String describe(int cp, int index, String what) {
    return String.format(Locale.ROOT, "U+%04X at char %d, %s", cp, index, what);
  }

  /** At most 40 characters of {@code text}, for messages; control characters escaped. */
  static String abbreviate(String text) {
    String head = text.length() <= 40 ? text : text.substring(0, 40) + "...";
    StringBuilder out = new StringBuilder(head.length());
    head.codePoints()
        .forEach(
            cp -> {
              if (isControl(cp) || cp == '\t' || cp == '\n' || cp == '\r') {
                out.append(String.format(Locale.ROOT, "\\u%04x", cp));
              } else {
                out.appendCodePoint(cp);
              }
            });
    return out.toString();
  }
}
