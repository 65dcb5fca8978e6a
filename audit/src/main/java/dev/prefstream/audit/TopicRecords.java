package dev.prefstream.audit;

import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Reads a whole topic (read_committed), decoding each value and going past what cannot be read. */
final class TopicRecords {
  private TopicRecords() {}

  /** What a decoded record is, with where it came from. */
  interface Visitor<T> {
    void accept(ConsumerRecord<String, byte[]> record, T value);
  }

  static <T extends SpecificRecord> void scan(
      Map<String, Object> clientProperties,
      String topic,
      ConfluentAvro<T> codec,
      List<Skipped> skipped,
      Visitor<T> each) {
    TopicScan.readAll(
        clientProperties,
        topic,
        record -> {
          T value;
          try {
            value = codec.decode(record.value());
          } catch (WireFormatException e) {
            skipped.add(
                new Skipped(
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    e.reason().code(),
                    e.getMessage()));
            return;
          } catch (RuntimeException e) {
            skipped.add(
                new Skipped(
                    record.topic(),
                    record.partition(),
                    record.offset(),
                    "unreadable",
                    String.valueOf(e.getMessage())));
            return;
          }
          each.accept(record, value);
        });
  }
}
