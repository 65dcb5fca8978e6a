package dev.prefstream.schemas;

import java.util.regex.Pattern;

/**
 * The one rule for model ids, applied by every reader of untrusted input: ingest on feedback, the
 * trainer on pairs' keys, the sink and the audit commands on manifests. A valid id is also a safe
 * single path segment: it cannot be {@code .} or {@code ..}, hold a separator or a NUL, or be
 * absolute, so a directory named after it stays inside its parent.
 */
public final class ModelIds {
  /** 1-128 of {@code [A-Za-z0-9._-]}, starting with a letter or digit. */
  public static final Pattern PATTERN = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  private ModelIds() {}

  /**
   * Whether {@code id} is a valid model id; {@code null} is not. {@link #PATTERN}, checked by hand:
   * ingest asks for every event, and the regex was 1.5% of its time.
   */
  public static boolean isValid(String id) {
    if (id == null || id.isEmpty() || id.length() > 128) {
      return false;
    }
    for (int i = 0; i < id.length(); i++) {
      char c = id.charAt(i);
      boolean alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) {
        return false;
      }
    }
    return true;
  }

  /**
   * Why {@code id} is not a valid model id, naming the value (abbreviated, control characters
   * escaped), or {@code null} when it is valid.
   */
  public static String problem(String id) {
    if (id == null) {
      return "model id is missing";
    }
    if (isValid(id)) {
      return null;
    }
    String shown = id.length() > 64 ? id.substring(0, 64) + "..." : id;
    StringBuilder escaped = new StringBuilder();
    shown
        .codePoints()
        .forEach(
            c -> {
              if (Character.isISOControl(c)) {
                escaped.append(String.format("\\u%04x", c));
              } else {
                escaped.appendCodePoint(c);
              }
            });
    return "model id '"
        + escaped
        + "' ("
        + id.length()
        + " chars) does not match "
        + PATTERN.pattern();
  }
}
