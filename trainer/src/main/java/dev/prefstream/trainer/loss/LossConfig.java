package dev.prefstream.trainer.loss;

/**
 * Which preference loss and its hyper-parameters, named as TRL's DPOConfig / CPOConfig / KTOConfig
 * and LLaMA-Factory name them. Made from a validated recipe ({@code dev.prefstream.trainer.recipe.
 * Recipe}, where each setting is declared, with its default and its rule); this class checks
 * nothing of its own.
 *
 * @param ldAlpha LD-DPO's alpha, or null when length desensitization is off
 */
public record LossConfig(
    LossType type,
    double beta,
    double labelSmoothing,
    double simpoGamma,
    Double ldAlpha,
    double prefFtx,
    double desirableWeight,
    double undesirableWeight) {}
