package dev.prefstream.trainer.tokenize.jinja;

import java.util.List;

/** The syntax tree of a template: statements and expressions, each with its source line. */
sealed interface Node {
  int line();

  // ---- statements
  record Text(int line, String text) implements Node {}

  record Output(int line, Expr expr) implements Node {}

  record If(int line, Expr test, List<Node> body, List<Node> orElse) implements Node {}

  record For(
      int line, List<String> targets, Expr iter, Expr filter, List<Node> body, List<Node> orElse)
      implements Node {}

  /** {@code set name = v}, {@code set a, b = v}, or {@code set ns.attr = v} (attr non-null). */
  record Set(int line, List<String> targets, String attr, Expr value) implements Node {}

  record SetBlock(int line, String target, List<Node> body) implements Node {}

  record Macro(int line, String name, List<String> params, List<Expr> defaults, List<Node> body)
      implements Node {}

  record Break(int line) implements Node {}

  record Continue(int line) implements Node {}

  // ---- expressions
  sealed interface Expr extends Node {}

  record Literal(int line, Object value) implements Expr {}

  record Name(int line, String name) implements Expr {}

  record ListExpr(int line, List<Expr> items) implements Expr {}

  record TupleExpr(int line, List<Expr> items) implements Expr {}

  record DictExpr(int line, List<Expr> keys, List<Expr> values) implements Expr {}

  record GetAttr(int line, Expr target, String attr) implements Expr {}

  record GetItem(int line, Expr target, Expr key) implements Expr {}

  record Slice(int line, Expr target, Expr start, Expr stop, Expr step) implements Expr {}

  record Call(int line, Expr callee, List<Expr> args, List<String> kwNames, List<Expr> kwValues)
      implements Expr {}

  record Filter(
      int line,
      Expr target,
      String name,
      List<Expr> args,
      List<String> kwNames,
      List<Expr> kwValues)
      implements Expr {}

  record Test(int line, Expr target, String name, List<Expr> args, boolean negated)
      implements Expr {}

  record Unary(int line, String op, Expr operand) implements Expr {}

  record Binary(int line, String op, Expr left, Expr right) implements Expr {}

  /** Chained comparisons: {@code a < b <= c}. */
  record Compare(int line, Expr first, List<String> ops, List<Expr> rest) implements Expr {}

  record Concat(int line, List<Expr> parts) implements Expr {}

  record Cond(int line, Expr test, Expr then, Expr orElse) implements Expr {}
}
