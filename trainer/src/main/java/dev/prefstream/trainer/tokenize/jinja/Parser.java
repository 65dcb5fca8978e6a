package dev.prefstream.trainer.tokenize.jinja;

import dev.prefstream.trainer.tokenize.TemplateException;
import dev.prefstream.trainer.tokenize.jinja.Lexer.Kind;
import dev.prefstream.trainer.tokenize.jinja.Lexer.Token;
import dev.prefstream.trainer.tokenize.jinja.Node.Expr;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Parses the Jinja subset that chat templates use, with jinja2's grammar and operator precedence
 * ({@code jinja2/parser.py}: condexpr, or, and, not, compare, + -, ~, * / // %, **, unary, then
 * postfix, filters and tests). A tag, filter or test outside the subset is refused here, at load,
 * naming it and its line.
 */
final class Parser {

  private static final Set<String> COMPARE_OPS = Set.of("==", "!=", "<", ">", "<=", ">=");

  private final List<Token> tokens;
  private int i;

  private Parser(List<Token> tokens) {
    this.tokens = tokens;
  }

  static List<Node> parse(String source) {
    Parser p = new Parser(Lexer.tokenize(source));
    List<Node> body = p.body(Set.of());
    if (p.i < p.tokens.size()) {
      Token t = p.peek();
      throw p.error(t, "unexpected {% " + p.tokens.get(p.i + 1).text() + " %}");
    }
    return body;
  }

  private Token peek() {
    return tokens.get(i);
  }

  private Token peek(int ahead) {
    return i + ahead < tokens.size() ? tokens.get(i + ahead) : null;
  }

  private Token next() {
    if (i >= tokens.size()) {
      Token last = tokens.isEmpty() ? null : tokens.get(tokens.size() - 1);
      throw new TemplateException(
          "chat template line "
              + (last == null ? 1 : last.line())
              + ": unexpected end of template");
    }
    return tokens.get(i++);
  }

  static TemplateException error(Token at, String message) {
    return new TemplateException("chat template line " + at.line() + ": " + message);
  }

  private Token expectOp(String op) {
    Token t = next();
    if (!t.isOp(op)) {
      throw error(t, "expected '" + op + "', got " + describe(t));
    }
    return t;
  }

  private void expectEnd() {
    Token t = next();
    if (t.kind() != Kind.END) {
      throw error(t, "expected the end of the tag, got " + describe(t));
    }
  }

  private String expectName() {
    Token t = next();
    if (t.kind() != Kind.NAME) {
      throw error(t, "expected a name, got " + describe(t));
    }
    return t.text();
  }

  private static String describe(Token t) {
    return switch (t.kind()) {
      case END -> "the end of the tag";
      case STRING -> "a string";
      case TEXT -> "text";
      default -> "'" + t.text() + "'";
    };
  }

  /** Statements until a block tag whose keyword is in {@code enders} (left unconsumed). */
  private List<Node> body(Set<String> enders) {
    List<Node> out = new ArrayList<>();
    while (i < tokens.size()) {
      Token t = next();
      switch (t.kind()) {
        case TEXT -> out.add(new Node.Text(t.line(), t.text()));
        case VAR_BEGIN -> {
          Expr e = expression();
          expectEnd();
          out.add(new Node.Output(t.line(), e));
        }
        case BLOCK_BEGIN -> {
          Token kw = peek();
          if (kw.kind() == Kind.NAME && enders.contains(kw.text())) {
            i--; // leave BLOCK_BEGIN for the caller
            return out;
          }
          Node n = statement();
          if (n != null) {
            out.add(n);
          }
        }
        default -> throw error(t, "unexpected " + describe(t));
      }
    }
    if (!enders.isEmpty()) {
      throw new TemplateException(
          "chat template: missing {% " + String.join(" %} or {% ", enders) + " %} at its end");
    }
    return out;
  }

  /** After body(enders) returned: consumes BLOCK_BEGIN and the ender keyword, returns it. */
  private String ender() {
    next(); // BLOCK_BEGIN
    return next().text();
  }

