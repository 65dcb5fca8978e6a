package dev.prefstream.trainer.tokenize.jinja;

import dev.prefstream.trainer.tokenize.TemplateException;
import dev.prefstream.trainer.tokenize.jinja.Node.Expr;
import dev.prefstream.trainer.tokenize.jinja.Py.Namespace;
import dev.prefstream.trainer.tokenize.jinja.Py.Tuple;
import dev.prefstream.trainer.tokenize.jinja.Py.Undefined;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Renders a parsed template with jinja2's runtime semantics (the subset chat templates use): a for
 * loop's body is a new scope on every iteration (so {@code set} inside a loop does not leak, which
 * is why templates use {@code namespace()}), {@code if} is not a scope, attribute and item lookups
 * fall back to each other and give Undefined when both miss, and Undefined prints as "", is false
 * and iterates empty but fails when used as a value (+, attributes, items), as jinja2's default
 * Undefined does.
 */
final class Interpreter {

  /** What a template can call besides its own macros: raise_exception, strftime_now, ... */
  private final Map<String, Object> globals;

  private final StringBuilder out = new StringBuilder();
  private Scope root;
  private long steps;
  private static final long MAX_STEPS = 50_000_000L;

  private Interpreter(Map<String, Object> globals) {
    this.globals = globals;
  }

  static String render(List<Node> template, Map<String, Object> globals, Map<String, Object> vars) {
    Interpreter in = new Interpreter(globals);
    in.root = new Scope(null);
    in.root.vars.putAll(vars);
    in.exec(template, in.root);
    return in.out.toString();
  }

  static final class Scope {
    final Map<String, Object> vars = new HashMap<>();
    final Scope parent;

    Scope(Scope parent) {
      this.parent = parent;
    }

    Object lookup(String name) {
      for (Scope s = this; s != null; s = s.parent) {
        if (s.vars.containsKey(name)) {
          return s.vars.get(name);
        }
      }
      return MISSING;
    }
  }

  private static final Object MISSING = new Object();

  private static final class LoopSignal extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final boolean isBreak;

