package dev.prefstream.trainer.loss;

import ai.djl.ndarray.NDArray;
import dev.prefstream.trainer.model.Ops;

/**
 * The pairwise preference losses as TRL's {@code DPOTrainer.dpo_loss} (v0.2x), {@code CPOTrainer}
 * (SimPO) and {@code ORPOTrainer} compute them, one small method per loss, each per pair (B).
 * Inputs are already aggregated the way the loss wants (summed, LD-weighted, or averaged per token
 * for ipo, simpo and orpo).
 */
public final class PreferenceLoss {

  /** Per-pair log-probabilities (B); {@code chosenMean} is the chosen per-token average. */
  public record Logps(
      NDArray chosen,
      NDArray rejected,
      NDArray refChosen,
      NDArray refRejected,
      NDArray chosenMean) {}

  /** Per-pair losses and the rewards TRL reports (B each). */
  public record Result(NDArray losses, NDArray chosenRewards, NDArray rejectedRewards) {}

  private final LossConfig cfg;
  private final double beta;

  public PreferenceLoss(LossConfig cfg) {
    if (cfg.type().unpaired()) {
      throw new IllegalArgumentException(
          "loss " + cfg.type().trlName() + " is for unpaired feedback, not pairs");
    }
    this.cfg = cfg;
    this.beta = cfg.beta();
  }

  /**
   * The losses; {@code bcoDelta} is bco_pair's reward baseline (TRL updates its running mean with
   * the batch's {@link #meanReward} first, then uses it), ignored by the other losses.
   */
  public Result compute(Logps p, double bcoDelta) {
    NDArray losses =
        switch (cfg.type()) {
          case SIGMOID -> sigmoid(logits(p));
          case ROBUST -> robust(logits(p));
          case HINGE -> hinge(logits(p));
          case IPO -> ipo(logits(p));
          case BCO_PAIR -> bcoPair(p, bcoDelta);
          case APO_ZERO -> apoZero(p);
          case APO_DOWN -> apoDown(p);
          case SIMPO -> simpo(p);
          case ORPO -> orpo(p);
          default -> throw new IllegalStateException("not a pairwise loss: " + cfg.type());
        };
    if (cfg.prefFtx() > 0) {
      // LLaMA-Factory's pref_ftx: an SFT term on the chosen response, -mean log p per token.
      losses = losses.add(p.chosenMean().neg().mul(cfg.prefFtx()));
    }
    if (cfg.type().referenceFree()) {
      return new Result(losses, p.chosen().mul(beta), p.rejected().mul(beta));
    }
    return new Result(
        losses,
        p.chosen().sub(p.refChosen()).mul(beta),
        p.rejected().sub(p.refRejected()).mul(beta));
  }

  /** The mean of the chosen and rejected rewards of a batch: what bco_pair's baseline tracks. */
  public double meanReward(Logps p) {
    double chosen = p.chosen().sub(p.refChosen()).sum().getFloat();
    double rejected = p.rejected().sub(p.refRejected()).sum().getFloat();
    return beta * (chosen + rejected) / (2.0 * p.chosen().size());
  }

  /** (pi_c - pi_r) - (ref_c - ref_r). */
  private static NDArray logits(Logps p) {
    return p.chosen().sub(p.rejected()).sub(p.refChosen().sub(p.refRejected()));
  }

  /** DPO (Rafailov et al. 2023, arXiv:2305.18290) with cDPO label smoothing (Mitchell 2023). */
  private NDArray sigmoid(NDArray logits) {
    double ls = cfg.labelSmoothing();
    NDArray z = logits.mul(beta);
    return Ops.logSigmoid(z).mul(-(1 - ls)).sub(Ops.logSigmoid(z.neg()).mul(ls));
  }

  /** Robust DPO (Chowdhury et al. 2024, arXiv:2403.00409): unbiased under label noise. */
  private NDArray robust(NDArray logits) {
    double ls = cfg.labelSmoothing();
    NDArray z = logits.mul(beta);
    return Ops.logSigmoid(z).mul(-(1 - ls)).add(Ops.logSigmoid(z.neg()).mul(ls)).div(1 - 2 * ls);
  }

  /** SLiC's hinge on the normalized likelihood (Zhao et al. 2023, arXiv:2305.10425). */
  private NDArray hinge(NDArray logits) {
    return Ops.relu(logits.mul(-beta).add(1));
  }

  /** IPO (Azar et al. 2023, arXiv:2310.12036, eq. 17) on per-token averaged log-probs. */
  private NDArray ipo(NDArray logits) {
    return logits.sub(1 / (2 * beta)).square();
  }

  /** BCO pair (Jung et al. 2024, arXiv:2404.04656): rewards against a running-mean baseline. */
  private NDArray bcoPair(Logps p, double delta) {
    NDArray chosenRewards = p.chosen().sub(p.refChosen()).mul(beta);
    NDArray rejectedRewards = p.rejected().sub(p.refRejected()).mul(beta);
    return Ops.logSigmoid(chosenRewards.sub(delta))
        .neg()
        .sub(Ops.logSigmoid(rejectedRewards.sub(delta).neg()));
  }

  /** APO-zero (D'Oosterlinck et al. 2024, arXiv:2408.06266, eq. 7). */
  private NDArray apoZero(Logps p) {
    NDArray chosen = p.chosen().sub(p.refChosen()).mul(beta);
    NDArray rejected = p.rejected().sub(p.refRejected()).mul(beta);
    return Ops.sigmoid(chosen).neg().add(1).add(Ops.sigmoid(rejected));
  }

  /** APO-down (D'Oosterlinck et al. 2024, arXiv:2408.06266, eq. 8). */
  private NDArray apoDown(Logps p) {
    NDArray chosen = p.chosen().sub(p.refChosen());
    NDArray rejected = p.rejected().sub(p.refRejected());
    return Ops.sigmoid(chosen.mul(beta))
        .add(Ops.sigmoid(chosen.sub(rejected).mul(beta)).neg().add(1));
  }

  /** SimPO (Meng et al. 2024, arXiv:2405.14734): reference-free, margin gamma, averaged logps. */
  private NDArray simpo(Logps p) {
    double ls = cfg.labelSmoothing();
    NDArray z = p.chosen().sub(p.rejected()).sub(cfg.simpoGamma() / beta).mul(beta);
    return Ops.logSigmoid(z).mul(-(1 - ls)).sub(Ops.logSigmoid(z.neg()).mul(ls));
  }

  /**
   * ORPO (Hong et al. 2024, arXiv:2403.07691): NLL of the chosen response plus beta times the
   * odds-ratio loss, with log odds(y) = log p - log(1 - p) on per-token averaged log-probs.
   */
  private NDArray orpo(Logps p) {
    NDArray logOdds =
        p.chosen().sub(p.rejected()).sub(log1mExp(p.chosen()).sub(log1mExp(p.rejected())));
    return p.chosen().neg().sub(Ops.logSigmoid(logOdds).mul(beta));
  }

  /** log(1 - exp(x)) for x < 0, as torch.log1p(-torch.exp(x)). */
  private static NDArray log1mExp(NDArray x) {
    return x.exp().neg().add(1).log();
  }
}
