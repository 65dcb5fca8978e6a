package dev.prefstream.trainer.recipe;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;

/** Validators ConfigDef lacks: open and half-open intervals, nullable values, device names. */
final class Validators {
  private Validators() {}

  /**
   * A number in an interval; {@code [} / {@code ]} include a bound, {@code (} / {@code )} exclude
   * it. NaN is never valid; null only when {@code nullable}.
   */
  static ConfigDef.Validator interval(String interval, boolean nullable) {
    boolean lowClosed = interval.startsWith("[");
    boolean highClosed = interval.endsWith("]");
    String[] bounds = interval.substring(1, interval.length() - 1).split(",");
    double low = parse(bounds[0]);
    double high = parse(bounds[1]);
    return new ConfigDef.Validator() {
      @Override
      public void ensureValid(String name, Object value) {
        if (value == null) {
          if (!nullable) {
            throw new ConfigException(name, null, "a value is required");
          }
          return;
        }
        double v = ((Number) value).doubleValue();
        boolean ok =
            (lowClosed ? v >= low : v > low) && (highClosed ? v <= high : v < high) && v == v;
        if (!ok) {
          throw new ConfigException(name, value, "must be in " + this);
        }
      }

      @Override
      public String toString() {
        return interval.replace(" ", "") + (nullable ? " or unset" : "");
      }
    };
  }

  private static double parse(String bound) {
    String b = bound.trim().toLowerCase(Locale.ROOT);
    return switch (b) {
      case "inf" -> Double.POSITIVE_INFINITY;
      case "-inf" -> Double.NEGATIVE_INFINITY;
      default -> Double.parseDouble(b);
    };
  }

  /** name=value pairs for the chat template; names are identifiers, each given once. */
  static final class TemplateKwargs implements ConfigDef.Validator {
    @Override
    public void ensureValid(String name, Object value) {
      @SuppressWarnings("unchecked")
      List<String> entries = (List<String>) value;
      try {
        parse(entries);
      } catch (IllegalArgumentException e) {
        throw new ConfigException(name, String.join(",", entries), e.getMessage());
      }
    }

    static Map<String, Object> parse(List<String> entries) {
      Map<String, Object> out = new LinkedHashMap<>();
      for (String entry : entries) {
        int eq = entry.indexOf('=');
        String key = eq < 0 ? entry : entry.substring(0, eq).trim();
        if (eq < 0 || !key.matches("[A-Za-z_][A-Za-z0-9_]*")) {
          throw new IllegalArgumentException(
              "'" + entry + "' is not name=value with a template variable name");
        }
        if (out.containsKey(key)) {
          throw new IllegalArgumentException(key + " is given twice");
        }
        out.put(key, typed(entry.substring(eq + 1).trim()));
      }
      return out;
    }

    /** Python literals as a person writes them on a command line; anything else is a string. */
    private static Object typed(String v) {
      switch (v) {
        case "true", "True" -> {
          return true;
        }
        case "false", "False" -> {
          return false;
        }
        case "none", "None", "null" -> {
          return null;
        }
        default -> {
          if (v.matches("-?\\d{1,18}")) {
            return Long.parseLong(v);
          }
          if (v.matches("-?\\d+\\.\\d+([eE][-+]?\\d+)?")) {
            return Double.parseDouble(v);
          }
          return v;
        }
      }
    }

    @Override
    public String toString() {
      return "name=value,...";
    }
  }

  /** auto, cpu, gpu or gpu:N. */
  static final class Device implements ConfigDef.Validator {
    @Override
    public void ensureValid(String name, Object value) {
      if (!String.valueOf(value).matches("auto|cpu|gpu|gpu:\\d+")) {
        throw new ConfigException(name, value, "use auto, cpu, gpu or gpu:N");
      }
    }

    @Override
    public String toString() {
      return "auto, cpu, gpu, gpu:N";
    }
  }

  /** A non-empty list whose every element is one of {@code known}. */
  static final class OneOrMoreOf implements ConfigDef.Validator {
    private final List<String> known;

    OneOrMoreOf(List<String> known) {
      this.known = List.copyOf(known);
    }

    @Override
    public void ensureValid(String name, Object value) {
      @SuppressWarnings("unchecked")
      List<String> items = (List<String>) value;
      if (items == null || items.isEmpty()) {
        throw new ConfigException(name, value, "name at least one of " + known);
      }
      for (String item : items) {
        if (!known.contains(item)) {
          throw new ConfigException(name, value, "unknown '" + item + "', known: " + known);
        }
      }
    }

    @Override
    public String toString() {
      return String.join(", ", known);
    }
  }
}
