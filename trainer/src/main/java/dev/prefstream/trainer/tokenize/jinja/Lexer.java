package dev.prefstream.trainer.tokenize.jinja;

import dev.prefstream.trainer.tokenize.TemplateException;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into text and tags the way transformers' jinja2 environment does (jinja2 3.1
 * lexer, {@code trim_blocks=True}, {@code lstrip_blocks=True}, {@code
 * keep_trailing_newline=False}): {@code -} on a tag strips all whitespace on that side, {@code +}
 * turns lstrip/trim off for that side, a block or comment tag eats the one newline after it, and
 * spaces/tabs before a block or comment tag that starts its line are dropped. Newlines are
 * normalized to {@code \n} and one trailing newline of the template is dropped, as jinja2 does.
 */
final class Lexer {

  enum Kind {
    TEXT,
    VAR_BEGIN,
    BLOCK_BEGIN,
    END,
    NAME,
    STRING,
    INT,
    FLOAT,
    OP
  }

  record Token(Kind kind, String text, Object value, int line) {
    boolean is(Kind k, String t) {
      return kind == k && text.equals(t);
    }

    boolean isOp(String t) {
      return kind == Kind.OP && text.equals(t);
    }

    boolean isName(String t) {
      return kind == Kind.NAME && text.equals(t);
    }
  }

  private static final String[] OPS = {
    "//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]",
    "{", "}", ",", ".", ":", "|", "=", ";"
  };

  private final String src;
  private final List<Token> out = new ArrayList<>();
  private int pos;
  private int line = 1;

  private Lexer(String source) {
    String s = source.replace("\r\n", "\n").replace('\r', '\n');
    if (s.endsWith("\n")) {
      s = s.substring(0, s.length() - 1);
    }
    this.src = s;
  }

  static List<Token> tokenize(String source) {
    Lexer l = new Lexer(source);
    l.run();
    return l.out;
  }

  private TemplateException error(String message) {
    return new TemplateException("chat template line " + line + ": " + message);
  }

  private void run() {
    boolean stripNext = false; // the previous tag ended with '-'
    boolean lineStarting = true; // the previous match ended with a newline (or template start)
    while (pos <= src.length()) {
      int tag = nextTag(pos);
      String text = src.substring(pos, tag < 0 ? src.length() : tag);
      if (stripNext) {
        int i = 0;
        while (i < text.length() && Py.isSpace(text.charAt(i))) {
          i++;
        }
        line += count(text.substring(0, i));
        text = text.substring(i);
        pos += i;
        lineStarting = i > 0 && src.charAt(pos - 1) == '\n' || lineStarting && i == 0;
      }
      if (tag < 0) {
        emitText(text);
        return;
      }
      char kind = src.charAt(tag + 1);
      char sign = tag + 2 < src.length() ? src.charAt(tag + 2) : 0;
      if (sign == '-') {
        text = Py.rstrip(text);
      } else if (sign != '+' && kind != '{') {
        int lpos = text.lastIndexOf('\n') + 1;
        if ((lpos > 0 || lineStarting) && isBlank(text, lpos)) {
          text = text.substring(0, lpos);
        }
      }
      emitText(text);
      line += count(src.substring(pos, tag));
      pos = tag + 2 + (sign == '-' || sign == '+' ? 1 : 0);
      if (kind == '#') {
        int end = src.indexOf("#}", pos);
        if (end < 0) {
          throw error("comment {# without #}");
        }
        boolean minus = src.charAt(end - 1) == '-';
        boolean plus = src.charAt(end - 1) == '+';
        line += count(src.substring(pos, end));
        pos = end + 2;
        stripNext = minus;
        lineStarting = false;
        if (!minus && !plus && pos < src.length() && src.charAt(pos) == '\n') {
          pos++;
          line++;
          lineStarting = true;
        }
        continue;
      }
      if (kind == '%' && isRaw()) {
        continue;
      }
      out.add(new Token(kind == '{' ? Kind.VAR_BEGIN : Kind.BLOCK_BEGIN, "", null, line));
      char endSign = scanTag(kind == '{' ? "}}" : "%}");
      stripNext = endSign == '-';
      lineStarting = false;
      if (kind == '%' && endSign == 0 && pos < src.length() && src.charAt(pos) == '\n') {
        pos++;
        line++;
        lineStarting = true;
      }
    }
  }

