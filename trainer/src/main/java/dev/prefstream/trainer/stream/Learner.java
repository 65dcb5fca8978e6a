package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The math side of the streaming trainer for one model id: it takes optimizer steps on batches of
 * pairs, and its complete state can be saved and restored bit for bit.
 */
public interface Learner extends AutoCloseable {

  /**
   * Why {@code pair} cannot be trained by this learner (it cannot be tokenized for the base model),
   * or empty when it can. Checked as pairs arrive, so one bad pair never fails a whole batch.
   */
  Optional<String> problemWith(PreferencePair pair);

  /** One optimizer step on {@code batch}; nothing changes when the result is not applied. */
  StepReport step(List<PreferencePair> batch);

  /**
   * Scores {@code pairs} without changing anything: {@code eval/rewards/accuracies}, {@code
   * eval/loss}, {@code eval/kl} (mean per-token KL(policy || reference) over response positions, in
   * nats) and the other TRL-named metrics, prefixed {@code eval/}.
   */
  Map<String, Double> evaluate(List<PreferencePair> pairs);

  /**
   * Why {@code example} (a thumbs up or down from the {@code unpaired} topic) cannot be trained, or
   * empty when it can. A learner of a pair loss takes no unpaired feedback at all.
   */
  default Optional<String> problemWith(UnpairedFeedback example) {
    return Optional.of("this learner's loss trains on pairs, not on unpaired feedback");
  }

  /**
   * One optimizer step on a batch of pairs and unpaired examples. A learner of an unpaired loss
   * (kto, apo_zero_unpaired) splits each pair into a desirable and an undesirable example; a pair
   * loss takes pairs only.
   */
  default StepReport step(List<PreferencePair> pairs, List<UnpairedFeedback> unpaired) {
    if (!unpaired.isEmpty()) {
      throw new IllegalStateException(
          "this learner's loss trains on pairs; got " + unpaired.size() + " unpaired examples");
    }
    return step(pairs);
  }

  /** As {@link #evaluate(List)}, with unpaired examples (unpaired losses only). */
  default Map<String, Double> evaluate(
      List<PreferencePair> pairs, List<UnpairedFeedback> unpaired) {
    if (!unpaired.isEmpty()) {
      throw new IllegalStateException(
          "this learner's loss trains on pairs; got " + unpaired.size() + " unpaired examples");
    }
    return evaluate(pairs);
  }

  /** The adapter as it stands: its PEFT files' contents, and whether every weight is finite. */
  Snapshot adapter();

  /** Everything needed to continue exactly here: adapter weights, optimizer moments, loss state. */
  Map<String, byte[]> stateFiles();

  /** Continues from files written by {@link #stateFiles()}. */
  void restore(Map<String, byte[]> stateFiles);

  @Override
  void close();

  /**
   * The result of one step.
   *
   * @param applied false when the loss or a gradient was not finite: the update was skipped
   * @param metrics TRL-named metrics of the batch (loss, rewards/accuracies, ...)
   */
  record StepReport(boolean applied, Map<String, Double> metrics) {}

  /**
   * An adapter's PEFT files.
   *
   * @param configJson adapter_config.json
   * @param safetensors adapter_model.safetensors
   * @param finite true when every weight is a finite number
   */
  record Snapshot(String configJson, byte[] safetensors, boolean finite) {}

  /** Makes learners over one shared base model. */
  interface Factory extends AutoCloseable {
    Learner create(String modelId);

    /** base_model_name_or_path of the adapters. */
    String baseModelName();

    /** Hex sha-256 of the base model's weights. */
    String baseModelSha256();

    @Override
    void close();
  }
}
