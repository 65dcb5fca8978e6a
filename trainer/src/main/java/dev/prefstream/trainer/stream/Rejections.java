package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.Rejection;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** The trainer's dead letters: a pairs record kept whole, with where it was and why. */
final class Rejections {
  private Rejections() {}

  /**
   * @param modelId the model the record belongs to, or null when it names none that is valid (the
   *     dead letter is then unkeyed)
   */
  static Rejection of(
      ConsumerRecord<String, byte[]> record,
      String reason,
      String message,
      String modelId,
      String eventId) {
    return Rejection.newBuilder()
        .setReason(reason)
        .setMessage(message)
        .setEventId(eventId)
        .setSourceTopic(record.topic())
        .setSourcePartition(record.partition())
        .setSourceOffset(record.offset())
        .setOriginalKey(
            record.key() == null
                ? null
                : ByteBuffer.wrap(record.key().getBytes(StandardCharsets.UTF_8)))
        .setOriginalValue(record.value() == null ? null : ByteBuffer.wrap(record.value()))
        .setModelId(modelId)
        .setRejectedAt(Instant.now())
        .setStage("trainer")
        .build();
  }
}
