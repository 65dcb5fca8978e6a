package dev.prefstream.ingest;

import dev.prefstream.schemas.avro.ChatMessage;
import java.util.List;
import java.util.Locale;

/**
 * Keys of ingest's state stores. Parts are joined with NUL, which no model id, event id, request id
 * or user key may contain (the rules reject control characters in ids), so a key is never ambiguous
 * and a prefix scan never reaches into another request's entries.
 */
final class StoreKeys {
  static final char SEPARATOR = '\u0000';
  private static final String SEPARATOR_STRING = String.valueOf(SEPARATOR);

  private StoreKeys() {}

  /** The common two-part key, without the varargs array and joiner the general form costs. */
  static String of(String first, String second) {
    return first + SEPARATOR + second;
  }

  static String of(String... parts) {
    return String.join(SEPARATOR_STRING, parts);
  }

  /** Everything under {@code prefix}: [prefix + NUL, prefix + \u0001), as an inclusive range. */
  static String rangeFrom(String prefix) {
    return prefix + SEPARATOR;
  }

  static String rangeTo(String prefix) {
    return prefix + '\u0001';
  }

  /** A fixed-width, order-preserving rendering of a non-negative time for keys. */
  static String time(long ms) {
    return String.format(Locale.ROOT, "%016x", ms);
  }

  /** The sha-256 of a prompt in a form that tells text and chat apart. */
  static String promptHash(Object prompt) {
    StringBuilder canonical = new StringBuilder();
    if (prompt instanceof String text) {
      canonical.append("text").append(SEPARATOR).append(text);
    } else {
      canonical.append("chat");
      for (Object m : (List<?>) prompt) {
        ChatMessage message = (ChatMessage) m;
        canonical.append(SEPARATOR).append(message.getRole());
        canonical.append(SEPARATOR).append(message.getContent());
      }
    }
    return Preferences.sha256(canonical.toString());
  }
}
