package dev.prefstream.trainer;

import dev.prefstream.schemas.MetricNames;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** TRL's metric names and definitions (means over the pairs or examples of a batch). */
final class Metrics {

  private Metrics() {}

  static Map<String, Double> pairs(
      float[] losses,
      float[] chosenRewards,
      float[] rejectedRewards,
      float[] chosen,
      float[] rejected) {
    int n = losses.length;
    double acc = 0;
    for (int i = 0; i < n; i++) {
      acc += chosenRewards[i] > rejectedRewards[i] ? 1 : 0;
    }
    Map<String, Double> m = new TreeMap<>();
    m.put(MetricNames.LOSS, mean(losses));
    m.put(MetricNames.REWARDS_CHOSEN, mean(chosenRewards));
    m.put(MetricNames.REWARDS_REJECTED, mean(rejectedRewards));
    m.put(MetricNames.REWARD_ACCURACY, acc / n);
    m.put(MetricNames.REWARD_MARGINS, mean(chosenRewards) - mean(rejectedRewards));
    m.put(MetricNames.LOGPS_CHOSEN, mean(chosen));
    m.put(MetricNames.LOGPS_REJECTED, mean(rejected));
    return m;
  }

  /** KTO metrics: kl, loss, and rewards/logps means over desirable (chosen) and undesirable. */
  static Map<String, Double> unpaired(
      float[] losses, float[] rewards, float[] logps, float[] desirable, double kl) {
    double[] sum = new double[4];
    int good = 0;
    for (int i = 0; i < losses.length; i++) {
      boolean d = desirable[i] > 0.5f;
      good += d ? 1 : 0;
      sum[d ? 0 : 1] += rewards[i];
      sum[d ? 2 : 3] += logps[i];
    }
    int bad = losses.length - good;
    Map<String, Double> m = new TreeMap<>();
    m.put(MetricNames.LOSS, mean(losses));
    m.put(MetricNames.KL, kl);
    m.put("count/chosen", (double) good);
    m.put("count/rejected", (double) bad);
    if (good > 0) {
      m.put(MetricNames.REWARDS_CHOSEN, sum[0] / good);
      m.put(MetricNames.LOGPS_CHOSEN, sum[2] / good);
    }
    if (bad > 0) {
      m.put(MetricNames.REWARDS_REJECTED, sum[1] / bad);
      m.put(MetricNames.LOGPS_REJECTED, sum[3] / bad);
    }
    return m;
  }

  static double mean(float[] v) {
    double s = 0;
    for (float x : v) {
      s += x;
    }
    return s / v.length;
  }

  /** Concatenates column {@code k} of chunks stored as consecutive groups of {@code stride}. */
  static float[] concat(List<float[]> columns, int k, int stride) {
    int n = 0;
    for (int i = k; i < columns.size(); i += stride) {
      n += columns.get(i).length;
    }
    float[] all = new float[n];
    int at = 0;
    for (int i = k; i < columns.size(); i += stride) {
      System.arraycopy(columns.get(i), 0, all, at, columns.get(i).length);
      at += columns.get(i).length;
    }
    return all;
  }
}
