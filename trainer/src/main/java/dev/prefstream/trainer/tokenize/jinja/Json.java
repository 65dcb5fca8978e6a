package dev.prefstream.trainer.tokenize.jinja;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code json.dumps}, which transformers' chat-template {@code tojson} filter calls with
 * ensure_ascii=False by default (unlike jinja2's own tojson, it does not HTML-escape).
 */
final class Json {

  private Json() {}

  static String dumps(
      Object v, boolean ensureAscii, Object indent, Object separators, boolean sortKeys) {
    String indentUnit = null;
    if (indent != null && !(indent instanceof Py.Undefined)) {
      indentUnit =
          indent instanceof String s ? s : " ".repeat((int) Math.max(0, Py.toLong(indent)));
    }
    String itemSep = indentUnit == null ? ", " : ",";
    String keySep = ": ";
    if (separators != null && !(separators instanceof Py.Undefined)) {
      List<?> seps = (List<?>) separators;
      itemSep = Py.str(seps.get(0));
      keySep = Py.str(seps.get(1));
    }
    StringBuilder b = new StringBuilder();
    new Json.Writer(ensureAscii, indentUnit, itemSep, keySep, sortKeys).write(v, b, 0);
    return b.toString();
  }

  private record Writer(
      boolean ensureAscii, String indent, String itemSep, String keySep, boolean sortKeys) {

    void newline(StringBuilder b, int depth) {
      if (indent != null) {
        b.append('\n').append(indent.repeat(depth));
      }
    }

    void write(Object v, StringBuilder b, int depth) {
      if (v == null) {
        b.append("null");
      } else if (v instanceof Boolean x) {
        b.append(x ? "true" : "false");
      } else if (v instanceof Long x) {
        b.append(x);
      } else if (v instanceof Double d) {
        b.append(
            d.isNaN()
                ? "NaN"
                : d.isInfinite() ? (d > 0 ? "Infinity" : "-Infinity") : Py.floatRepr(d));
      } else if (v instanceof String s) {
        string(s, b);
      } else if (v instanceof List<?> l) {
        if (l.isEmpty()) {
          b.append("[]");
          return;
        }
        b.append('[');
        for (int i = 0; i < l.size(); i++) {
          if (i > 0) {
            b.append(itemSep);
          }
          newline(b, depth + 1);
          write(l.get(i), b, depth + 1);
        }
        newline(b, depth);
        b.append(']');
      } else if (v instanceof Map<?, ?> m) {
        if (m.isEmpty()) {
          b.append("{}");
          return;
        }
        List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
        if (sortKeys) {
          entries.sort((x, y) -> Py.compare(x.getKey(), y.getKey(), "<"));
        }
        b.append('{');
        boolean first = true;
        for (Map.Entry<?, ?> e : entries) {
          if (!first) {
            b.append(itemSep);
          }
          first = false;
          newline(b, depth + 1);
          Object k = e.getKey();
          string(
              k instanceof String s
                  ? s
                  : k == null
                      ? "null"
                      : k instanceof Boolean x ? (x ? "true" : "false") : Py.repr(k),
              b);
          b.append(keySep);
          write(e.getValue(), b, depth + 1);
        }
        newline(b, depth);
        b.append('}');
      } else {
        throw new JinjaError("Object of type " + Py.typeName(v) + " is not JSON serializable");
      }
    }

    void string(String s, StringBuilder b) {
      b.append('"');
      for (int i = 0; i < s.length(); i++) {
        char c = s.charAt(i);
        switch (c) {
          case '"' -> b.append("\\\"");
          case '\\' -> b.append("\\\\");
          case '\n' -> b.append("\\n");
          case '\r' -> b.append("\\r");
          case '\t' -> b.append("\\t");
          case '\b' -> b.append("\\b");
          case '\f' -> b.append("\\f");
          default -> {
            if (c < 0x20 || (ensureAscii && c > 0x7e)) {
              b.append(
                  String.format("\\u%04x", (int) c)); // UTF-16 units: surrogate pairs as Python
            } else {
              b.append(c);
            }
          }
        }
      }
      b.append('"');
    }
  }
}
