package dev.prefstream.trainer.tokenize.jinja;

import dev.prefstream.trainer.tokenize.jinja.Py.Tuple;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Python str and dict methods chat templates call ({@code content.strip()}, {@code
 * split('</think>')}, {@code items()}, ...), with CPython's semantics. Methods that would modify a
 * value are refused, as transformers' ImmutableSandboxedEnvironment refuses them.
 */
final class Methods {

  private Methods() {}

  /** The bound method {@code name} of {@code base}, or null when it has none. */
  static Py.Callable bind(Object base, String name) {
    if (base instanceof String s) {
      return switch (name) {
        case "strip",
            "lstrip",
            "rstrip",
            "startswith",
            "endswith",
            "split",
            "rsplit",
            "splitlines",
            "upper",
            "lower",
            "title",
            "capitalize",
            "replace",
            "find",
            "rfind",
            "count",
            "join",
            "removeprefix",
            "removesuffix",
            "isdigit",
            "isalpha",
            "isspace",
            "isalnum",
            "isupper",
            "islower" ->
            (args, kw) -> string(s, name, args, kw);
        default -> null;
      };
    }
    if (base instanceof Map<?, ?> m) {
      return switch (name) {
        case "items", "keys", "values", "get" -> (args, kw) -> map(m, name, args);
        case "pop", "popitem", "update", "setdefault", "clear" ->
            (args, kw) -> {
              throw new JinjaError(
                  "dict." + name + "() modifies a value: not allowed in templates");
            };
        default -> null;
      };
    }
    if (base instanceof List<?>) {
      return switch (name) {
        case "append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear" ->
            (args, kw) -> {
              throw new JinjaError(
                  "list." + name + "() modifies a value: not allowed in templates");
            };
        default -> null;
      };
    }
    return null;
  }

  private static Object arg(List<Object> a, int i) {
    return i < a.size() ? a.get(i) : null;
  }

  private static String strArg(List<Object> a, int i, String method) {
    Object o = arg(a, i);
    if (o == null) {
      return null;
    }
    if (!(o instanceof String s)) {
      throw new JinjaError(method + "() argument must be str or None, not " + Py.typeName(o));
    }
    return s;
  }

