package dev.prefstream.schemas;

/**
 * Names of the training metrics in manifests, refusals and step reports, defined once. They are
 * TRL's names (DPOTrainer's logged metrics), so dashboards built for TRL read them unchanged.
 */
public final class MetricNames {
  private MetricNames() {}

  public static final String LOSS = "loss";
  public static final String REWARDS_CHOSEN = "rewards/chosen";
  public static final String REWARDS_REJECTED = "rewards/rejected";
  public static final String REWARD_ACCURACY = "rewards/accuracies";
  public static final String REWARD_MARGINS = "rewards/margins";
  public static final String LOGPS_CHOSEN = "logps/chosen";
  public static final String LOGPS_REJECTED = "logps/rejected";

  /** Mean per-token KL(policy || reference) on held-out responses, in nats. */
  public static final String KL = "kl";

  /** Milliseconds one optimizer step took. */
  public static final String STEP_MS = "perf/step_ms";

  private static final String EVAL_PREFIX = "eval/";

  /** The held-out evaluation's name of {@code metric}, e.g. eval/rewards/accuracies. */
  public static String eval(String metric) {
    return EVAL_PREFIX + metric;
  }
}
