package dev.prefstream.trainer;

import java.util.Map;
import java.util.TreeMap;

/** TRL's metric names and definitions (means over the pairs of a batch). */
final class Metrics {

  private Metrics() {}

  static Map<String, Double> pairs(
      float[] losses,
      float[] chosenRewards,
      float[] rejectedRewards,
      float[] chosen,
      float[] rejected) {
    int n = losses.length;
    double loss = 0;
    double rc = 0;
    double rr = 0;
    double acc = 0;
    double lc = 0;
    double lr = 0;
    for (int i = 0; i < n; i++) {
      loss += losses[i];
      rc += chosenRewards[i];
      rr += rejectedRewards[i];
      acc += chosenRewards[i] > rejectedRewards[i] ? 1 : 0;
      lc += chosen[i];
      lr += rejected[i];
    }
    Map<String, Double> m = new TreeMap<>();
    m.put("loss", loss / n);
    m.put("rewards/chosen", rc / n);
    m.put("rewards/rejected", rr / n);
    m.put("rewards/accuracies", acc / n);
    m.put("rewards/margins", (rc - rr) / n);
    m.put("logps/chosen", lc / n);
    m.put("logps/rejected", lr / n);
    return m;
  }
}
