package dev.prefstream.trainer.stream;

/** What JMX (and any Prometheus JMX exporter) sees of one model's training. */
public interface ModelMetricsMBean {
  long getSteps();

  long getSkippedBatches();

  long getPairsTrained();

  long getHeldOutPairs();

  long getVersionsPublished();

  long getVersionsRefused();

  long getCurrentVersion();

  double getLastLoss();

  double getLastRewardAccuracy();
}
