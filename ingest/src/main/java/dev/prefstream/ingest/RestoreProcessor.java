package dev.prefstream.ingest;

import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * The first step after the repartition topic, which carries records as they arrived ({@link
 * Sourced}): reads them again. The same bytes and rules give the same result as before the
 * repartition, unless the configuration changed in between, and then the record is judged by the
 * rules in force now.
 */
final class RestoreProcessor implements Processor<String, Sourced, String, Staged> {
  private final RecordReader reader;
  private ProcessorContext<String, Staged> context;

  RestoreProcessor(RecordReader reader) {
    this.reader = reader;
  }

  @Override
  public void init(ProcessorContext<String, Staged> context) {
    this.context = context;
  }

  @Override
  public void process(Record<String, Sourced> record) {
    context.forward(record.withValue(reader.read(record.value(), context.currentSystemTimeMs())));
  }
}
