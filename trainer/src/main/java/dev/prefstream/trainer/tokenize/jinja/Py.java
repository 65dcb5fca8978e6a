package dev.prefstream.trainer.tokenize.jinja;

import java.math.BigDecimal;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python value semantics as jinja2 sees them. Values: {@code null} (None), {@link Undefined},
 * Boolean, Long (int), Double (float), String, {@link List} (list), {@link Tuple}, {@link Map}
 * (dict, insertion-ordered), {@link Namespace}, {@link Callable}. Strings are indexed and measured
 * in code points, as Python does.
 */
final class Py {

  private Py() {}

  /** jinja2's default Undefined: prints as "", is false, iterates empty, fails on use. */
  record Undefined(String hint) {}

  /** A tuple: a list that prints with parentheses. */
  static final class Tuple extends AbstractList<Object> {
    private final List<Object> items;

    Tuple(List<Object> items) {
      this.items = List.copyOf(items.stream().map(Py::box).toList());
    }

    @Override
    public Object get(int index) {
      Object v = items.get(index);
      return v == NULL ? null : v;
    }

    @Override
    public int size() {
      return items.size();
    }
  }

  private static final Object NULL = new Object();

  private static Object box(Object o) {
    return o == null ? NULL : o;
  }

  /** jinja2's namespace(): attributes assignable with {@code set ns.attr = v}. */
  static final class Namespace {
    final Map<String, Object> attrs;

    Namespace(Map<String, Object> attrs) {
      this.attrs = attrs;
    }
  }

  /** A function, macro or bound method. */
  interface Callable {
    Object call(List<Object> args, Map<String, Object> kwargs);
  }

  static boolean isUndefined(Object o) {
    return o instanceof Undefined;
  }

  static boolean truthy(Object o) {
    if (o == null || o instanceof Undefined) {
      return false;
    }
    if (o instanceof Boolean b) {
      return b;
    }
    if (o instanceof Long l) {
      return l != 0;
    }
    if (o instanceof Double d) {
      return d != 0.0;
    }
    if (o instanceof String s) {
      return !s.isEmpty();
    }
    if (o instanceof List<?> l) {
      return !l.isEmpty();
    }
    if (o instanceof Map<?, ?> m) {
      return !m.isEmpty();
    }
    return true;
  }

  static String typeName(Object o) {
    if (o == null) {
      return "NoneType";
    }
    if (o instanceof Undefined) {
      return "Undefined";
    }
    if (o instanceof Boolean) {
      return "bool";
    }
    if (o instanceof Long) {
      return "int";
    }
    if (o instanceof Double) {
      return "float";
    }
    if (o instanceof String) {
      return "str";
    }
    if (o instanceof Tuple) {
      return "tuple";
    }
    if (o instanceof List) {
      return "list";
    }
    if (o instanceof Map) {
      return "dict";
    }
    if (o instanceof Namespace) {
      return "Namespace";
    }
    return "function";
  }

  /** Python's str(). */
  static String str(Object o) {
    if (o instanceof String s) {
      return s;
    }
    if (o instanceof Undefined) {
      return "";
    }
    return repr(o);
  }

