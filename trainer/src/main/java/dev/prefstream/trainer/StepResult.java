package dev.prefstream.trainer;

import java.util.Map;

/**
 * What one {@link DpoTrainer#step} did.
 *
 * @param step the optimizer step this was (1-based); when not applied, the step it would have been
 * @param applied false when the loss or the gradient was not finite: then nothing changed
 * @param loss the batch loss (mean over pairs)
 * @param gradNorm global L2 norm of the LoRA gradients before clipping
 * @param metrics TRL-named metrics: loss, rewards/chosen, rewards/rejected, rewards/accuracies,
 *     rewards/margins, logps/chosen, logps/rejected (and kl for kto)
 */
public record StepResult(
    long step, boolean applied, double loss, double gradNorm, Map<String, Double> metrics) {}
