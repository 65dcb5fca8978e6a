package dev.prefstream.schemas;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The topic catalogue: every topic prefstream reads or writes, with the settings it needs. Names
 * are {@code <prefix><suffix>}, the prefix {@code prefstream.} by default.
 */
public final class Topics {
  /** The default {@code topic.prefix}. */
  public static final String DEFAULT_PREFIX = "prefstream.";

  /**
   * The dead-letter topic's record limit: a rejected record is kept whole, with its metadata, so
   * one at the broker's default limit (1 MiB) must fit with room to spare.
   */
  public static final int DEAD_LETTER_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

  private final String prefix;
  private final long auditRetentionMs;

  public Topics(String prefix) {
    this(prefix, -1);
  }

  /**
   * @param auditRetentionMs retention.ms of the topics audits read, -1 forever ({@code
   *     topic.audit.retention.ms})
   */
  public Topics(String prefix, long auditRetentionMs) {
    this.prefix = Objects.requireNonNull(prefix, "prefix");
    if (auditRetentionMs < -1) {
      throw new IllegalArgumentException(
          "audit retention must be -1 (forever) or >= 0 ms, got " + auditRetentionMs);
    }
    this.auditRetentionMs = auditRetentionMs;
  }

  public static Topics withDefaultPrefix() {
    return new Topics(DEFAULT_PREFIX);
  }

  public String prefix() {
    return prefix;
  }

  /** Feedback events from products; key = model id, value {@code FeedbackEvent}. */
  public String feedback() {
    return prefix + "feedback";
  }

  /** Impressions: what a product showed; key = request id, value {@code ServedResponses}. */
  public String served() {
    return prefix + "served";
  }

  /** Validated preference pairs; key = model id, value {@code PreferencePair}. */
  public String pairs() {
    return prefix + "pairs";
  }

  /** Single thumbs up/down for KTO-style losses; key = model id, value {@code UnpairedFeedback}. */
  public String unpaired() {
    return prefix + "unpaired";
  }

  /** Everything rejected, with why; key = the original key, value {@code Rejection}. */
  public String deadLetters() {
    return prefix + "dead-letters";
  }

  /** Adapter versions (chunks, then manifest); key = model id, value {@code AdapterRecord}. */
  public String adapters() {
    return prefix + "adapters";
  }

  /** Trainer checkpoints (optimizer and loss state), compacted; key = model id. */
  public String trainerState() {
    return prefix + "trainer-state";
  }

  /**
   * Per-version copies of the trainer state (weights, optimizer moments, step, settings), kept for
   * audit replay; key {@code <model>/v<version>} for the state and {@code
   * <model>/v<version>/<file>/<index>} for its chunks, value {@code TrainerStateRecord}.
   */
  public String trainerSnapshots() {
    return prefix + "trainer-snapshots";
  }

  /**
   * Every topic with the configuration it is created with.
   *
   * @param partitions partitions of the data topics (feedback, served, pairs, unpaired): the unit
   *     of parallelism for ingest and trainers
   */
  public List<TopicSpec> all(int partitions) {
    // what audits read keeps topic.audit.retention.ms (forever by default)
    String audit = Long.toString(auditRetentionMs);
    Map<String, String> keepForever = Map.of("retention.ms", audit, "retention.bytes", "-1");
    Map<String, String> adapterTopic =
        Map.of(
            "cleanup.policy",
            "delete",
            "retention.ms",
            audit,
            "retention.bytes",
            "-1",
            // chunks are at most 1 MiB of data; leave room for the envelope
            "max.message.bytes",
            Integer.toString(2 * 1024 * 1024));
    return List.of(
        new TopicSpec(feedback(), partitions, keepForever),
        new TopicSpec(served(), partitions, keepForever),
        // pairs are the training record: audit replays them, so they are kept
        new TopicSpec(pairs(), partitions, keepForever),
        new TopicSpec(unpaired(), partitions, keepForever),
        new TopicSpec(
            deadLetters(),
            partitions,
            Map.of(
                "retention.ms",
                audit,
                "retention.bytes",
                "-1",
                "max.message.bytes",
                Integer.toString(DEAD_LETTER_MAX_MESSAGE_BYTES))),
        // audit needs every adapter version: never compacted, never expired
        new TopicSpec(adapters(), partitions, adapterTopic),
        new TopicSpec(
            trainerState(),
            partitions,
            Map.of(
                "cleanup.policy",
                "compact",
                "max.message.bytes",
                Integer.toString(2 * 1024 * 1024))),
        // one copy of the state per version (or every trainer.snapshot.every.versions): where
        // audit replay starts; never compacted
        new TopicSpec(trainerSnapshots(), partitions, adapterTopic));
  }

  /** A topic to create: name, partitions, topic-level configs. */
  public record TopicSpec(String name, int partitions, Map<String, String> configs) {
    public TopicSpec {
      Objects.requireNonNull(name, "name");
      if (partitions < 1) {
        throw new IllegalArgumentException(
            "topic " + name + " needs >= 1 partition, got " + partitions);
      }
      configs = Map.copyOf(configs);
    }
  }
}