  private static Object string(String s, String name, List<Object> a, Map<String, Object> kw) {
    return switch (name) {
      case "strip" -> Py.strip(s, strArg(a, 0, name), true, true);
      case "lstrip" -> Py.strip(s, strArg(a, 0, name), true, false);
      case "rstrip" -> Py.strip(s, strArg(a, 0, name), false, true);
      case "startswith", "endswith" -> {
        Object p = arg(a, 0);
        List<?> options = p instanceof Tuple t ? t : List.of(p == null ? "" : p);
        if (a.size() > 1) {
          throw new JinjaError(name + "() with start/end is not supported");
        }
        boolean any = false;
        for (Object o : options) {
          if (!(o instanceof String x)) {
            throw new JinjaError(name + " first arg must be str or a tuple of str");
          }
          any |= name.equals("startswith") ? s.startsWith(x) : s.endsWith(x);
        }
        yield any;
      }
      case "split", "rsplit" -> {
        String sep = a.isEmpty() ? (String) kw.get("sep") : strArg(a, 0, name);
        Object max = a.size() > 1 ? a.get(1) : kw.getOrDefault("maxsplit", -1L);
        long maxsplit = Py.toLong(max);
        yield name.equals("split") ? split(s, sep, maxsplit) : rsplit(s, sep, maxsplit);
      }
      case "splitlines" -> new ArrayList<Object>(splitlines(s));
      case "upper" -> s.toUpperCase(Locale.ROOT);
      case "lower" -> s.toLowerCase(Locale.ROOT);
      case "title" -> title(s);
      case "capitalize" ->
          s.isEmpty()
              ? s
              : s.substring(0, s.offsetByCodePoints(0, 1)).toUpperCase(Locale.ROOT)
                  + s.substring(s.offsetByCodePoints(0, 1)).toLowerCase(Locale.ROOT);
      case "replace" ->
          replace(
              s, strArg(a, 0, name), strArg(a, 1, name), a.size() > 2 ? Py.toLong(a.get(2)) : -1);
      case "find", "rfind" -> {
        String sub = strArg(a, 0, name);
        int at = name.equals("find") ? s.indexOf(sub) : s.lastIndexOf(sub);
        yield at < 0 ? -1L : (long) s.codePointCount(0, at);
      }
      case "count" -> {
        String sub = strArg(a, 0, name);
        if (sub.isEmpty()) {
          yield Py.len(s) + 1;
        }
        long n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
          n++;
        }
        yield n;
      }
      case "join" -> {
        StringBuilder b = new StringBuilder();
        boolean first = true;
        for (Object o : Py.iterate(arg(a, 0))) {
          if (!(o instanceof String x)) {
            throw new JinjaError(
                "sequence item: expected str instance, " + Py.typeName(o) + " found");
          }
          b.append(first ? "" : s).append(x);
          first = false;
        }
        yield b.toString();
      }
      case "removeprefix" -> {
        String p = strArg(a, 0, name);
        yield s.startsWith(p) ? s.substring(p.length()) : s;
      }
      case "removesuffix" -> {
        String p = strArg(a, 0, name);
        yield !p.isEmpty() && s.endsWith(p) ? s.substring(0, s.length() - p.length()) : s;
      }
      case "isdigit" -> !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
      case "isalpha" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
      case "isalnum" -> !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
      case "isspace" -> !s.isEmpty() && s.chars().allMatch(Py::isSpace);
      case "isupper" ->
          s.codePoints().anyMatch(Character::isUpperCase)
              && s.codePoints().noneMatch(Character::isLowerCase);
      case "islower" ->
          s.codePoints().anyMatch(Character::isLowerCase)
              && s.codePoints().noneMatch(Character::isUpperCase);
      default -> throw new JinjaError("str has no method " + name);
    };
  }

  private static Object map(Map<?, ?> m, String name, List<Object> a) {
    return switch (name) {
      case "items" -> {
        List<Object> out = new ArrayList<>();
        m.forEach((k, v) -> out.add(new Tuple(Arrays.asList(k, v))));
        yield out;
      }
      case "keys" -> new ArrayList<Object>(m.keySet());
      case "values" -> new ArrayList<Object>(m.values());
      case "get" -> m.containsKey(arg(a, 0)) ? m.get(arg(a, 0)) : arg(a, 1);
      default -> throw new JinjaError("dict has no method " + name);
    };
  }

  static String replace(String s, String old, String neu, long count) {
    if (count < 0) {
      if (old.isEmpty()) {
        StringBuilder b = new StringBuilder(neu);
        s.codePoints().forEach(c -> b.appendCodePoint(c).append(neu));
        return b.toString();
      }
      return s.replace(old, neu);
    }
    StringBuilder b = new StringBuilder();
    int from = 0;
    long done = 0;
    if (old.isEmpty()) {
      throw new JinjaError("replace('', x, count) is not supported");
    }
    for (int at; done < count && (at = s.indexOf(old, from)) >= 0; done++) {
      b.append(s, from, at).append(neu);
      from = at + old.length();
    }
    return b.append(s.substring(from)).toString();
  }

  /** Python's str.title(): a letter after a non-letter is upper-cased, others lower-cased. */
  static String title(String s) {
    StringBuilder b = new StringBuilder();
    boolean prevCased = false;
    for (int i = 0; i < s.length(); ) {
      int c = s.codePointAt(i);
      i += Character.charCount(c);
      boolean cased =
          Character.isUpperCase(c) || Character.isLowerCase(c) || Character.isTitleCase(c);
      b.appendCodePoint(prevCased ? Character.toLowerCase(c) : Character.toTitleCase(c));
      prevCased = cased;
    }
    return b.toString();
  }

  /** str.split(sep, maxsplit): literal separator, or runs of whitespace when sep is None. */
  static List<Object> split(String s, String sep, long maxsplit) {
    List<Object> out = new ArrayList<>();
    if (sep == null) {
      int i = 0;
      int n = s.length();
      while (true) {
        while (i < n && Py.isSpace(s.charAt(i))) {
          i++;
        }
        if (i >= n) {
          break;
        }
        if (maxsplit >= 0 && out.size() >= maxsplit) {
          out.add(Py.rstrip(s.substring(i)));
          break;
        }
        int j = i;
        while (j < n && !Py.isSpace(s.charAt(j))) {
          j++;
        }
        out.add(s.substring(i, j));
        i = j;
      }
      return out;
    }
    if (sep.isEmpty()) {
      throw new JinjaError("empty separator");
    }
    int from = 0;
    for (int at; (maxsplit < 0 || out.size() < maxsplit) && (at = s.indexOf(sep, from)) >= 0; ) {
      out.add(s.substring(from, at));
      from = at + sep.length();
    }
    out.add(s.substring(from));
    return out;
  }

  static List<Object> rsplit(String s, String sep, long maxsplit) {
    if (maxsplit < 0) {
      return split(s, sep, -1);
    }
    if (sep == null) {
      throw new JinjaError("rsplit(None, maxsplit) is not supported");
    }
    if (sep.isEmpty()) {
      throw new JinjaError("empty separator");
    }
    List<Object> out = new ArrayList<>();
    int end = s.length();
    for (int at;
        out.size() < maxsplit
            && (at = s.lastIndexOf(sep, end - sep.length())) >= 0
            && end - sep.length() >= 0; ) {
      out.add(0, s.substring(at + sep.length(), end));
      end = at;
    }
    out.add(0, s.substring(0, end));
    return out;
  }

  /** str.splitlines() without keepends. */
  static List<String> splitlines(String s) {
    List<String> out = new ArrayList<>();
    int start = 0;
    int i = 0;
    while (i < s.length()) {
      char c = s.charAt(i);
      boolean br =
          c == '\n'
              || c == '\r'
              || c == 0x0b
              || c == 0x0c
              || c == 0x1c
              || c == 0x1d
              || c == 0x1e
              || c == 0x85
              || c == 0x2028
              || c == 0x2029;
      if (br) {
        out.add(s.substring(start, i));
        i += (c == '\r' && i + 1 < s.length() && s.charAt(i + 1) == '\n') ? 2 : 1;
        start = i;
      } else {
        i++;
      }
    }
    if (start < s.length()) {
      out.add(s.substring(start));
    }
    return out;
  }
}
