package dev.prefstream.ingest;

import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;

/**
 * The first step after the repartition topic, which carries records as they arrived ({@link
 * Sourced}): reads them again. The same bytes and rules give the same result as before the
 * repartition, unless the configuration changed in between, and then the record is judged by the
 * rules in force now.
 */
final class RestoreProcessor implements FixedKeyProcessor<String, Sourced, Staged> {
  private final RecordReader reader;
  private FixedKeyProcessorContext<String, Staged> context;

  RestoreProcessor(RecordReader reader) {
    this.reader = reader;
  }

  @Override
  public void init(FixedKeyProcessorContext<String, Staged> context) {
    this.context = context;
  }

  @Override
  public void process(FixedKeyRecord<String, Sourced> record) {
    context.forward(record.withValue(reader.read(record.value(), context.currentSystemTimeMs())));
  }
}
