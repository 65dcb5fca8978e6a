package dev.prefstream.publisher;

import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Decodes and checks records of the {@code adapters} topic, for every reader of it (the sink, the
 * adapter log behind {@code adapters list} and {@code adapters rollback}). A record that cannot be
 * decoded or fails {@link AdapterRecordCheck} is logged with its topic/partition/offset, counted
 * under {@code skipped.<reason>} and returned as null: it is never an exception.
 *
 * <p>A registry that cannot be reached is not the record's fault: {@link
 * dev.prefstream.schemas.registry.SchemaRegistryException} propagates so the caller can retry.
 */
public final class AdapterRecordReader {
  private static final Logger log = LoggerFactory.getLogger(AdapterRecordReader.class);

  /** Prefix of the counters of skipped records, by reason. */
  public static final String SKIPPED = "skipped.";

  private final ConfluentAvro<AdapterRecord> codec;
  private final AdapterRecordCheck check;
  private final Counters counters;

  public AdapterRecordReader(SchemaRegistry registry, AdapterRecordCheck check, Counters counters) {
    this.codec = new ConfluentAvro<>(AdapterRecord.class, registry, false);
    this.check = check;
    this.counters = counters;
  }

  /** The record, decoded and checked; null (logged, counted) if it is unusable. */
  public AdapterRecord read(ConsumerRecord<String, byte[]> record) {
    AdapterRecord decoded;
    try {
      decoded = codec.decode(record.value());
    } catch (WireFormatException e) {
      skip(record, AdapterRecordCheck.UNREADABLE, e.reason().code() + ": " + e.getMessage());
      return null;
    }
    AdapterRecordCheck.Problem problem;
    try {
      problem = check.problem(record.key(), decoded);
    } catch (RuntimeException e) {
      // a field the schema allows to be odd in a way no rule foresaw: still only a bad record
      problem = new AdapterRecordCheck.Problem(AdapterRecordCheck.UNREADABLE, e.toString());
    }
    if (problem != null) {
      skip(record, problem.reason(), problem.message());
      return null;
    }
    return decoded;
  }

  private void skip(ConsumerRecord<String, byte[]> record, String reason, String message) {
    counters.increment(SKIPPED + reason);
    log.warn(
        "skipping {}-{}@{} ({}): {}",
        record.topic(),
        record.partition(),
        record.offset(),
        reason,
        AdapterRecordCheck.shown(message));
  }

  public Counters counters() {
    return counters;
  }
}
