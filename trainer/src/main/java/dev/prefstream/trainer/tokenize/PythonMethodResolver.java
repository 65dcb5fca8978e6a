package dev.prefstream.trainer.tokenize;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's str and dict methods that chat templates call ({@code content.strip()}, {@code
 * startswith}, {@code split}, {@code items()}, ...), with Python's semantics: literal (not regex)
 * split, Unicode whitespace as str.isspace() sees it.
 */
final class PythonMethodResolver extends ELResolver {

  @Override
  public Object invoke(
      ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
    if (method == null) {
      return null;
    }
    Object[] args = params == null ? new Object[0] : params;
    Object result;
    if (base instanceof String s) {
      result = stringMethod(s, method.toString(), args);
    } else if (base instanceof Map<?, ?> m) {
      result = mapMethod(m, method.toString(), args);
    } else {
      return null;
    }
    if (result == NONE) {
      return null;
    }
    context.setPropertyResolved(true);
    return result;
  }

  private static final Object NONE = new Object();

  private static Object stringMethod(String s, String name, Object[] a) {
    return switch (name) {
      case "strip" -> strip(s, chars(a), true, true);
      case "lstrip" -> strip(s, chars(a), true, false);
      case "rstrip" -> strip(s, chars(a), false, true);
      case "startswith" -> s.startsWith(String.valueOf(a[0]));
      case "endswith" -> s.endsWith(String.valueOf(a[0]));
      case "upper" -> s.toUpperCase(Locale.ROOT);
      case "lower" -> s.toLowerCase(Locale.ROOT);
      case "split" -> split(s, a.length == 0 || a[0] == null ? null : String.valueOf(a[0]));
      case "replace" -> s.replace(String.valueOf(a[0]), String.valueOf(a[1]));
      case "find" -> (long) s.indexOf(String.valueOf(a[0]));
      case "count" -> count(s, String.valueOf(a[0]));
      default -> NONE;
    };
  }

  private static Object mapMethod(Map<?, ?> m, String name, Object[] a) {
    return switch (name) {
      case "items" -> {
        List<List<Object>> out = new ArrayList<>();
        m.forEach((k, v) -> out.add(List.of(k, v == null ? "" : v)));
        yield out;
      }
      case "keys" -> new ArrayList<>(m.keySet());
      case "values" -> new ArrayList<>(m.values());
      case "get" -> m.containsKey(a[0]) ? m.get(a[0]) : (a.length > 1 ? a[1] : null);
      default -> NONE;
    };
  }

  private static String chars(Object[] a) {
    return a.length == 0 || a[0] == null ? null : String.valueOf(a[0]);
  }

  /** Python's str.isspace() for one code point. */
  static boolean isSpace(int c) {
    return Character.isWhitespace(c)
        || Character.isSpaceChar(c)
        || c == 0x85
        || (c >= 0x1c && c <= 0x1f);
  }

  private static String strip(String s, String chars, boolean left, boolean right) {
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

  private static List<String> split(String s, String sep) {
    List<String> out = new ArrayList<>();
    if (sep == null) {
      int i = 0;
      while (i < s.length()) {
        while (i < s.length() && isSpace(s.charAt(i))) {
          i++;
        }
        int j = i;
        while (j < s.length() && !isSpace(s.charAt(j))) {
          j++;
        }
        if (j > i) {
          out.add(s.substring(i, j));
        }
        i = j;
      }
      return out;
    }
    if (sep.isEmpty()) {
      throw new IllegalArgumentException("empty separator");
    }
    int from = 0;
    for (int at; (at = s.indexOf(sep, from)) >= 0; from = at + sep.length()) {
      out.add(s.substring(from, at));
    }
    out.add(s.substring(from));
    return out;
  }

  private static long count(String s, String sub) {
    if (sub.isEmpty()) {
      return s.length() + 1L;
    }
    long n = 0;
    for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) {
      n++;
    }
    return n;
  }

  @Override
  public Object getValue(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public Class<?> getType(ELContext context, Object base, Object property) {
    return null;
  }

  @Override
  public void setValue(ELContext context, Object base, Object property, Object value) {}

  @Override
  public boolean isReadOnly(ELContext context, Object base, Object property) {
    return true;
  }

  @Override
  public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
    return null;
  }

  @Override
  public Class<?> getCommonPropertyType(ELContext context, Object base) {
    return null;
  }
}
