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
      losses = losses.add(Ops.mul(p.chosenMean().neg(), cfg.prefFtx()));
    }
    if (cfg.type().referenceFree()) {
      return new Result(losses, Ops.mul(p.chosen(), beta), Ops.mul(p.rejected(), beta));
    }
    return new Result(
        losses,
        Ops.mul(p.chosen().sub(p.refChosen()), beta),
        Ops.mul(p.rejected().sub(p.refRejected()), beta));
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
    NDArray z = Ops.mul(logits, beta);
    return Ops.mul(Ops.logSigmoid(z), -(1 - ls)).sub(Ops.mul(Ops.logSigmoid(z.neg()), ls));
  }

  /** Robust DPO (Chowdhury et al. 2024, arXiv:2403.00409): unbiased under label noise. */
  private NDArray robust(NDArray logits) {
    double ls = cfg.labelSmoothing();
    NDArray z = Ops.mul(logits, beta);
    return Ops.div(
        Ops.mul(Ops.logSigmoid(z), -(1 - ls)).add(Ops.mul(Ops.logSigmoid(z.neg()), ls)),
        1 - 2 * ls);
  }

  /** SLiC's hinge on the normalized likelihood (Zhao et al. 2023, arXiv:2305.10425). */
  private NDArray hinge(NDArray logits) {
    return Ops.relu(Ops.add(Ops.mul(logits, -beta), 1));
  }

  /** IPO (Azar et al. 2023, arXiv:2310.12036, eq. 17) on per-token averaged log-probs. */
  private NDArray ipo(NDArray logits) {
    return Ops.sub(logits, 1 / (2 * beta)).square();
  }

  /** BCO pair (Jung et al. 2024, arXiv:2404.04656): rewards against a running-mean baseline. */
  private NDArray bcoPair(Logps p, double delta) {
    NDArray chosenRewards = Ops.mul(p.chosen().sub(p.refChosen()), beta);
    NDArray rejectedRewards = Ops.mul(p.rejected().sub(p.refRejected()), beta);
    return Ops.logSigmoid(Ops.sub(chosenRewards, delta))
        .neg()
        .sub(Ops.logSigmoid(Ops.sub(rejectedRewards, delta).neg()));
  }

  /** APO-zero (D'Oosterlinck et al. 2024, arXiv:2408.06266, eq. 7). */
  private NDArray apoZero(Logps p) {
    NDArray chosen = Ops.mul(p.chosen().sub(p.refChosen()), beta);
    NDArray rejected = Ops.mul(p.rejected().sub(p.refRejected()), beta);
    return Ops.add(Ops.sigmoid(chosen).neg(), 1).add(Ops.sigmoid(rejected));
  }

  /** APO-down (D'Oosterlinck et al. 2024, arXiv:2408.06266, eq. 8). */
  private NDArray apoDown(Logps p) {
    NDArray chosen = p.chosen().sub(p.refChosen());
    NDArray rejected = p.rejected().sub(p.refRejected());
    return Ops.sigmoid(Ops.mul(chosen, beta))
        .add(Ops.add(Ops.sigmoid(Ops.mul(chosen.sub(rejected), beta)).neg(), 1));
  }

  /** SimPO (Meng et al. 2024, arXiv:2405.14734): reference-free, margin gamma, averaged logps. */
  private NDArray simpo(Logps p) {
    double ls = cfg.labelSmoothing();
    NDArray z = Ops.mul(Ops.sub(p.chosen().sub(p.rejected()), cfg.simpoGamma() / beta), beta);
    return Ops.mul(Ops.logSigmoid(z), -(1 - ls)).sub(Ops.mul(Ops.logSigmoid(z.neg()), ls));
  }

  /**
   * ORPO (Hong et al. 2024, arXiv:2403.07691): NLL of the chosen response plus beta times the
   * odds-ratio loss, with log odds(y) = log p - log(1 - p) on per-token averaged log-probs.
   */
  private NDArray orpo(Logps p) {
    NDArray logOdds =
        p.chosen().sub(p.rejected()).sub(log1mExp(p.chosen()).sub(log1mExp(p.rejected())));
    return p.chosen().neg().sub(Ops.mul(Ops.logSigmoid(logOdds), beta));
  }

  /** log(1 - exp(x)) for x < 0, as torch.log1p(-torch.exp(x)). */
  private static NDArray log1mExp(NDArray x) {
    return Ops.add(x.exp().neg(), 1).log();
  }
}
