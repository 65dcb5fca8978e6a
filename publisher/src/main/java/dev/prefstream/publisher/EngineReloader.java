package dev.prefstream.publisher;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells serving engines about each new version, off the sink's thread: loads it (as {@code
 * <model>@v<N>}, or in place under {@code <model>}), and after the grace period unloads the name it
 * replaced. Each call is retried with exponential backoff while the failure is retriable. Each
 * engine's last outcome is logged and kept ({@link #status()}); outcomes are counted as {@code
 * engine.<label>.<load|unload>.<ok|failed>}.
 */
public final class EngineReloader implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(EngineReloader.class);

  /** Counter name prefix. */
  public static final String ENGINE = "engine.";

  private final List<EngineClient> engines;
  private final boolean inPlace;
  private final int maxAttempts;
  private final long backoffMs;
  private final long unloadGraceMs;
  private final Counters counters;
  private final Listener listener;
  private final ScheduledExecutorService executor;

  /** engine label -> model -> the name loaded for it. */
  private final Map<String, Map<String, String>> loaded = new ConcurrentHashMap<>();

  private final Map<String, String> status = new ConcurrentHashMap<>();

  /** Told of every finished load (for measurements and tests). */
  @FunctionalInterface
  public interface Listener {
    void loaded(EngineClient engine, String modelId, long version, String name, boolean ok);
  }

  public EngineReloader(
      List<EngineClient> engines,
      boolean inPlace,
      int maxAttempts,
      long backoffMs,
      long unloadGraceMs,
      Counters counters,
      Listener listener) {
    this.engines = List.copyOf(engines);
    this.inPlace = inPlace;
    this.maxAttempts = maxAttempts;
    this.backoffMs = backoffMs;
    this.unloadGraceMs = unloadGraceMs;
    this.counters = counters;
    this.listener = listener;
    this.executor =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "sink-engines");
              t.setDaemon(true);
              return t;
            });
    engines.forEach(e -> status.put(e.label(), "no version loaded yet"));
  }

  /** The engines of {@code config}. */
  public static EngineReloader of(SinkConfig config, Counters counters, Listener listener) {
    List<EngineClient> engines = new ArrayList<>();
    config.vllmUrls().forEach(u -> engines.add(new EngineClient(EngineClient.Kind.VLLM, u)));
    config.sglangUrls().forEach(u -> engines.add(new EngineClient(EngineClient.Kind.SGLANG, u)));
    return new EngineReloader(
        engines,
        config.reloadInPlace(),
        config.engineMaxAttempts(),
        config.engineBackoffMs(),
        config.pruneGraceMs(),
        counters,
        listener);
  }

  public boolean isEmpty() {
    return engines.isEmpty();
  }

  /** The name a version is loaded under. */
  public String nameOf(String modelId, long version) {
    return inPlace ? modelId : modelId + "@v" + version;
  }

  /** Schedules loading {@code version} (whose directory is {@code dir}) into every engine. */
  public void versionReady(String modelId, long version, Path dir) {
    for (EngineClient engine : engines) {
      executor.execute(() -> load(engine, modelId, version, dir, 1));
    }
  }

  private void load(EngineClient engine, String modelId, long version, Path dir, int attempt) {
    String name = nameOf(modelId, version);
    if (inPlace && engine.kind() == EngineClient.Kind.SGLANG && attempt == 1) {
      engine.unload(name); // SGLang has no in-place flag: a missing name is fine here
    }
    EngineClient.Reply reply = engine.load(name, dir, inPlace);
    if (reply.ok() || reply.alreadyLoaded()) {
      counters.increment(ENGINE + engine.label() + ".load.ok");
      report(engine, "loaded " + name + " from " + dir + " (attempt " + attempt + ")", false);
      listener.loaded(engine, modelId, version, name, true);
      String replaced =
          loaded.computeIfAbsent(engine.label(), k -> new ConcurrentHashMap<>()).put(modelId, name);
      if (replaced != null && !replaced.equals(name)) {
        executor.schedule(() -> unload(engine, replaced, 1), unloadGraceMs, TimeUnit.MILLISECONDS);
      }
      return;
    }
    if (reply.retriable() && attempt < maxAttempts) {
      long wait = backoffMs << Math.min(attempt - 1, 16);
      report(
          engine,
          "loading " + name + " failed (" + describe(reply) + "), retry in " + wait + " ms",
          true);
      executor.schedule(
          () -> load(engine, modelId, version, dir, attempt + 1), wait, TimeUnit.MILLISECONDS);
      return;
    }
    counters.increment(ENGINE + engine.label() + ".load.failed");
    report(
        engine,
        "FAILED to load " + name + " after " + attempt + " attempt(s): " + describe(reply),
        true);
    listener.loaded(engine, modelId, version, name, false);
  }

  private void unload(EngineClient engine, String name, int attempt) {
    EngineClient.Reply reply = engine.unload(name);
    if (reply.ok() || reply.notFound()) {
      counters.increment(ENGINE + engine.label() + ".unload.ok");
      log.info("{}: unloaded {}", engine.label(), name);
      return;
    }
    if (reply.retriable() && attempt < maxAttempts) {
      executor.schedule(
          () -> unload(engine, name, attempt + 1),
          backoffMs << Math.min(attempt - 1, 16),
          TimeUnit.MILLISECONDS);
      return;
    }
    counters.increment(ENGINE + engine.label() + ".unload.failed");
    report(engine, "FAILED to unload " + name + ": " + describe(reply), true);
  }

  private void report(EngineClient engine, String what, boolean problem) {
    status.put(engine.label(), what);
    if (problem) {
      log.warn("{}: {}", engine.label(), what);
    } else {
      log.info("{}: {}", engine.label(), what);
    }
  }

  private static String describe(EngineClient.Reply reply) {
    String body = reply.body() == null ? "" : reply.body();
    if (body.length() > 300) {
      body = body.substring(0, 300) + "...";
    }
    return (reply.status() < 0 ? "unreachable" : "HTTP " + reply.status()) + " " + body;
  }

  /** Each engine's last outcome, by label. */
  public Map<String, String> status() {
    return Map.copyOf(status);
  }

  @Override
  public void close() {
    executor.shutdownNow();
  }
}