  private static int count(String s) {
    int n = 0;
    for (int i = 0; i < s.length(); i++) {
      if (s.charAt(i) == '\n') {
        n++;
      }
    }
    return n;
  }

  private static boolean isBlank(String s, int from) {
    for (int i = from; i < s.length(); i++) {
      if (!Py.isSpace(s.charAt(i))) {
        return false;
      }
    }
    return true;
  }

  private int nextTag(int from) {
    for (int i = src.indexOf('{', from);
        i >= 0 && i + 1 < src.length();
        i = src.indexOf('{', i + 1)) {
      char c = src.charAt(i + 1);
      if (c == '{' || c == '%' || c == '#') {
        return i;
      }
    }
    return -1;
  }

  private void emitText(String text) {
    if (!text.isEmpty()) {
      out.add(new Token(Kind.TEXT, text, text, line));
    }
  }

  /** {@code {% raw %}...{% endraw %}}: the body is text, verbatim. */
  private boolean isRaw() {
    int p = pos;
    while (p < src.length() && Py.isSpace(src.charAt(p))) {
      p++;
    }
    if (!src.startsWith("raw", p)) {
      return false;
    }
    p += 3;
    while (p < src.length() && Py.isSpace(src.charAt(p))) {
      p++;
    }
    boolean minus = src.startsWith("-%}", p);
    if (!minus && !src.startsWith("%}", p) && !src.startsWith("+%}", p)) {
      return false;
    }
    p += minus || src.startsWith("+%}", p) ? 3 : 2;
    int end = src.indexOf("endraw", p);
    int open = end < 0 ? -1 : src.lastIndexOf("{%", end);
    if (end < 0 || open < p) {
      throw error("{% raw %} without {% endraw %}");
    }
    String body = src.substring(p, open);
    if (minus) {
      body = Py.lstrip(body);
    }
    if (src.startsWith("{%-", open)) {
      body = Py.rstrip(body);
    }
    emitText(body);
    int close = src.indexOf("%}", end);
    if (close < 0) {
      throw error("{% endraw without %}");
    }
    boolean endMinus = src.charAt(close - 1) == '-';
    line += count(src.substring(pos, close));
    pos = close + 2;
    if (endMinus) {
      while (pos < src.length() && Py.isSpace(src.charAt(pos))) {
        line += src.charAt(pos) == '\n' ? 1 : 0;
        pos++;
      }
    } else if (src.charAt(close - 1) != '+' && pos < src.length() && src.charAt(pos) == '\n') {
      pos++;
      line++;
    }
    return true;
  }

  /** Tokens of one tag up to its end; returns the end's sign ('-', '+' or 0). */
  private char scanTag(String end) {
    while (true) {
      while (pos < src.length() && Py.isSpace(src.charAt(pos))) {
        if (src.charAt(pos) == '\n') {
          line++;
        }
        pos++;
      }
      if (pos >= src.length()) {
        throw error("tag not closed with " + end);
      }
      for (char sign : new char[] {'-', '+'}) {
        if (src.charAt(pos) == sign && src.startsWith(end, pos + 1)) {
          if (sign == '+' && end.equals("}}")) {
            throw error("'+}}' is not valid jinja");
          }
          pos += 3;
          out.add(new Token(Kind.END, end, null, line));
          return sign;
        }
      }
      if (src.startsWith(end, pos)) {
        pos += 2;
        out.add(new Token(Kind.END, end, null, line));
        return 0;
      }
      char c = src.charAt(pos);
      if (Character.isLetter(c) || c == '_') {
        int s = pos;
        while (pos < src.length()
            && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
          pos++;
        }
        String name = src.substring(s, pos);
        out.add(new Token(Kind.NAME, name, name, line));
      } else if (Character.isDigit(c)) {
        number();
      } else if (c == '\'' || c == '"') {
        string(c);
      } else {
        String op = null;
        for (String o : OPS) {
          if (src.startsWith(o, pos)) {
            op = o;
            break;
          }
        }
        if (op == null) {
          throw error("unexpected character '" + c + "' in a tag");
        }
        pos += op.length();
        out.add(new Token(Kind.OP, op, null, line));
      }
    }
  }

