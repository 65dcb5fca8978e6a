package dev.prefstream.audit;

import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * The pairs topic as audits read it: every committed record with its position, decoded where it can
 * be, attributed to a model the way the trainer attributes it (the record key, or for an unkeyed
 * record the model id in its value).
 */
public final class PairLog {
  /** A record of the pairs topic; {@code pair} is null when it could not be read. */
  public record Entry(
      String topic,
      int partition,
      long offset,
      String model,
      PreferencePair pair,
      String problem) {}

  /** A record of the unpaired topic; {@code example} is null when it could not be read. */
  public record UnpairedEntry(
      String topic, int partition, long offset, String model, UnpairedFeedback example) {}

  private final Map<String, NavigableMap<Long, Entry>> byPartition = new HashMap<>();
  private final Map<String, NavigableMap<Long, UnpairedEntry>> unpairedByPartition =
      new HashMap<>();
  private String unpairedTopic;
  private final List<Skipped> skipped = new ArrayList<>();
  private final Map<String, Long> firstOffsets = new HashMap<>();

  private PairLog() {}

  /** Reads the whole topic (read_committed) to its current end. */
  public static PairLog read(
      Map<String, Object> clientProperties, String topic, SchemaRegistry registry) {
    ConfluentAvro<PreferencePair> codec =
        new ConfluentAvro<>(PreferencePair.class, registry, false);
    PairLog log = new PairLog();
    TopicScan.readAll(
        clientProperties,
        topic,
        record -> {
          PreferencePair pair = null;
          String problem = null;
          try {
            pair = codec.decode(record.value());
          } catch (WireFormatException e) {
            problem = e.reason().code() + ": " + e.getMessage();
          } catch (RuntimeException e) {
            problem = "unreadable: " + e.getMessage();
          }
          String model =
              record.key() != null ? record.key() : pair == null ? null : pair.getModelId();
          String tp = record.topic() + "-" + record.partition();
          log.firstOffsets.merge(tp, record.offset(), Math::min);
          if (problem != null) {
            log.skipped.add(
                new Skipped(
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    "unreadable_pair",
                    problem));
          }
          log.byPartition
              .computeIfAbsent(tp, k -> new TreeMap<>())
              .put(
                  record.offset(),
                  new Entry(
                      record.topic(), record.partition(), record.offset(), model, pair, problem));
        });
    return log;
  }

  /**
   * Also reads the unpaired topic (thumbs up/down), which versions of unpaired losses (kto,
   * apo_zero_unpaired) trained alongside pairs; returns this log.
   */
  public PairLog withUnpaired(
      Map<String, Object> clientProperties, String topic, SchemaRegistry registry) {
    ConfluentAvro<UnpairedFeedback> codec =
        new ConfluentAvro<>(UnpairedFeedback.class, registry, false);
    this.unpairedTopic = topic;
    TopicScan.readAll(
        clientProperties,
        topic,
        record -> {
          UnpairedFeedback example = null;
          try {
            example = codec.decode(record.value());
          } catch (RuntimeException e) {
            // unreadable: the trainer dead-lettered it, replay leaves it out as the trainer did
          }
          String model =
              record.key() != null ? record.key() : example == null ? null : example.getModelId();
          String tp = record.topic() + "-" + record.partition();
          firstOffsets.merge(tp, record.offset(), Math::min);
          unpairedByPartition
              .computeIfAbsent(tp, k -> new TreeMap<>())
              .put(
                  record.offset(),
                  new UnpairedEntry(
                      record.topic(), record.partition(), record.offset(), model, example));
        });
    return this;
  }

  /** True when {@code topic} is the unpaired topic read by {@link #withUnpaired}. */
  public boolean isUnpaired(String topic) {
    return topic.equals(unpairedTopic);
  }

  /** The unpaired records of {@code topic}-{@code partition} in {@code [from, to)}. */
  public List<UnpairedEntry> unpairedRange(String topic, int partition, long from, long to) {
    NavigableMap<Long, UnpairedEntry> records = unpairedByPartition.get(topic + "-" + partition);
    return records == null
        ? List.of()
        : List.copyOf(records.subMap(from, true, to, false).values());
  }

  /** The records of {@code topic}-{@code partition} in {@code [from, to)}. */
  public List<Entry> range(String topic, int partition, long from, long to) {
    NavigableMap<Long, Entry> records = byPartition.get(topic + "-" + partition);
    return records == null
        ? List.of()
        : List.copyOf(records.subMap(from, true, to, false).values());
  }

  /** The first offset still held of a partition, or null when none is. */
  public Long firstOffset(String topic, int partition) {
    return firstOffsets.get(topic + "-" + partition);
  }

  /** Every readable pair matching {@code filter}, in topic order. */
  public List<Entry> find(Predicate<Entry> filter) {
    List<Entry> found = new ArrayList<>();
    for (NavigableMap<Long, Entry> records : byPartition.values()) {
      for (Entry e : records.values()) {
        if (e.pair() != null && filter.test(e)) {
          found.add(e);
        }
      }
    }
    found.sort(
        java.util.Comparator.comparing(Entry::topic)
            .thenComparingInt(Entry::partition)
            .thenComparingLong(Entry::offset));
    return found;
  }

  public List<Skipped> skipped() {
    return skipped;
  }
}
