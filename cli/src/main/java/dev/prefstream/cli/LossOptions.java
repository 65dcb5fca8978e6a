package dev.prefstream.cli;

import dev.prefstream.trainer.loss.LossConfig;
import dev.prefstream.trainer.loss.LossType;
import picocli.CommandLine.Option;

/** The loss options shared by train and eval, mapped onto {@link LossConfig}. */
public final class LossOptions {

  @Option(
      names = "--loss",
      defaultValue = "sigmoid",
      description = "Loss: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).",
      completionCandidates = LossNames.class)
  String loss;

  @Option(names = "--beta", defaultValue = "0.1", description = "Beta (default: ${DEFAULT-VALUE}).")
  double beta;

  @Option(
      names = "--label-smoothing",
      defaultValue = "0",
      description = "cDPO/robust/simpo label smoothing.")
  double labelSmoothing;

  @Option(
      names = "--simpo-gamma",
      defaultValue = "0.5",
      description = "SimPO margin (default: ${DEFAULT-VALUE}).")
  double simpoGamma;

  @Option(names = "--ld-alpha", description = "LD-DPO weight of verbose tokens, in [0, 1].")
  Double ldAlpha;

  @Option(
      names = "--pref-ftx",
      defaultValue = "0",
      description = "Weight of the SFT term on chosen.")
  double prefFtx;

  @Option(names = "--desirable-weight", defaultValue = "1", description = "KTO desirable weight.")
  double desirableWeight;

  @Option(
      names = "--undesirable-weight",
      defaultValue = "1",
      description = "KTO undesirable weight.")
  double undesirableWeight;

  LossConfig toConfig() {
    return LossConfig.builder()
        .optType(loss)
        .optBeta(beta)
        .optLabelSmoothing(labelSmoothing)
        .optSimpoGamma(simpoGamma)
        .optLdAlpha(ldAlpha)
        .optPrefFtx(prefFtx)
        .optDesirableWeight(desirableWeight)
        .optUndesirableWeight(undesirableWeight)
        .build();
  }

  /** Completion candidates: every known loss name. */
  static final class LossNames implements Iterable<String> {
    @Override
    public java.util.Iterator<String> iterator() {
      return LossType.names().iterator();
    }
  }
}
