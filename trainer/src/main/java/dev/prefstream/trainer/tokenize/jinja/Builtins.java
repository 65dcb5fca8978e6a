package dev.prefstream.trainer.tokenize.jinja;

import dev.prefstream.trainer.tokenize.jinja.Lexer.Token;
import dev.prefstream.trainer.tokenize.jinja.Py.Tuple;
import dev.prefstream.trainer.tokenize.jinja.Py.Undefined;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * jinja2's filters and tests that chat templates use, transformers' {@code tojson} (json.dumps with
 * ensure_ascii=False), and the Python str/dict methods templates call. Each follows the CPython /
 * jinja2 3.1 definition it is named after; anything else is refused at parse time, by name.
 */
final class Builtins {

  private Builtins() {}

  static final Set<String> FILTERS =
      Set.of(
          "abs",
          "capitalize",
          "count",
          "d",
          "default",
          "dictsort",
          "e",
          "escape",
          "first",
          "float",
          "indent",
          "int",
          "items",
          "join",
          "last",
          "length",
          "list",
          "lower",
          "map",
          "max",
          "min",
          "reject",
          "rejectattr",
          "replace",
          "reverse",
          "round",
          "safe",
          "select",
          "selectattr",
          "sort",
          "string",
          "sum",
          "title",
          "tojson",
          "trim",
          "unique",
          "upper",
          "wordcount");

  static final Set<String> TESTS =
      Set.of(
          "boolean",
          "callable",
          "defined",
          "divisibleby",
          "eq",
          "equalto",
          "escaped",
          "even",
          "false",
          "float",
          "ge",
          "greaterthan",
          "gt",
          "in",
          "integer",
          "iterable",
          "le",
          "lessthan",
          "lower",
          "lt",
          "mapping",
          "ne",
          "none",
          "number",
          "odd",
          "sameas",
          "sequence",
          "string",
          "true",
          "undefined",
          "upper",
          "==",
          "!=",
          "<",
          ">",
          "<=",
          ">=");

  static void requireFilter(String name, Token at) {
    if (!FILTERS.contains(name)) {
      throw Parser.error(
          at, "the '" + name + "' filter is not supported by prefstream's chat template renderer");
    }
  }

  static void requireTest(String name, Token at) {
    if (!TESTS.contains(name)) {
      throw Parser.error(
          at, "the '" + name + "' test is not supported by prefstream's chat template renderer");
    }
  }

  // ---- tests

  static boolean test(String name, Object v, List<Object> args) {
    return switch (name) {
      case "defined" -> !(v instanceof Undefined);
      case "undefined" -> v instanceof Undefined;
      case "none" -> v == null;
      case "string" -> v instanceof String;
      case "number" -> Py.isNumber(v);
      case "integer" -> v instanceof Long;
      case "float" -> v instanceof Double;
      case "boolean" -> v instanceof Boolean;
      case "true" -> Boolean.TRUE.equals(v);
      case "false" -> Boolean.FALSE.equals(v);
      case "mapping" -> v instanceof Map;
      case "sequence" -> v instanceof List || v instanceof String || v instanceof Map;
      case "iterable" -> v instanceof List || v instanceof String || v instanceof Map;
      case "callable" -> v instanceof Py.Callable;
      case "escaped" -> false;
      case "lower" -> v instanceof String s && s.equals(s.toLowerCase(Locale.ROOT));
      case "upper" -> v instanceof String s && s.equals(s.toUpperCase(Locale.ROOT));
      case "even" -> Py.toLong(v) % 2 == 0;
      case "odd" -> Py.toLong(v) % 2 != 0;
      case "divisibleby" -> Math.floorMod(Py.toLong(v), Py.toLong(arg(args, 0, name))) == 0;
      case "eq", "equalto", "==" -> Py.eq(v, arg(args, 0, name));
      case "ne", "!=" -> !Py.eq(v, arg(args, 0, name));
      case "lt", "lessthan", "<" -> Py.compare(v, arg(args, 0, name), "<") < 0;
      case "le", "<=" -> Py.compare(v, arg(args, 0, name), "<=") <= 0;
      case "gt", "greaterthan", ">" -> Py.compare(v, arg(args, 0, name), ">") > 0;
      case "ge", ">=" -> Py.compare(v, arg(args, 0, name), ">=") >= 0;
      case "in" -> Py.contains(arg(args, 0, name), v);
      case "sameas" ->
          v == arg(args, 0, name)
              || (v != null && v.equals(arg(args, 0, name)) && v instanceof Boolean);
      default -> throw new JinjaError("unknown test " + name);
    };
  }

