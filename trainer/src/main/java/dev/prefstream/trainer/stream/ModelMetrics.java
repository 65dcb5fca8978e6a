package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.MetricNames;
import java.lang.management.ManagementFactory;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.JMException;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Per-model counters, registered as {@code dev.prefstream:type=Trainer,model=<id>}. */
final class ModelMetrics implements ModelMetricsMBean, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ModelMetrics.class);

  final AtomicLong steps = new AtomicLong();
  final AtomicLong skippedBatches = new AtomicLong();
  final AtomicLong pairsTrained = new AtomicLong();
  final AtomicLong heldOutPairs = new AtomicLong();
  final AtomicLong versionsPublished = new AtomicLong();
  final AtomicLong versionsRefused = new AtomicLong();
  final AtomicLong currentVersion = new AtomicLong();
  private volatile double lastLoss = Double.NaN;
  private volatile double lastRewardAccuracy = Double.NaN;
  private final ObjectName name;

  ModelMetrics(String modelId) {
    ObjectName registered = null;
    try {
      MBeanServer server = ManagementFactory.getPlatformMBeanServer();
      ObjectName candidate =
          new ObjectName("dev.prefstream:type=Trainer,model=" + ObjectName.quote(modelId));
      if (server.isRegistered(candidate)) {
        server.unregisterMBean(candidate);
      }
      server.registerMBean(this, candidate);
      registered = candidate;
    } catch (JMException e) {
      log.warn("{}: metrics not registered with JMX: {}", modelId, e.toString());
    }
    this.name = registered;
  }

  void stepped(boolean applied, int pairs, Map<String, Double> metrics) {
    if (applied) {
      steps.incrementAndGet();
      pairsTrained.addAndGet(pairs);
      lastLoss = metrics.getOrDefault(MetricNames.LOSS, Double.NaN);
      lastRewardAccuracy = metrics.getOrDefault(MetricNames.REWARD_ACCURACY, Double.NaN);
    } else {
      skippedBatches.incrementAndGet();
    }
  }

  @Override
  public long getSteps() {
    return steps.get();
  }

  @Override
  public long getSkippedBatches() {
    return skippedBatches.get();
  }

  @Override
  public long getPairsTrained() {
    return pairsTrained.get();
  }

  @Override
  public long getHeldOutPairs() {
    return heldOutPairs.get();
  }

  @Override
  public long getVersionsPublished() {
    return versionsPublished.get();
  }

  @Override
  public long getVersionsRefused() {
    return versionsRefused.get();
  }

  @Override
  public long getCurrentVersion() {
    return currentVersion.get();
  }

  @Override
  public double getLastLoss() {
    return lastLoss;
  }

  @Override
  public double getLastRewardAccuracy() {
    return lastRewardAccuracy;
  }

  @Override
  public void close() {
    if (name != null) {
      try {
        ManagementFactory.getPlatformMBeanServer().unregisterMBean(name);
      } catch (JMException e) {
        log.debug("unregistering {}: {}", name, e.toString());
      }
    }
  }
}