    LoopSignal(boolean isBreak) {
      super(null, null, false, false);
      this.isBreak = isBreak;
    }
  }

  private static final LoopSignal BREAK = new LoopSignal(true);
  private static final LoopSignal CONTINUE = new LoopSignal(false);

  /** jinja2's loop variable. */
  private static final class Loop {
    final List<Object> items;
    int index0;

    Loop(List<Object> items) {
      this.items = items;
    }

    Object attr(String name) {
      int n = items.size();
      return switch (name) {
        case "index" -> (long) index0 + 1;
        case "index0" -> (long) index0;
        case "revindex" -> (long) (n - index0);
        case "revindex0" -> (long) (n - index0 - 1);
        case "first" -> index0 == 0;
        case "last" -> index0 == n - 1;
        case "length" -> (long) n;
        case "depth" -> 1L;
        case "depth0" -> 0L;
        case "previtem" ->
            index0 > 0 ? items.get(index0 - 1) : new Undefined("there is no previous item");
        case "nextitem" ->
            index0 < n - 1 ? items.get(index0 + 1) : new Undefined("there is no next item");
        case "cycle" ->
            (Py.Callable)
                (args, kw) -> {
                  if (args.isEmpty()) {
                    throw new JinjaError("no items for cycling given");
                  }
                  return args.get(index0 % args.size());
                };
        case "changed" -> throw new JinjaError("loop.changed() is not supported");
        default -> new Undefined("'LoopContext' object has no attribute '" + name + "'");
      };
    }
  }

  private void tick() {
    if (++steps > MAX_STEPS) {
      throw new JinjaError("the template ran too long (" + MAX_STEPS + " steps)");
    }
  }

  private void exec(List<Node> body, Scope scope) {
    for (Node n : body) {
      exec(n, scope);
    }
  }

  private void exec(Node n, Scope scope) {
    tick();
    try {
      if (n instanceof Node.Text t) {
        out.append(t.text());
      } else if (n instanceof Node.Output o) {
        out.append(print(eval(o.expr(), scope)));
      } else if (n instanceof Node.If f) {
        exec(Py.truthy(eval(f.test(), scope)) ? f.body() : f.orElse(), scope);
      } else if (n instanceof Node.For f) {
        loop(f, scope);
      } else if (n instanceof Node.Set s) {
        assign(s, scope);
      } else if (n instanceof Node.SetBlock s) {
        int mark = out.length();
        exec(s.body(), scope);
        String captured = out.substring(mark);
        out.setLength(mark);
        scope.vars.put(s.target(), captured);
      } else if (n instanceof Node.Macro m) {
        scope.vars.put(m.name(), macro(m));
      } else if (n instanceof Node.Break) {
        throw BREAK;
      } else if (n instanceof Node.Continue) {
        throw CONTINUE;
      } else {
        throw new JinjaError("an expression is not a statement");
      }
    } catch (JinjaError e) {
      throw new TemplateException("chat template line " + n.line() + ": " + e.getMessage(), e);
    } catch (ArithmeticException e) {
      throw new TemplateException(
          "chat template line " + n.line() + ": integer overflow (beyond 64 bits)", e);
    }
  }

  private static String print(Object v) {
    if (v instanceof Py.Callable || v instanceof Namespace) {
      throw new JinjaError(
          "printing a " + Py.typeName(v) + " object (Python would print its address)");
    }
    return Py.str(v);
  }

  private void loop(Node.For f, Scope scope) {
    Object iterable = eval(f.iter(), scope);
    List<Object> items = new ArrayList<>();
    for (Object item : Py.iterate(iterable)) {
      if (f.filter() != null) {
        Scope s = new Scope(scope);
        bind(f.targets(), item, s);
        if (!Py.truthy(eval(f.filter(), s))) {
          continue;
        }
      }
      items.add(item);
    }
    // jinja2 compiles for-else with a flag cleared at the end of the body: the else block runs
    // unless some iteration ran its body to the end (a continue or break skips the clearing)
    boolean completed = false;
    Loop loop = new Loop(items);
    for (int k = 0; k < items.size(); k++) {
      loop.index0 = k;
      Scope s = new Scope(scope);
      s.vars.put("loop", loop);
      bind(f.targets(), items.get(k), s);
      try {
        exec(f.body(), s);
        completed = true;
      } catch (LoopSignal signal) {
        if (signal.isBreak) {
          break;
        }
      }
    }
    if (!completed) {
      exec(f.orElse(), scope);
    }
  }

  private static void bind(List<String> targets, Object value, Scope s) {
    if (targets.size() == 1) {
      s.vars.put(targets.get(0), value);
      return;
    }
    List<Object> parts = Py.iterate(value);
    if (parts.size() != targets.size()) {
      throw new JinjaError(
          "cannot unpack " + parts.size() + " values into " + targets.size() + " names");
    }
    for (int i = 0; i < targets.size(); i++) {
      s.vars.put(targets.get(i), parts.get(i));
    }
  }

  private void assign(Node.Set s, Scope scope) {
    Object value = eval(s.value(), scope);
    if (s.attr() != null) {
      Object target = scope.lookup(s.targets().get(0));
      if (!(target instanceof Namespace ns)) {
        throw new JinjaError(
            "cannot assign attribute on non-namespace object '" + s.targets().get(0) + "'");
      }
      ns.attrs.put(s.attr(), value);
      return;
    }
    bind(s.targets(), value, scope);
  }

  private Py.Callable macro(Node.Macro m) {
    return (args, kw) -> {
      Scope s = new Scope(root);
      int firstDefault = m.params().size() - m.defaults().size();
      if (args.size() > m.params().size()) {
        throw new JinjaError("macro '" + m.name() + "' takes " + m.params().size() + " arguments");
      }
      for (int i = 0; i < m.params().size(); i++) {
        String p = m.params().get(i);
        Object v;
        if (i < args.size()) {
          v = args.get(i);
        } else if (kw.containsKey(p)) {
          v = kw.get(p);
        } else if (i >= firstDefault) {
          v = eval(m.defaults().get(i - firstDefault), s);
        } else {
          v = new Undefined("parameter '" + p + "' was not provided");
        }
        s.vars.put(p, v);
      }
      for (String k : kw.keySet()) {
        if (!m.params().contains(k)) {
          throw new JinjaError("macro '" + m.name() + "' takes no keyword argument '" + k + "'");
        }
      }
      int mark = out.length();
      exec(m.body(), s);
      String result = out.substring(mark);
      out.setLength(mark);
      return result;
    };
  }

  // ---- expressions

  Object eval(Expr e, Scope scope) {
    tick();

    if (e instanceof Node.Literal l) {
      return l.value();

    } else if (e instanceof Node.Name n) {
      return name(n.name(), scope);

    } else if (e instanceof Node.ListExpr l) {

      List<Object> items = new ArrayList<>();
      l.items().forEach(x -> items.add(eval(x, scope)));
      return items;

    } else if (e instanceof Node.TupleExpr t) {

      List<Object> items = new ArrayList<>();
      t.items().forEach(x -> items.add(eval(x, scope)));
      return new Tuple(items);

    } else if (e instanceof Node.DictExpr d) {

      Map<Object, Object> m = new LinkedHashMap<>();
      for (int i = 0; i < d.keys().size(); i++) {
        m.put(eval(d.keys().get(i), scope), eval(d.values().get(i), scope));
      }
      return m;

    } else if (e instanceof Node.GetAttr g) {
      return getAttr(eval(g.target(), scope), g.attr(), g.target());

    } else if (e instanceof Node.GetItem g) {
      return getItem(eval(g.target(), scope), eval(g.key(), scope), g.target());

    } else if (e instanceof Node.Slice s) {

      Object target = eval(s.target(), scope);
      requireDefined(target, s.target());
      return Py.slice(
          target,
          s.start() == null ? null : eval(s.start(), scope),
          s.stop() == null ? null : eval(s.stop(), scope),
          s.step() == null ? null : eval(s.step(), scope));

    } else if (e instanceof Node.Call c) {
      return call(c, scope);

    } else if (e instanceof Node.Filter f) {

      Object target = eval(f.target(), scope);
      Map<String, Object> kw = new LinkedHashMap<>();
      for (int i = 0; i < f.kwNames().size(); i++) {
        kw.put(f.kwNames().get(i), eval(f.kwValues().get(i), scope));
      }
      List<Object> args = new ArrayList<>();
      f.args().forEach(x -> args.add(eval(x, scope)));
      if (target instanceof Undefined u
          && !List.of(
                  "default",
                  "d",
                  "length",
                  "count",
                  "trim",
                  "string",
                  "list",
                  "items",
                  "join",
                  "first",
                  "last",
                  "upper",
                  "lower",
                  "capitalize",
                  "title",
                  "replace",
                  "indent",
                  "e",
                  "escape",
                  "safe",
                  "wordcount")
              .contains(f.name())) {
        throw undefinedError(u, f.target());
      }
      return Builtins.filter(this, f.name(), target, args, kw);

    } else if (e instanceof Node.Test t) {

      Object target = eval(t.target(), scope);
      List<Object> args = new ArrayList<>();
      t.args().forEach(x -> args.add(eval(x, scope)));
      boolean r = Builtins.test(t.name(), target, args);
      return t.negated() != r;

    } else if (e instanceof Node.Unary u) {

      Object v = eval(u.operand(), scope);
      return switch (u.op()) {
        case "not" -> !Py.truthy(v);
        case "-" -> {
          requireDefined(v, u.operand());
          if (v instanceof Double d) {
            yield -d;
          }
          if (Py.isInt(v)) {
            yield -Py.toLong(v);
          }
          throw new JinjaError("bad operand type for unary -: '" + Py.typeName(v) + "'");
        }
        default -> {
          requireDefined(v, u.operand());
          if (!Py.isNumber(v)) {
            throw new JinjaError("bad operand type for unary +: '" + Py.typeName(v) + "'");
          }
          yield v instanceof Boolean ? (Object) Py.toLong(v) : v;
        }
      };

    } else if (e instanceof Node.Binary b) {

      if (b.op().equals("and")) {
        Object l = eval(b.left(), scope);
        return Py.truthy(l) ? eval(b.right(), scope) : l;
      }
      if (b.op().equals("or")) {
        Object l = eval(b.left(), scope);
        return Py.truthy(l) ? l : eval(b.right(), scope);
      }
      Object l = eval(b.left(), scope);
      Object r = eval(b.right(), scope);
      requireDefined(l, b.left());
      requireDefined(r, b.right());
      return binary(b.op(), l, r);

    } else if (e instanceof Node.Compare c) {

      Object left = eval(c.first(), scope);
      for (int i = 0; i < c.ops().size(); i++) {
        Object right = eval(c.rest().get(i), scope);
        if (!compare(c.ops().get(i), left, right)) {
          return false;
        }
        left = right;
      }
      return true;

    } else if (e instanceof Node.Concat c) {

      StringBuilder b = new StringBuilder();
      for (Expr part : c.parts()) {
        b.append(print(eval(part, scope)));
      }
      return b.toString();

    } else if (e instanceof Node.Cond c) {
      return Py.truthy(eval(c.test(), scope))
          ? eval(c.then(), scope)
          : c.orElse() == null
              ? new Undefined("the if expression was false and had no else")
              : eval(c.orElse(), scope);
    }
    throw new JinjaError("unknown expression");
  }

  private Object name(String name, Scope scope) {
    Object v = scope.lookup(name);
    if (v != MISSING) {
      return v;
    }
    if (globals.containsKey(name)) {
      return globals.get(name);
    }
    return new Undefined("'" + name + "' is undefined");
  }

  private static JinjaError undefinedError(Undefined u, Expr where) {
    return new JinjaError(u.hint());
  }

  private static void requireDefined(Object v, Expr where) {
    if (v instanceof Undefined u) {
      throw undefinedError(u, where);
    }
  }

  private static boolean compare(String op, Object l, Object r) {
    return switch (op) {
      case "==" -> Py.eq(l, r);
      case "!=" -> !Py.eq(l, r);
      case "in" -> Py.contains(r, l);
      case "not in" -> !Py.contains(r, l);
      default -> {
        requireDefined(l, null);
        requireDefined(r, null);
        int c = Py.compare(l, r, op);
        yield switch (op) {
          case "<" -> c < 0;
          case ">" -> c > 0;
          case "<=" -> c <= 0;
          default -> c >= 0;
        };
      }
    };
  }

  Object binary(String op, Object l, Object r) {
    if (Py.isNumber(l) && Py.isNumber(r)) {
      boolean ints = Py.isInt(l) && Py.isInt(r);
      switch (op) {
        case "+" -> {
          return ints
              ? (Object) Math.addExact(Py.toLong(l), Py.toLong(r))
              : Py.toDouble(l) + Py.toDouble(r);
        }
        case "-" -> {
          return ints
              ? (Object) Math.subtractExact(Py.toLong(l), Py.toLong(r))
              : Py.toDouble(l) - Py.toDouble(r);
        }
        case "*" -> {
          return ints
              ? (Object) Math.multiplyExact(Py.toLong(l), Py.toLong(r))
              : Py.toDouble(l) * Py.toDouble(r);
        }
        case "/" -> {
          if (Py.toDouble(r) == 0) {
            throw new JinjaError("division by zero");
          }
          return Py.toDouble(l) / Py.toDouble(r);
        }
        case "//" -> {
          if (Py.toDouble(r) == 0) {
            throw new JinjaError("integer division or modulo by zero");
          }
          return ints
              ? (Object) Math.floorDiv(Py.toLong(l), Py.toLong(r))
              : Math.floor(Py.toDouble(l) / Py.toDouble(r));
        }
        case "%" -> {
          if (Py.toDouble(r) == 0) {
            throw new JinjaError("integer division or modulo by zero");
          }
          if (ints) {
            return Math.floorMod(Py.toLong(l), Py.toLong(r));
          }
          double a = Py.toDouble(l);
          double b = Py.toDouble(r);
          double m = a % b;
          return (m != 0 && (m < 0) != (b < 0)) ? m + b : m;
        }
        case "**" -> {
          if (ints && Py.toLong(r) >= 0) {
            long base = Py.toLong(l);
            long result = 1;
            for (long k = 0; k < Py.toLong(r); k++) {
              result = Math.multiplyExact(result, base);
            }
            return result;
          }
          return Math.pow(Py.toDouble(l), Py.toDouble(r));
        }
        default -> throw new JinjaError("unknown operator " + op);
      }
    }
    if (op.equals("+")) {
      if (l instanceof String a && r instanceof String b) {
        return a + b;
      }
      if (l instanceof List<?> a
          && r instanceof List<?> b
          && (l instanceof Tuple) == (r instanceof Tuple)) {
        List<Object> out = new ArrayList<>(a);
        out.addAll(b);
        return l instanceof Tuple ? new Tuple(out) : out;
      }
    }
    if (op.equals("*")) {
      if (l instanceof String s && Py.isInt(r)) {
        return s.repeat((int) Math.max(0, Py.toLong(r)));
      }
      if (r instanceof String s && Py.isInt(l)) {
        return s.repeat((int) Math.max(0, Py.toLong(l)));
      }
      if (l instanceof List<?> a && Py.isInt(r)) {
        List<Object> out = new ArrayList<>();
        for (long k = 0; k < Py.toLong(r); k++) {
          out.addAll(a);
        }
        return out;
      }
    }
    if (op.equals("%") && l instanceof String) {
      throw new JinjaError("printf-style string formatting ('...' % x) is not supported");
    }
    throw new JinjaError(
        "unsupported operand type(s) for "
            + op
            + ": '"
            + Py.typeName(l)
            + "' and '"
            + Py.typeName(r)
            + "'"
            + (op.equals("+") && (l instanceof String || r instanceof String)
                ? " (can only concatenate str to str)"
                : ""));
  }

  /** jinja2's environment.getattr: the attribute (a method), else the item, else Undefined. */
  Object getAttr(Object target, String attr, Expr where) {
    if (target instanceof Undefined u) {
      throw undefinedError(u, where);
    }
    if (attr.startsWith("_")) {
      throw new JinjaError("access to attribute '" + attr + "' is unsafe (sandbox)");
    }
    if (target instanceof Loop loop) {
      return loop.attr(attr);
    }
    if (target instanceof Namespace ns) {
      return ns.attrs.containsKey(attr)
          ? ns.attrs.get(attr)
          : new Undefined("'Namespace' object has no attribute '" + attr + "'");
    }
    Py.Callable method = Methods.bind(target, attr);
    if (method != null) {
      return method;
    }
    if (target instanceof Map<?, ?> m && m.containsKey(attr)) {
      return m.get(attr);
    }
    return new Undefined("'" + describe(target) + "' has no attribute '" + attr + "'");
  }

  /** jinja2's environment.getitem: the item, else (for a string key) the attribute. */
  Object getItem(Object target, Object key, Expr where) {
    if (target instanceof Undefined u) {
      throw undefinedError(u, where);
    }
    if (target instanceof Map<?, ?> m) {
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (Py.eq(e.getKey(), key)) {
          return e.getValue();
        }
      }
    } else if (target instanceof List<?> l && Py.isInt(key)) {
      long k = Py.toLong(key);
      long idx = k < 0 ? k + l.size() : k;
      if (idx >= 0 && idx < l.size()) {
        return l.get((int) idx);
      }
    } else if (target instanceof String s && Py.isInt(key)) {
      String c = Py.charAt(s, Py.toLong(key));
      if (c != null) {
        return c;
      }
    }
    if (key instanceof String name) {
      Object viaAttr = getAttr(target, name, where);
      if (!(viaAttr instanceof Undefined)) {
        return viaAttr;
      }
    }
    return new Undefined("'" + describe(target) + "' has no attribute " + Py.repr(key));
  }

  /** For filters with attribute=: dotted paths and integer parts, as jinja2's make_attrgetter. */
  Object getAttrOrItem(Object target, Object attribute) {
    if (attribute instanceof Long) {
      return getItem(target, attribute, null);
    }
    Object v = target;
    for (String part : Py.str(attribute).split("\\.")) {
      v = part.matches("\\d+") ? getItem(v, Long.parseLong(part), null) : getItem(v, part, null);
    }
    return v;
  }

  private static String describe(Object o) {
    return switch (Py.typeName(o)) {
      case "dict" -> "dict object";
      case "list" -> "list object";
      case "str" -> "str object";
      case "NoneType" -> "None";
      default -> Py.typeName(o) + " object";
    };
  }

  private Object call(Node.Call c, Scope scope) {
    Object callee = eval(c.callee(), scope);
    List<Object> args = new ArrayList<>();
    c.args().forEach(x -> args.add(eval(x, scope)));
    Map<String, Object> kw = new LinkedHashMap<>();
    for (int i = 0; i < c.kwNames().size(); i++) {
      kw.put(c.kwNames().get(i), eval(c.kwValues().get(i), scope));
    }
    if (callee instanceof Undefined u) {
      String what =
          c.callee() instanceof Node.GetAttr g
              ? "the method '"
                  + g.attr()
                  + "' (not supported by prefstream, or not a method of this value)"
              : c.callee() instanceof Node.Name n
                  ? "'" + n.name() + "' (not a function here)"
                  : "an undefined value";
      throw new JinjaError("cannot call " + what + ": " + u.hint());
    }
    if (!(callee instanceof Py.Callable fn)) {
      throw new JinjaError("'" + Py.typeName(callee) + "' object is not callable");
    }
    return fn.call(args, kw);
  }
}
