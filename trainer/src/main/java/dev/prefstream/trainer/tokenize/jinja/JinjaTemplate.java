package dev.prefstream.trainer.tokenize.jinja;

import dev.prefstream.trainer.tokenize.TemplateException;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A Jinja template in the subset Hugging Face chat templates use, parsed once and rendered with the
 * environment transformers gives {@code apply_chat_template} (jinja2 ImmutableSandboxedEnvironment,
 * trim_blocks, lstrip_blocks, loopcontrols, the generation tag; globals {@code raise_exception} and
 * {@code strftime_now}; {@code tojson} as json.dumps with ensure_ascii=False).
 *
 * <p>prefstream interprets templates itself instead of through a general Java Jinja engine so that
 * every construct it accepts has jinja2's semantics, and every construct it does not know fails
 * with a {@link TemplateException} naming it: at parse time for tags, filters and tests, at render
 * time for methods and operations. It never renders a construct approximately.
 */
public final class JinjaTemplate {

  private final List<Node> body;
  private final Supplier<ZonedDateTime> clock;

  private JinjaTemplate(List<Node> body, Supplier<ZonedDateTime> clock) {
    this.body = body;
    this.clock = clock;
  }

  /**
   * @throws TemplateException naming the line and the construct that is not valid or not supported
   */
  public static JinjaTemplate parse(String source) {
    return parse(source, ZonedDateTime::now);
  }

  /** With the clock {@code strftime_now} reads (the local time, as transformers). */
  public static JinjaTemplate parse(String source, Supplier<ZonedDateTime> clock) {
    return new JinjaTemplate(Parser.parse(source), clock);
  }

  /**
   * Renders with {@code vars} (Java maps, lists, strings, numbers, booleans and nulls).
   *
   * @throws TemplateException with the line and what failed, or the template's raise_exception
   */
  public String render(Map<String, ?> vars) {
    Map<String, Object> values = new LinkedHashMap<>();
    vars.forEach((k, v) -> values.put(k, fromJava(v)));
    return Interpreter.render(body, globals(), values);
  }

  private Map<String, Object> globals() {
    Map<String, Object> g = new LinkedHashMap<>();
    g.put(
        "raise_exception",
        (Py.Callable)
            (args, kw) -> {
              throw new JinjaError(
                  "the template raised an exception: "
                      + (args.isEmpty() ? "" : Py.str(args.get(0))));
            });
    g.put(
        "strftime_now",
        (Py.Callable)
            (args, kw) -> strftime(clock.get(), Py.str(args.isEmpty() ? "" : args.get(0))));
    g.put("namespace", (Py.Callable) Builtins::namespace);
    g.put("range", (Py.Callable) (args, kw) -> Builtins.range(args));
    g.put(
        "dict",
        (Py.Callable)
            (args, kw) -> {
              Map<Object, Object> m = new LinkedHashMap<>();
              for (Object a : args) {
                if (!(a instanceof Map<?, ?> x)) {
                  throw new JinjaError("dict() takes a mapping");
                }
                m.putAll(x);
              }
              m.putAll(kw);
              return m;
            });
    return g;
  }

  static Object fromJava(Object v) {
    if (v == null
        || v instanceof String
        || v instanceof Boolean
        || v instanceof Long
        || v instanceof Double) {
      return v;
    }
    if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
      return ((Number) v).longValue();
    }
    if (v instanceof Float f) {
      return f.doubleValue();
    }
    if (v instanceof Map<?, ?> m) {
      Map<Object, Object> out = new LinkedHashMap<>();
      m.forEach((k, x) -> out.put(fromJava(k), fromJava(x)));
      return out;
    }
    if (v instanceof List<?> l) {
      List<Object> out = new ArrayList<>();
      l.forEach(x -> out.add(fromJava(x)));
      return out;
    }
    throw new IllegalArgumentException("a template variable cannot be a " + v.getClass().getName());
  }

  /** Python's time.strftime for the directives date templates use (C locale). */
  static String strftime(ZonedDateTime t, String format) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < format.length(); i++) {
      char c = format.charAt(i);
      if (c != '%' || i + 1 >= format.length()) {
        b.append(c);
        continue;
      }
      char d = format.charAt(++i);
      switch (d) {
        case 'd' -> b.append(String.format(Locale.ROOT, "%02d", t.getDayOfMonth()));
        case 'm' -> b.append(String.format(Locale.ROOT, "%02d", t.getMonthValue()));
        case 'Y' -> b.append(t.getYear());
        case 'y' -> b.append(String.format(Locale.ROOT, "%02d", t.getYear() % 100));
        case 'b' -> b.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US));
        case 'B' -> b.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.US));
        case 'a' -> b.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US));
        case 'A' -> b.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US));
        case 'H' -> b.append(String.format(Locale.ROOT, "%02d", t.getHour()));
        case 'I' -> b.append(String.format(Locale.ROOT, "%02d", (t.getHour() + 11) % 12 + 1));
        case 'p' -> b.append(t.getHour() < 12 ? "AM" : "PM");
        case 'M' -> b.append(String.format(Locale.ROOT, "%02d", t.getMinute()));
        case 'S' -> b.append(String.format(Locale.ROOT, "%02d", t.getSecond()));
        case 'j' -> b.append(String.format(Locale.ROOT, "%03d", t.getDayOfYear()));
        case '%' -> b.append('%');
        default -> throw new JinjaError("strftime_now: the directive %" + d + " is not supported");
      }
    }
    return b.toString();
  }
}
