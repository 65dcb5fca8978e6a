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

  /**
   * Names of the meters the long-running commands serve at /metrics, in Micrometer's dotted form.
   * The Prometheus registry writes them with underscores, a {@code _total} suffix on counters and
   * the base unit on timers and histograms ({@code prefstream.trainer.step.duration} is scraped as
   * {@code prefstream_trainer_step_duration_seconds_count}, {@code _sum}, {@code _max}, {@code
   * _bucket}). {@link Meters#TAG_MODEL} and the other tag keys are label names.
   */
  public static final class Meters {
    private Meters() {}

    /**
     * Counter: events read by ingest, by {@link #TAG_KIND} (a feedback kind, served, unreadable).
     */
    public static final String EVENTS_IN = "prefstream.ingest.events";

    /** Counter: records sent to dead letters, by {@link #TAG_REASON} and {@link #TAG_STAGE}. */
    public static final String DEAD_LETTERS = "prefstream.dead.letters";

    /** Counter: pairs trained (in applied batches), by model. */
    public static final String PAIRS_TRAINED = "prefstream.trainer.pairs.trained";

    /** Counter: batches processed, by model and {@link #TAG_OUTCOME} (applied, skipped). */
    public static final String STEPS = "prefstream.trainer.steps";

    /** Timer: the wall time of one batch (forward, backward, optimizer), by model. */
    public static final String STEP_DURATION = "prefstream.trainer.step.duration";

    /** Gauge: the last batch's mean loss, by model. */
    public static final String LOSS = "prefstream.trainer.loss";

    /**
     * Gauge: the last batch's reward accuracy (share of pairs with chosen reward above rejected).
     */
    public static final String REWARD_ACCURACY = "prefstream.trainer.reward.accuracy";

    /** Gauge: the last batch's mean reward margin (chosen minus rejected, in beta-scaled nats). */
    public static final String REWARD_MARGIN = "prefstream.trainer.reward.margin";

    /** Gauge: held-out reward accuracy of the last candidate the gate evaluated. */
    public static final String EVAL_REWARD_ACCURACY = "prefstream.trainer.eval.reward.accuracy";

    /** Gauge: held-out mean per-token KL(policy || reference) of the last candidate, in nats. */
    public static final String KL = "prefstream.trainer.kl";

    /** Gauge: the model's latest published version. */
    public static final String VERSION = "prefstream.trainer.version";

    /** Counter: versions published, by model. */
    public static final String VERSIONS_PUBLISHED = "prefstream.trainer.versions.published";

    /** Counter: candidates refused, by model and {@link #TAG_REASON}. */
    public static final String VERSIONS_REFUSED = "prefstream.trainer.versions.refused";

    /** Timer histogram: a pair's feedback event occurred -> the version holding it committed. */
    public static final String FRESHNESS_COMMITTED = "prefstream.freshness.committed";

    /** Timer histogram: a pair's feedback event occurred -> its version on disk at a sink. */
    public static final String FRESHNESS_ON_DISK = "prefstream.freshness.on.disk";

    /** Counter: versions the sink handled, by model and {@link #TAG_OUTCOME}. */
    public static final String SINK_VERSIONS = "prefstream.sink.versions";

    /** Counter: serving-engine (vLLM) adapter load calls, by model and {@link #TAG_OUTCOME}. */
    public static final String RELOADS = "prefstream.sink.reloads";

    /** Timer: how long a serving-engine load call took, by {@link #TAG_OUTCOME}. */
    public static final String RELOAD_DURATION = "prefstream.sink.reload.duration";

    /** Gauge: 1 when the component is ready (consumers assigned, state restored), by component. */
    public static final String READY = "prefstream.ready";

    public static final String TAG_MODEL = "model";
    public static final String TAG_KIND = "kind";
    public static final String TAG_REASON = "reason";
    public static final String TAG_STAGE = "stage";
    public static final String TAG_OUTCOME = "outcome";
    public static final String TAG_COMPONENT = "component";
  }
}