  private static Object arg(List<Object> args, int i, String name) {
    if (args.size() <= i) {
      throw new JinjaError("'" + name + "' needs " + (i + 1) + " argument(s)");
    }
    return args.get(i);
  }

  // ---- filters

  /** Named arguments of a filter in Python's order, positional first. */
  private static Object param(
      List<Object> args, Map<String, Object> kw, int index, String name, Object dflt) {
    if (index < args.size()) {
      return args.get(index);
    }
    return kw.containsKey(name) ? kw.get(name) : dflt;
  }

  static Object filter(
      Interpreter in, String name, Object v, List<Object> args, Map<String, Object> kw) {
    switch (name) {
      case "length", "count" -> {
        return Py.len(v);
      }
      case "trim" -> {
        Object chars = param(args, kw, 0, "chars", null);
        return Py.strip(Py.str(v), chars == null ? null : Py.str(chars), true, true);
      }
      case "tojson" -> {
        Object indent = param(args, kw, 0, "indent", null);
        for (String k : kw.keySet()) {
          if (!Set.of("indent", "ensure_ascii", "separators", "sort_keys").contains(k)) {
            throw new JinjaError("tojson() got an unexpected keyword argument '" + k + "'");
          }
        }
        return Json.dumps(
            v,
            Py.truthy(kw.getOrDefault("ensure_ascii", false)),
            indent,
            kw.get("separators"),
            Py.truthy(kw.getOrDefault("sort_keys", false)));
      }
      case "items" -> {
        if (v instanceof Undefined) {
          return List.of();
        }
        if (!(v instanceof Map<?, ?> m)) {
          throw new JinjaError("can only get item pairs from a mapping, not " + Py.typeName(v));
        }
        List<Object> out = new ArrayList<>();
        m.forEach((k, x) -> out.add(new Tuple(java.util.Arrays.asList(k, x))));
        return out;
      }
      case "join" -> {
        String sep = Py.str(param(args, kw, 0, "d", ""));
        Object attr = param(args, kw, 1, "attribute", null);
        StringBuilder b = new StringBuilder();
        boolean first = true;
        for (Object o : Py.iterate(v)) {
          b.append(first ? "" : sep).append(Py.str(attr == null ? o : in.getAttrOrItem(o, attr)));
          first = false;
        }
        return b.toString();
      }
      case "upper" -> {
        return Py.str(v).toUpperCase(Locale.ROOT);
      }
      case "lower" -> {
        return Py.str(v).toLowerCase(Locale.ROOT);
      }
      case "capitalize" -> {
        String s = Py.str(v);
        return s.isEmpty()
            ? s
            : s.substring(0, s.offsetByCodePoints(0, 1)).toUpperCase(Locale.ROOT)
                + s.substring(s.offsetByCodePoints(0, 1)).toLowerCase(Locale.ROOT);
      }
      case "title" -> {
        // jinja2's do_title, not str.title(): words start after runs of - whitespace ( { [ <
        StringBuilder b = new StringBuilder();
        for (String item : splitKeepingSeparators(Py.str(v))) {
          int first = item.offsetByCodePoints(0, 1);
          b.append(item.substring(0, first).toUpperCase(Locale.ROOT))
              .append(item.substring(first).toLowerCase(Locale.ROOT));
        }
        return b.toString();
      }
      case "first" -> {
        List<Object> l = Py.iterate(v);
        return l.isEmpty() ? new Undefined("first of an empty sequence") : l.get(0);
      }
      case "last" -> {
        List<Object> l = Py.iterate(v);
        return l.isEmpty() ? new Undefined("last of an empty sequence") : l.get(l.size() - 1);
      }
      case "default", "d" -> {
        Object dflt = param(args, kw, 0, "default_value", "");
        boolean bool = Py.truthy(param(args, kw, 1, "boolean", false));
        return (v instanceof Undefined || (bool && !Py.truthy(v))) ? dflt : v;
      }
      case "string" -> {
        return Py.str(v);
      }
      case "int" -> {
        Object dflt = param(args, kw, 0, "default", 0L);
        if (Py.isInt(v)) {
          return Py.toLong(v);
        }
        if (v instanceof Double d) {
          return (long) (double) d;
        }
        try {
          return Long.parseLong(Py.strip(Py.str(v), null, true, true).replace("_", ""));
        } catch (NumberFormatException e) {
          try {
            return (long) Double.parseDouble(Py.str(v));
          } catch (NumberFormatException e2) {
            return dflt;
          }
        }
      }
      case "float" -> {
        Object dflt = param(args, kw, 0, "default", 0.0);
        if (Py.isNumber(v)) {
          return Py.toDouble(v);
        }
        try {
          return Double.parseDouble(Py.strip(Py.str(v), null, true, true));
        } catch (NumberFormatException e) {
          return dflt;
        }
      }
      case "abs" -> {
        return v instanceof Double d ? Math.abs(d) : (Object) Math.abs(Py.toLong(v));
      }
      case "round" -> {
        long precision = Py.toLong(param(args, kw, 0, "precision", 0L));
        String method = Py.str(param(args, kw, 1, "method", "common"));
        RoundingMode mode =
            switch (method) {
              case "common" -> RoundingMode.HALF_UP;
              case "ceil" -> RoundingMode.CEILING;
              case "floor" -> RoundingMode.FLOOR;
              default -> throw new JinjaError("round method must be common, ceil or floor");
            };
        return new BigDecimal(Double.toString(Py.toDouble(v)))
            .setScale((int) precision, mode)
            .doubleValue();
      }
      case "list" -> {
        return Py.iterate(v);
      }
      case "reverse" -> {
        if (v instanceof String s) {
          return (String) Py.slice(s, null, null, -1L);
        }
        List<Object> l = Py.iterate(v);
        java.util.Collections.reverse(l);
        return l;
      }
      case "sort" -> {
        boolean reverse = Py.truthy(param(args, kw, 0, "reverse", false));
        Object attr = param(args, kw, 2, "attribute", null);
        List<Object> l = Py.iterate(v);
        l.sort(
            (a, b) -> {
              Object x = attr == null ? a : in.getAttrOrItem(a, attr);
              Object y = attr == null ? b : in.getAttrOrItem(b, attr);
              if (x instanceof String s
                  && y instanceof String t
                  && !Py.truthy(param(args, kw, 1, "case_sensitive", false))) {
                return Py.compare(s.toLowerCase(Locale.ROOT), t.toLowerCase(Locale.ROOT), "<");
              }
              return Py.compare(x, y, "<");
            });
        if (reverse) {
          java.util.Collections.reverse(l);
        }
        return l;
      }
      case "dictsort" -> {
        if (!(v instanceof Map<?, ?> m)) {
          throw new JinjaError("dictsort needs a mapping, got " + Py.typeName(v));
        }
        List<Object> l = new ArrayList<>();
        m.forEach((k, x) -> l.add(new Tuple(java.util.Arrays.asList(k, x))));
        l.sort((a, b) -> Py.compare(((List<?>) a).get(0), ((List<?>) b).get(0), "<"));
        return l;
      }
      case "unique" -> {
        List<Object> out = new ArrayList<>();
        for (Object o : Py.iterate(v)) {
          if (!Py.contains(out, o)) {
            out.add(o);
          }
        }
        return out;
      }
      case "sum" -> {
        Object total = param(args, kw, 1, "start", 0L);
        Object attr = param(args, kw, 0, "attribute", null);
        for (Object o : Py.iterate(v)) {
          total = in.binary("+", total, attr == null ? o : in.getAttrOrItem(o, attr));
        }
        return total;
      }
      case "max", "min" -> {
        List<Object> l = Py.iterate(v);
        if (l.isEmpty()) {
          return new Undefined("no " + name + " of an empty sequence");
        }
        Object best = l.get(0);
        for (Object o : l) {
          int c = Py.compare(o, best, "<");
          if (name.equals("max") ? c > 0 : c < 0) {
            best = o;
          }
        }
        return best;
      }
      case "replace" -> {
        String s = Py.str(v);
        String old = Py.str(param(args, kw, 0, "old", ""));
        String neu = Py.str(param(args, kw, 1, "new", ""));
        Object count = param(args, kw, 2, "count", null);
        return Methods.replace(s, old, neu, count == null ? -1 : Py.toLong(count));
      }
      case "indent" -> {
        Object width = param(args, kw, 0, "width", 4L);
        String pad = width instanceof String s ? s : " ".repeat((int) Py.toLong(width));
        boolean first = Py.truthy(param(args, kw, 1, "first", false));
        boolean blank = Py.truthy(param(args, kw, 2, "blank", false));
        // jinja2 3.1 do_indent, including its "s += newline" quirk
        List<String> lines = Methods.splitlines(Py.str(v) + "\n");
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < lines.size(); i++) {
          String l = lines.get(i);
          if (i > 0) {
            b.append("\n").append(blank || !l.isEmpty() ? pad : "");
          }
          b.append(l);
        }
        return (first ? pad : "") + b;
      }
      case "safe" -> {
        return v;
      }
      case "e", "escape" -> {
        return Py.str(v)
            .replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace("\"", "&#34;")
            .replace("'", "&#39;");
      }
      case "wordcount" -> {
        return (long) Methods.split(Py.str(v), null, -1).size();
      }
      case "map" -> {
        List<Object> out = new ArrayList<>();
        Object attr = kw.get("attribute");
        for (Object o : Py.iterate(v)) {
          if (attr != null) {
            Object x = in.getAttrOrItem(o, attr);
            out.add(x instanceof Undefined && kw.containsKey("default") ? kw.get("default") : x);
          } else {
            if (args.isEmpty()) {
              throw new JinjaError("map needs a filter name or attribute=");
            }
            String f = Py.str(args.get(0));
            if (!FILTERS.contains(f)) {
              throw new JinjaError("the '" + f + "' filter is not supported");
            }
            out.add(filter(in, f, o, args.subList(1, args.size()), Map.of()));
          }
        }
        return out;
      }
      case "select", "reject" -> {
        List<Object> out = new ArrayList<>();
        for (Object o : Py.iterate(v)) {
          boolean ok =
              args.isEmpty()
                  ? Py.truthy(o)
                  : test(testName(args.get(0)), o, args.subList(1, args.size()));
          if (ok == name.equals("select")) {
            out.add(o);
          }
        }
        return out;
      }
      case "selectattr", "rejectattr" -> {
        if (args.isEmpty()) {
          throw new JinjaError(name + " needs an attribute name");
        }
        List<Object> out = new ArrayList<>();
        for (Object o : Py.iterate(v)) {
          Object x = in.getAttrOrItem(o, args.get(0));
          boolean ok =
              args.size() == 1
                  ? Py.truthy(x)
                  : test(testName(args.get(1)), x, args.subList(2, args.size()));
          if (ok == name.equals("selectattr")) {
            out.add(o);
          }
        }
        return out;
      }
      default -> throw new JinjaError("the '" + name + "' filter is not supported");
    }
  }

  /** re.split(r"([-\\s({\\[<]+)", s) without the empty items. */
  private static List<String> splitKeepingSeparators(String s) {
    List<String> out = new ArrayList<>();
    int i = 0;
    while (i < s.length()) {
      int j = i;
      boolean sep = isTitleSeparator(s.charAt(i));
      while (j < s.length() && isTitleSeparator(s.charAt(j)) == sep) {
        j++;
      }
      out.add(s.substring(i, j));
      i = j;
    }
    return out;
  }

  private static boolean isTitleSeparator(char c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || Py.isSpace(c);
  }

  private static String testName(Object o) {
    String t = Py.str(o);
    if (!TESTS.contains(t)) {
      throw new JinjaError("the '" + t + "' test is not supported");
    }
    return t;
  }

  /** namespace(...) */
  static Object namespace(List<Object> args, Map<String, Object> kw) {
    Map<String, Object> attrs = new LinkedHashMap<>();
    for (Object a : args) {
      if (!(a instanceof Map<?, ?> m)) {
        throw new JinjaError("namespace() takes a mapping, got " + Py.typeName(a));
      }
      m.forEach((k, x) -> attrs.put(Py.str(k), x));
    }
    attrs.putAll(kw);
    return new Py.Namespace(attrs);
  }

  /** range(...) */
  static Object range(List<Object> args) {
    long start = 0;
    long stop;
    long step = 1;
    if (args.size() == 1) {
      stop = Py.toLong(args.get(0));
    } else if (args.size() == 2 || args.size() == 3) {
      start = Py.toLong(args.get(0));
      stop = Py.toLong(args.get(1));
      if (args.size() == 3) {
        step = Py.toLong(args.get(2));
      }
    } else {
      throw new JinjaError("range expected 1 to 3 arguments, got " + args.size());
    }
    if (step == 0) {
      throw new JinjaError("range() arg 3 must not be zero");
    }
    List<Object> out = new ArrayList<>();
    for (long k = start; step > 0 ? k < stop : k > stop; k += step) {
      if (out.size() > 100_000) {
        throw new JinjaError("range too large");
      }
      out.add(k);
    }
    return out;
  }
}