  private void number() {
    int s = pos;
    while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
      pos++;
    }
    boolean isFloat = false;
    if (pos + 1 < src.length()
        && src.charAt(pos) == '.'
        && Character.isDigit(src.charAt(pos + 1))) {
      isFloat = true;
      pos++;
      while (pos < src.length() && (Character.isDigit(src.charAt(pos)) || src.charAt(pos) == '_')) {
        pos++;
      }
    }
    if (pos < src.length() && (src.charAt(pos) == 'e' || src.charAt(pos) == 'E')) {
      int e = pos + 1;
      if (e < src.length() && (src.charAt(e) == '+' || src.charAt(e) == '-')) {
        e++;
      }
      if (e < src.length() && Character.isDigit(src.charAt(e))) {
        isFloat = true;
        pos = e;
        while (pos < src.length() && Character.isDigit(src.charAt(pos))) {
          pos++;
        }
      }
    }
    String text = src.substring(s, pos).replace("_", "");
    if (isFloat) {
      out.add(new Token(Kind.FLOAT, text, Double.parseDouble(text), line));
    } else {
      try {
        out.add(new Token(Kind.INT, text, Long.parseLong(text), line));
      } catch (NumberFormatException e) {
        throw error("integer literal " + text + " is beyond 64 bits (unsupported)");
      }
    }
  }

  /** A string literal, unescaped as Python's unicode-escape codec does (jinja2's lexer). */
  private void string(char quote) {
    int startLine = line;
    StringBuilder b = new StringBuilder();
    pos++;
    while (true) {
      if (pos >= src.length()) {
        throw error("string literal not closed");
      }
      char c = src.charAt(pos);
      if (c == quote) {
        pos++;
        break;
      }
      if (c == '\n') {
        line++;
      }
      if (c != '\\') {
        b.append(c);
        pos++;
        continue;
      }
      if (pos + 1 >= src.length()) {
        throw error("string literal not closed");
      }
      char e = src.charAt(pos + 1);
      pos += 2;
      switch (e) {
        case '\n' -> line++; // line continuation
        case '\\' -> b.append('\\');
        case '\'' -> b.append('\'');
        case '"' -> b.append('"');
        case 'n' -> b.append('\n');
        case 't' -> b.append('\t');
        case 'r' -> b.append('\r');
        case 'a' -> b.append('\u0007');
        case 'b' -> b.append('\b');
        case 'f' -> b.append('\f');
        case 'v' -> b.append('\u000b');
        case 'x' -> b.appendCodePoint(hex(2));
        case 'u' -> b.appendCodePoint(hex(4));
        case 'U' -> b.appendCodePoint(hex(8));
        case 'N' -> throw error("\\N{...} escapes in string literals are not supported");
        default -> {
          if (e >= '0' && e <= '7') {
            int v = e - '0';
            for (int k = 0;
                k < 2 && pos < src.length() && src.charAt(pos) >= '0' && src.charAt(pos) <= '7';
                k++) {
              v = v * 8 + (src.charAt(pos++) - '0');
            }
            b.appendCodePoint(v);
          } else {
            b.append('\\').append(e); // Python keeps unknown escapes
          }
        }
      }
    }
    String s = b.toString();
    out.add(new Token(Kind.STRING, s, s, startLine));
  }

  private int hex(int digits) {
    if (pos + digits > src.length()) {
      throw error("truncated \\x/\\u escape");
    }
    try {
      int v = Integer.parseInt(src.substring(pos, pos + digits), 16);
      pos += digits;
      return v;
    } catch (NumberFormatException e) {
      throw error("bad \\x/\\u escape " + src.substring(pos, pos + digits));
    }
  }
}