  private Node statement() {
    Token kw = next();
    if (kw.kind() != Kind.NAME) {
      throw error(kw, "expected a tag name, got " + describe(kw));
    }
    int line = kw.line();
    switch (kw.text()) {
      case "if" -> {
        return ifStatement(line);
      }
      case "for" -> {
        return forStatement(line);
      }
      case "set" -> {
        return setStatement(line);
      }
      case "macro" -> {
        return macro(line);
      }
      case "break" -> {
        expectEnd();
        return new Node.Break(line);
      }
      case "continue" -> {
        expectEnd();
        return new Node.Continue(line);
      }
      case "generation" -> {
        // transformers' AssistantTracker extension: marks assistant text, renders its body as is
        expectEnd();
        List<Node> body = body(Set.of("endgeneration"));
        ender();
        expectEnd();
        return new Node.If(line, new Node.Literal(line, true), body, List.of());
      }
      case "endif", "endfor", "endset", "endmacro", "endgeneration", "elif", "else" ->
          throw error(kw, "{% " + kw.text() + " %} without an open block it could close");
      default ->
          throw error(
              kw,
              "the {% "
                  + kw.text()
                  + " %} tag is not supported by prefstream's chat template renderer"
                  + " (supported: if, for, set, macro, break, continue, raw, generation)");
    }
  }

  private Node ifStatement(int line) {
    Expr test = expression();
    expectEnd();
    List<Node> body = body(Set.of("elif", "else", "endif"));
    String end = ender();
    List<Node> orElse = List.of();
    if (end.equals("elif")) {
      orElse = List.of(ifStatement(peek().line()));
      return new Node.If(line, test, body, orElse);
    }
    if (end.equals("else")) {
      expectEnd();
      orElse = body(Set.of("endif"));
      ender();
    }
    expectEnd();
    return new Node.If(line, test, body, orElse);
  }

  private Node forStatement(int line) {
    List<String> targets = new ArrayList<>();
    boolean paren = peek().isOp("(");
    if (paren) {
      next();
    }
    targets.add(expectName());
    while (peek().isOp(",")) {
      next();
      targets.add(expectName());
    }
    if (paren) {
      expectOp(")");
    }
    Token in = next();
    if (!in.isName("in")) {
      throw error(in, "expected 'in' in {% for %}, got " + describe(in));
    }
    Expr iter = noCondExpression();
    Expr filter = null;
    if (peek().isName("if")) {
      next();
      filter = expression();
    }
    if (peek().isName("recursive")) {
      throw error(peek(), "recursive {% for %} loops are not supported");
    }
    expectEnd();
    List<Node> body = body(Set.of("else", "endfor"));
    List<Node> orElse = List.of();
    if (ender().equals("else")) {
      expectEnd();
      orElse = body(Set.of("endfor"));
      ender();
    }
    expectEnd();
    return new Node.For(line, targets, iter, filter, body, orElse);
  }

  private Node setStatement(int line) {
    String first = expectName();
    if (peek().isOp(".")) {
      next();
      String attr = expectName();
      expectOp("=");
      Expr value = expression();
      expectEnd();
      return new Node.Set(line, List.of(first), attr, value);
    }
    List<String> targets = new ArrayList<>(List.of(first));
    while (peek().isOp(",")) {
      next();
      targets.add(expectName());
    }
    if (peek().kind() == Kind.END && targets.size() == 1) {
      expectEnd();
      List<Node> body = body(Set.of("endset"));
      ender();
      expectEnd();
      return new Node.SetBlock(line, first, body);
    }
    if (peek().isOp("|")) {
      throw error(peek(), "filtered {% set x | filter %} blocks are not supported");
    }
    expectOp("=");
    Expr value = tupleOrExpression();
    expectEnd();
    return new Node.Set(line, targets, null, value);
  }

  private Node macro(int line) {
    String name = expectName();
    expectOp("(");
    List<String> params = new ArrayList<>();
    List<Expr> defaults = new ArrayList<>();
    while (!peek().isOp(")")) {
      if (!params.isEmpty()) {
        expectOp(",");
      }
      params.add(expectName());
      if (peek().isOp("=")) {
        next();
        defaults.add(expression());
      } else {
        if (!defaults.isEmpty()) {
          throw error(peek(), "macro parameter without a default after one with a default");
        }
      }
    }
    next();
    expectEnd();
    List<Node> body = body(Set.of("endmacro"));
    ender();
    expectEnd();
    return new Node.Macro(line, name, params, defaults, body);
  }

  // ---- expressions

  /** {@code a, b} without parentheses is a tuple (the right side of set). */
  private Expr tupleOrExpression() {
    int line = peek().line();
    Expr first = expression();
    if (!peek().isOp(",")) {
      return first;
    }
    List<Expr> items = new ArrayList<>(List.of(first));
    while (peek().isOp(",")) {
      next();
      if (peek().kind() == Kind.END) {
        break;
      }
      items.add(expression());
    }
    return new Node.TupleExpr(line, items);
  }

  Expr expression() {
    Expr e = or();
    while (peek().isName("if")) {
      int line = next().line();
      Expr test = or();
      Expr orElse = null;
      if (peek().isName("else")) {
        next();
        orElse = expression();
      }
      e = new Node.Cond(line, test, e, orElse);
    }
    return e;
  }

