package dev.prefstream.ingest;

import org.apache.kafka.streams.processor.api.ProcessingContext;

/**
 * One step of the path every record of a model takes in the task that owns the model: dedup, rate
 * limit, the served join, binary pairing, pair making. The steps run in order inside one Kafka
 * Streams node ({@link PerModel}), each calling the next directly.
 *
 * <p>Why not one node each: every Kafka Streams forward builds a {@code Record}, whose constructor
 * copies the headers, and a new record context when the headers are not the very object it holds
 * (after the copy, they never are), plus the node's metrics. With the path as five nodes of a
 * dozen, that was a tenth of a stream thread.
 */
interface Step {

  /** What a step passes on: the key (the model id), the value and the record timestamp. */
  @FunctionalInterface
  interface Next {
    void accept(String key, Staged value, long timestamp);
  }

  /**
   * Called when the task starts and again whenever Kafka Streams re-initializes it (its stores
   * wiped and restored, e.g. after an aborted transaction).
   *
   * @param context the node's context: stores, time, punctuation; never to forward with
   * @param next where this step sends what it passes on
   */
  void init(ProcessingContext context, Next next);

  /** Handles one record; {@code timestamp} is the record's, not yet merged with stream time. */
  void process(String key, Staged value, long timestamp);
}
