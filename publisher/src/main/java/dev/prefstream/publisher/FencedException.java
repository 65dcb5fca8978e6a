package dev.prefstream.publisher;

import org.apache.kafka.common.KafkaException;

/**
 * A newer producer with the same {@code transactional.id} exists: another trainer instance owns
 * this model now. Permanent for this publisher; the process that gets it must stop training the
 * model. Kafka reports this as {@code ProducerFencedException} or, with transactions v2, as {@code
 * InvalidProducerEpochException}.
 */
public final class FencedException extends KafkaException {
  private static final long serialVersionUID = 1L;

  public FencedException(String transactionalId, Throwable cause) {
    super(
        "fenced: another producer with transactional.id '"
            + transactionalId
            + "' (a newer trainer for this model) has taken over; this one must stop",
        cause);
  }
}