  private Expr noCondExpression() {
    return or();
  }

  private Expr or() {
    Expr left = and();
    while (peek().isName("or")) {
      int line = next().line();
      left = new Node.Binary(line, "or", left, and());
    }
    return left;
  }

  private Expr and() {
    Expr left = not();
    while (peek().isName("and")) {
      int line = next().line();
      left = new Node.Binary(line, "and", left, not());
    }
    return left;
  }

  private Expr not() {
    if (peek().isName("not")) {
      int line = next().line();
      return new Node.Unary(line, "not", not());
    }
    return compare();
  }

  private Expr compare() {
    int line = peek().line();
    Expr first = math1();
    List<String> ops = new ArrayList<>();
    List<Expr> rest = new ArrayList<>();
    while (true) {
      Token t = peek();
      if (t.kind() == Kind.OP && COMPARE_OPS.contains(t.text())) {
        next();
        ops.add(t.text());
      } else if (t.isName("in")) {
        next();
        ops.add("in");
      } else if (t.isName("not") && peek(1) != null && peek(1).isName("in")) {
        next();
        next();
        ops.add("not in");
      } else {
        break;
      }
      rest.add(math1());
    }
    return ops.isEmpty() ? first : new Node.Compare(line, first, ops, rest);
  }

  private Expr math1() {
    Expr left = concat();
    while (peek().isOp("+") || peek().isOp("-")) {
      Token op = next();
      left = new Node.Binary(op.line(), op.text(), left, concat());
    }
    return left;
  }

  private Expr concat() {
    int line = peek().line();
    List<Expr> parts = new ArrayList<>(List.of(math2()));
    while (peek().isOp("~")) {
      next();
      parts.add(math2());
    }
    return parts.size() == 1 ? parts.get(0) : new Node.Concat(line, parts);
  }

  private Expr math2() {
    Expr left = pow();
    while (peek().isOp("*") || peek().isOp("/") || peek().isOp("//") || peek().isOp("%")) {
      Token op = next();
      left = new Node.Binary(op.line(), op.text(), left, pow());
    }
    return left;
  }

  private Expr pow() {
    Expr left = unary(true);
    while (peek().isOp("**")) {
      Token op = next();
      left = new Node.Binary(op.line(), "**", left, unary(true));
    }
    return left;
  }

  private Expr unary(boolean withFilter) {
    Token t = peek();
    Expr node;
    if (t.isOp("-") || t.isOp("+")) {
      next();
      node = new Node.Unary(t.line(), t.text(), unary(false));
    } else {
      node = postfix(primary());
    }
    return withFilter ? filterExpr(node) : node;
  }

  private Expr primary() {
    Token t = next();
    switch (t.kind()) {
      case NAME -> {
        return switch (t.text()) {
          case "true", "True" -> new Node.Literal(t.line(), true);
          case "false", "False" -> new Node.Literal(t.line(), false);
          case "none", "None" -> new Node.Literal(t.line(), null);
          default -> new Node.Name(t.line(), t.text());
        };
      }
      case STRING -> {
        StringBuilder s = new StringBuilder(t.text());
        while (peek().kind() == Kind.STRING) {
          s.append(next().text()); // adjacent literals concatenate
        }
        return new Node.Literal(t.line(), s.toString());
      }
      case INT, FLOAT -> {
        return new Node.Literal(t.line(), t.value());
      }
      case OP -> {
        switch (t.text()) {
          case "(" -> {
            if (peek().isOp(")")) {
              next();
              return new Node.TupleExpr(t.line(), List.of());
            }
            Expr e = expression();
            if (peek().isOp(",")) {
              List<Expr> items = new ArrayList<>(List.of(e));
              while (peek().isOp(",")) {
                next();
                if (peek().isOp(")")) {
                  break;
                }
                items.add(expression());
              }
              expectOp(")");
              return new Node.TupleExpr(t.line(), items);
            }
            expectOp(")");
            return e;
          }
          case "[" -> {
            List<Expr> items = new ArrayList<>();
            while (!peek().isOp("]")) {
              if (!items.isEmpty()) {
                expectOp(",");
                if (peek().isOp("]")) {
                  break;
                }
              }
              items.add(expression());
            }
            next();
            return new Node.ListExpr(t.line(), items);
          }
          case "{" -> {
            List<Expr> keys = new ArrayList<>();
            List<Expr> values = new ArrayList<>();
            while (!peek().isOp("}")) {
              if (!keys.isEmpty()) {
                expectOp(",");
                if (peek().isOp("}")) {
                  break;
                }
              }
              keys.add(expression());
              expectOp(":");
              values.add(expression());
            }
            next();
            return new Node.DictExpr(t.line(), keys, values);
          }
          default -> throw error(t, "unexpected '" + t.text() + "'");
        }
      }
      default -> throw error(t, "unexpected " + describe(t));
    }
  }

