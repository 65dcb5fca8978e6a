package dev.prefstream.schemas.serde;

import dev.prefstream.schemas.registry.SchemaRegistry;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A Kafka {@link Serde} for one Avro type in Confluent's wire format, subjects named by topic
 * (TopicNameStrategy). Deserialization failures throw {@link WireFormatException}.
 */
public final class AvroSerde<T extends SpecificRecord> implements Serde<T> {
  private final ConfluentAvro<T> codec;
  private final boolean isKey;

  public AvroSerde(ConfluentAvro<T> codec, boolean isKey) {
    this.codec = codec;
    this.isKey = isKey;
  }

  /** A value serde that registers its schema on first write. */
  public static <T extends SpecificRecord> AvroSerde<T> forValues(
      Class<T> type, SchemaRegistry registry) {
    return new AvroSerde<>(new ConfluentAvro<>(type, registry, true), false);
  }

  public ConfluentAvro<T> codec() {
    return codec;
  }

  @Override
  public Serializer<T> serializer() {
    // the subject by topic: spares a string and its hash per record (Kafka passes the same topic)
    Map<String, String> subjects = new ConcurrentHashMap<>();
    return (topic, data) ->
        data == null
            ? null
            : codec.encode(
                subjects.computeIfAbsent(topic, t -> ConfluentAvro.subject(t, isKey)), data);
  }

  @Override
  public Deserializer<T> deserializer() {
    return (topic, bytes) -> bytes == null ? null : codec.decode(bytes);
  }
}
