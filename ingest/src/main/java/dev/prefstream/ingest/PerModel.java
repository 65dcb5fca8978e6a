package dev.prefstream.ingest;

import java.util.List;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * One Kafka Streams node for a model's whole path in the task that owns it: runs the {@link Step}s
 * in order, each calling the next, and sends each outcome to its child: a pair and unpaired
 * feedback as the Avro records their sinks write, a rejection to the dead-letter node. Outcomes
 * keep the headers of the record they came from; what a step sends from a punctuation (a choice
 * whose impression never came) has none.
 */
final class PerModel implements Processor<String, Staged, String, Object> {
  private final List<Step> steps;
  private final String pairsChild;
  private final String unpairedChild;
  private final String rejectedChild;
  private ProcessorContext<String, Object> context;
  private Step.Next first;

  /** The headers of the record being processed; null between records (punctuations). */
  private Headers headers;

  /**
   * @param steps the steps, in order
   * @param pairsChild the child that receives {@code PreferencePair}s
   * @param unpairedChild the child that receives {@code UnpairedFeedback}
   * @param rejectedChild the child that receives {@link Staged.Rejected} records
   */
  PerModel(List<Step> steps, String pairsChild, String unpairedChild, String rejectedChild) {
    this.steps = List.copyOf(steps);
    this.pairsChild = pairsChild;
    this.unpairedChild = unpairedChild;
    this.rejectedChild = rejectedChild;
  }

  @Override
  public void init(ProcessorContext<String, Object> context) {
    this.context = context;
    Step.Next next = this::send;
    for (int i = steps.size() - 1; i >= 0; i--) {
      Step step = steps.get(i);
      step.init(context, next);
      next = step::process;
    }
    first = next;
  }

  @Override
  public void process(Record<String, Staged> record) {
    headers = record.headers();
    try {
      first.accept(record.key(), record.value(), record.timestamp());
    } finally {
      headers = null;
    }
  }

  private void send(String key, Staged outcome, long timestamp) {
    if (outcome instanceof Staged.Pair pair) {
      context.forward(new Record<>(key, pair.pair(), timestamp, headers), pairsChild);
    } else if (outcome instanceof Staged.Unpaired unpaired) {
      context.forward(new Record<>(key, unpaired.feedback(), timestamp, headers), unpairedChild);
    } else if (outcome instanceof Staged.Rejected) {
      context.forward(new Record<>(key, outcome, timestamp, headers), rejectedChild);
    } else {
      throw new IllegalStateException(
          outcome.getClass().getSimpleName() + " was left after the last step, not an outcome");
    }
  }
}