  private Expr postfix(Expr node) {
    while (true) {
      Token t = peek();
      if (t.isOp(".")) {
        next();
        Token a = next();
        if (a.kind() == Kind.NAME) {
          node = new Node.GetAttr(t.line(), node, a.text());
        } else if (a.kind() == Kind.INT) {
          node = new Node.GetItem(t.line(), node, new Node.Literal(a.line(), a.value()));
        } else {
          throw error(a, "expected an attribute name after '.', got " + describe(a));
        }
      } else if (t.isOp("[")) {
        next();
        node = subscript(node, t.line());
      } else if (t.isOp("(")) {
        node = call(node);
      } else {
        return node;
      }
    }
  }

  private Expr subscript(Expr target, int line) {
    Expr[] parts = new Expr[3];
    int part = 0;
    boolean slice = false;
    while (!peek().isOp("]")) {
      if (peek().isOp(":")) {
        next();
        slice = true;
        part++;
        if (part > 2) {
          throw error(peek(), "a slice has at most two ':'");
        }
        continue;
      }
      if (parts[part] != null) {
        throw error(peek(), "tuple subscripts are not supported");
      }
      parts[part] = expression();
    }
    next();
    if (!slice) {
      if (parts[0] == null) {
        throw error(peek(), "empty subscript []");
      }
      return new Node.GetItem(line, target, parts[0]);
    }
    return new Node.Slice(line, target, parts[0], parts[1], parts[2]);
  }

  private record Args(List<Expr> args, List<String> kwNames, List<Expr> kwValues) {}

  private Args args() {
    expectOp("(");
    List<Expr> args = new ArrayList<>();
    List<String> kwNames = new ArrayList<>();
    List<Expr> kwValues = new ArrayList<>();
    while (!peek().isOp(")")) {
      if (!args.isEmpty() || !kwNames.isEmpty()) {
        expectOp(",");
        if (peek().isOp(")")) {
          break;
        }
      }
      if (peek().isOp("*") || peek().isOp("**")) {
        throw error(peek(), "*args and **kwargs in calls are not supported");
      }
      if (peek().kind() == Kind.NAME && peek(1) != null && peek(1).isOp("=")) {
        kwNames.add(next().text());
        next();
        kwValues.add(expression());
      } else {
        if (!kwNames.isEmpty()) {
          throw error(peek(), "a positional argument after a keyword argument");
        }
        args.add(expression());
      }
    }
    next();
    return new Args(args, kwNames, kwValues);
  }

  private Expr call(Expr callee) {
    int line = peek().line();
    Args a = args();
    return new Node.Call(line, callee, a.args(), a.kwNames(), a.kwValues());
  }

  private Expr filterExpr(Expr node) {
    while (true) {
      Token t = peek();
      if (t.isOp("|")) {
        next();
        String name = expectName();
        while (peek().isOp(".")) { // dotted filter names
          next();
          name = name + "." + expectName();
        }
        Builtins.requireFilter(name, t);
        Args a = peek().isOp("(") ? args() : new Args(List.of(), List.of(), List.of());
        node = new Node.Filter(t.line(), node, name, a.args(), a.kwNames(), a.kwValues());
      } else if (t.isName("is")) {
        next();
        boolean negated = false;
        if (peek().isName("not")) {
          next();
          negated = true;
        }
        Token nameToken = next();
        if (nameToken.kind() != Kind.NAME) {
          throw error(nameToken, "expected a test name after 'is', got " + describe(nameToken));
        }
        String name = nameToken.text();
        Builtins.requireTest(name, nameToken);
        List<Expr> args = new ArrayList<>();
        Token p = peek();
        if (p.isOp("(")) {
          Args a = args();
          if (!a.kwNames().isEmpty()) {
            throw error(p, "keyword arguments to tests are not supported");
          }
          args.addAll(a.args());
        } else if ((p.kind() == Kind.NAME
                && !Set.of("else", "or", "and", "if", "not", "in", "is").contains(p.text()))
            || p.kind() == Kind.STRING
            || p.kind() == Kind.INT
            || p.kind() == Kind.FLOAT
            || p.isOp("[")
            || p.isOp("{")) {
          args.add(postfix(primary()));
        }
        node = new Node.Test(t.line(), node, name, args, negated);
      } else if (t.isOp("(")) {
        node = call(node);
      } else {
        return node;
      }
    }
  }
}