  /** Python's repr(). */
  static String repr(Object o) {
    if (o == null) {
      return "None";
    }
    if (o instanceof Undefined) {
      return "";
    }
    if (o instanceof Boolean b) {
      return b ? "True" : "False";
    }
    if (o instanceof Long l) {
      return l.toString();
    }
    if (o instanceof Double d) {
      return floatRepr(d);
    }
    if (o instanceof String s) {
      return stringRepr(s);
    }
    if (o instanceof Tuple t) {
      StringBuilder b = new StringBuilder("(");
      for (int i = 0; i < t.size(); i++) {
        b.append(i > 0 ? ", " : "").append(repr(t.get(i)));
      }
      return b.append(t.size() == 1 ? ",)" : ")").toString();
    }
    if (o instanceof List<?> l) {
      StringBuilder b = new StringBuilder("[");
      for (int i = 0; i < l.size(); i++) {
        b.append(i > 0 ? ", " : "").append(repr(l.get(i)));
      }
      return b.append("]").toString();
    }
    if (o instanceof Map<?, ?> m) {
      StringBuilder b = new StringBuilder("{");
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        b.append(first ? "" : ", ")
            .append(repr(e.getKey()))
            .append(": ")
            .append(repr(e.getValue()));
        first = false;
      }
      return b.append("}").toString();
    }
    throw new JinjaError("cannot print a " + typeName(o) + " (prefstream does not render it)");
  }

  /** Python's float repr: shortest round-trip digits, exponent outside [1e-4, 1e16). */
  static String floatRepr(double d) {
    if (Double.isNaN(d)) {
      return "nan";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "inf" : "-inf";
    }
    if (d == 0) {
      return (1 / d < 0) ? "-0.0" : "0.0";
    }
    BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros();
    String digits = bd.unscaledValue().abs().toString();
    int exp = digits.length() - 1 - bd.scale(); // decimal exponent of the first digit
    String sign = d < 0 ? "-" : "";
    if (exp >= -5 && exp < 16) {
      String plain = bd.abs().toPlainString();
      return sign + (plain.contains(".") ? plain : plain + ".0");
    }
    String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
    return sign
        + mantissa
        + "e"
        + (exp < 0 ? "-" : "+")
        + (Math.abs(exp) < 10 ? "0" : "")
        + Math.abs(exp);
  }

  static String stringRepr(String s) {
    char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
    StringBuilder b = new StringBuilder().append(quote);
    s.codePoints()
        .forEach(
            c -> {
              if (c == quote || c == '\\') {
                b.append('\\').appendCodePoint(c);
              } else if (c == '\n') {
                b.append("\\n");
              } else if (c == '\r') {
                b.append("\\r");
              } else if (c == '\t') {
                b.append("\\t");
              } else if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\x%02x", c));
              } else if (!isPrintable(c)) {
                b.append(
                    c <= 0xff
                        ? String.format("\\x%02x", c)
                        : c <= 0xffff ? String.format("\\u%04x", c) : String.format("\\U%08x", c));
              } else {
                b.appendCodePoint(c);
              }
            });
    return b.append(quote).toString();
  }

  private static boolean isPrintable(int c) {
    if (c == ' ') {
      return true;
    }
    int t = Character.getType(c);
    return !(t == Character.CONTROL
        || t == Character.FORMAT
        || t == Character.SURROGATE
        || t == Character.PRIVATE_USE
        || t == Character.UNASSIGNED
        || t == Character.LINE_SEPARATOR
        || t == Character.PARAGRAPH_SEPARATOR
        || t == Character.SPACE_SEPARATOR);
  }

  /** Python's str.isspace() for one character. */
  static boolean isSpace(int c) {
    return (c >= 0x09 && c <= 0x0d)
        || (c >= 0x1c && c <= 0x20)
        || c == 0x85
        || c == 0xa0
        || c == 0x1680
        || (c >= 0x2000 && c <= 0x200a)
        || c == 0x2028
        || c == 0x2029
        || c == 0x202f
        || c == 0x205f
        || c == 0x3000;
  }

  static String strip(String s, String chars, boolean left, boolean right) {
    int start = 0;
    int end = s.length();
    while (left && start < end && stripped(s.charAt(start), chars)) {
      start++;
    }
    while (right && end > start && stripped(s.charAt(end - 1), chars)) {
      end--;
    }
    return s.substring(start, end);
  }

  private static boolean stripped(char c, String chars) {
    return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
  }

  static String rstrip(String s) {
    return strip(s, null, false, true);
  }

  static String lstrip(String s) {
    return strip(s, null, true, false);
  }

  /** Python's len(). */
  static long len(Object o) {
    if (o instanceof String s) {
      return s.codePointCount(0, s.length());
    }
    if (o instanceof List<?> l) {
      return l.size();
    }
    if (o instanceof Map<?, ?> m) {
      return m.size();
    }
    if (o instanceof Undefined) {
      return 0;
    }
    throw new JinjaError("object of type '" + typeName(o) + "' has no len()");
  }

  /** The items a for loop (or list()) sees. */
  static List<Object> iterate(Object o) {
    if (o instanceof Undefined) {
      return List.of();
    }
    if (o instanceof List<?> l) {
      return new ArrayList<>(l);
    }
    if (o instanceof Map<?, ?> m) {
      return new ArrayList<>(m.keySet());
    }
    if (o instanceof String s) {
      List<Object> out = new ArrayList<>();
      s.codePoints().forEach(c -> out.add(new String(Character.toChars(c))));
      return out;
    }
    throw new JinjaError("'" + typeName(o) + "' object is not iterable");
  }

  static boolean isNumber(Object o) {
    return o instanceof Long || o instanceof Double || o instanceof Boolean;
  }

  static double toDouble(Object o) {
    if (o instanceof Boolean b) {
      return b ? 1 : 0;
    }
    return ((Number) o).doubleValue();
  }

  static long toLong(Object o) {
    if (o instanceof Boolean b) {
      return b ? 1 : 0;
    }
    return (Long) o;
  }

  static boolean isInt(Object o) {
    return o instanceof Long || o instanceof Boolean;
  }

  /** Python's ==. */
  static boolean eq(Object a, Object b) {
    if (a instanceof Undefined || b instanceof Undefined) {
      return a instanceof Undefined && b instanceof Undefined;
    }
    if (a == null || b == null) {
      return a == b;
    }
    if (isNumber(a) && isNumber(b)) {
      if (isInt(a) && isInt(b)) {
        return toLong(a) == toLong(b);
      }
      return toDouble(a) == toDouble(b);
    }
    if (a instanceof String x && b instanceof String y) {
      return x.equals(y);
    }
    if (a instanceof List<?> x && b instanceof List<?> y) {
      if ((a instanceof Tuple) != (b instanceof Tuple) || x.size() != y.size()) {
        return false;
      }
      for (int i = 0; i < x.size(); i++) {
        if (!eq(x.get(i), y.get(i))) {
          return false;
        }
      }
      return true;
    }
    if (a instanceof Map<?, ?> x && b instanceof Map<?, ?> y) {
      if (x.size() != y.size()) {
        return false;
      }
      for (Map.Entry<?, ?> e : x.entrySet()) {
        if (!y.containsKey(e.getKey()) || !eq(e.getValue(), y.get(e.getKey()))) {
          return false;
        }
      }
      return true;
    }
    return a == b;
  }

  /** Python's ordering for numbers, strings (by code point) and lists. */
  static int compare(Object a, Object b, String op) {
    if (isNumber(a) && isNumber(b)) {
      if (isInt(a) && isInt(b)) {
        return Long.compare(toLong(a), toLong(b));
      }
      return Double.compare(toDouble(a), toDouble(b));
    }
    if (a instanceof String x && b instanceof String y) {
      int i = 0;
      int j = 0;
      while (i < x.length() && j < y.length()) {
        int cx = x.codePointAt(i);
        int cy = y.codePointAt(j);
        if (cx != cy) {
          return Integer.compare(cx, cy);
        }
        i += Character.charCount(cx);
        j += Character.charCount(cy);
      }
      return Boolean.compare(i < x.length(), j < y.length());
    }
    if (a instanceof List<?> x && b instanceof List<?> y) {
      for (int i = 0; i < Math.min(x.size(), y.size()); i++) {
        if (!eq(x.get(i), y.get(i))) {
          return compare(x.get(i), y.get(i), op);
        }
      }
      return Integer.compare(x.size(), y.size());
    }
    throw new JinjaError(
        "'"
            + op
            + "' not supported between instances of '"
            + typeName(a)
            + "' and '"
            + typeName(b)
            + "'");
  }

  /** Python's {@code x in container}. */
  static boolean contains(Object container, Object x) {
    if (container instanceof Undefined) {
      return false;
    }
    if (container instanceof String s) {
      if (!(x instanceof String sub)) {
        throw new JinjaError("'in <string>' requires string as left operand, not " + typeName(x));
      }
      return s.contains(sub);
    }
    if (container instanceof Map<?, ?> m) {
      for (Object k : m.keySet()) {
        if (eq(k, x)) {
          return true;
        }
      }
      return false;
    }
    if (container instanceof List<?> l) {
      for (Object o : l) {
        if (eq(o, x)) {
          return true;
        }
      }
      return false;
    }
    throw new JinjaError("argument of type '" + typeName(container) + "' is not iterable");
  }

  /** Code-point index of a string (negative from the end), or -1 outside it. */
  static String charAt(String s, long index) {
    int n = s.codePointCount(0, s.length());
    long k = index < 0 ? index + n : index;
    if (k < 0 || k >= n) {
      return null;
    }
    int at = s.offsetByCodePoints(0, (int) k);
    return new String(Character.toChars(s.codePointAt(at)));
  }

  /** Python's slice over a list or a string (code points), with slice.indices() semantics. */
  static Object slice(Object target, Object start, Object stop, Object step) {
    List<Object> items;
    boolean isString = target instanceof String;
    if (isString) {
      items = iterate(target);
    } else if (target instanceof List<?> l) {
      items = new ArrayList<>(l);
    } else {
      throw new JinjaError("'" + typeName(target) + "' object is not subscriptable");
    }
    int n = items.size();
    long st = step == null || step instanceof Undefined ? 1 : index(step);
    if (st == 0) {
      throw new JinjaError("slice step cannot be zero");
    }
    long lo;
    long hi;
    if (st > 0) {
      lo = bound(start, n, 0, 0, n);
      hi = bound(stop, n, n, 0, n);
    } else {
      lo = bound(start, n, n - 1, -1, n - 1);
      hi = bound(stop, n, -1, -1, n - 1);
    }
    List<Object> out = new ArrayList<>();
    for (long k = lo; st > 0 ? k < hi : k > hi; k += st) {
      out.add(items.get((int) k));
    }
    if (isString) {
      StringBuilder b = new StringBuilder();
      out.forEach(c -> b.append((String) c));
      return b.toString();
    }
    return target instanceof Tuple ? new Tuple(out) : out;
  }

  private static long bound(Object v, int n, long dflt, long min, long max) {
    if (v == null || v instanceof Undefined) {
      return dflt;
    }
    long k = index(v);
    if (k < 0) {
      k += n;
    }
    return Math.max(min, Math.min(max, k));
  }

  private static long index(Object v) {
    if (!isInt(v)) {
      throw new JinjaError("slice indices must be integers or None, not " + typeName(v));
    }
    return toLong(v);
  }
}
