package dev.prefstream.ingest;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.ServedResponses;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.registry.SchemaRegistryException;
import dev.prefstream.schemas.serde.BoundedDecoder;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;

/**
 * Turns raw input bytes into a valid, normalized record or a rejection. Every way bytes can fail to
 * be a record becomes a reason code; only a registry that cannot be reached (or refuses our
 * credentials) is thrown, so that the transaction aborts and the record is retried rather than
 * dead-lettered for a fault that is not its own.
 */
final class RecordReader {
  private static final Set<String> KNOWN_KINDS =
      Arrays.stream(FeedbackKind.values()).map(Enum::name).collect(Collectors.toUnmodifiableSet());

  private final SchemaRegistry registry;
  private final ConfluentAvro<FeedbackEvent> feedbackCodec;
  private final ConfluentAvro<ServedResponses> servedCodec;
  private final FeedbackRules rules;

  /** Per writer schema id: a reader for writers that know feedback kinds we do not. */
  private final Map<Integer, Optional<GenericDatumReader<GenericRecord>>> newerKinds =
      new ConcurrentHashMap<>();

  RecordReader(SchemaRegistry registry, FeedbackRules rules) {
    this.registry = registry;
    this.feedbackCodec = new ConfluentAvro<>(FeedbackEvent.class, registry, false);
    this.servedCodec = new ConfluentAvro<>(ServedResponses.class, registry, false);
    this.rules = rules;
  }

  /** Reads {@code source}; {@code nowMs} stamps a rejection. */
  Staged read(Sourced source, long nowMs) {
    byte[] value = source.value();
    if (value != null && value.length >= ConfluentAvro.HEADER_BYTES && value[0] == 0) {
      int id = ByteBuffer.wrap(value, 1, 4).getInt();
      if (id < 0) {
        // no registry hands out negative ids; do not ask one about them
        return reject(
            source, DeadLetterReason.UNKNOWN_SCHEMA_ID, "schema id " + id + " is negative", nowMs);
      }
    }
    try {
      return switch (source.origin()) {
        case FEEDBACK -> readFeedback(source, nowMs);
        case SERVED -> readImpression(source, nowMs);
      };
    } catch (WireFormatException e) {
      return reject(source, e.reason(), e.getMessage(), nowMs);
    } catch (SchemaRegistryException e) {
      if (e.isRetriable() || e.httpStatus() == 401 || e.httpStatus() == 403) {
        throw e;
      }
      // a 4xx about this id, or a schema that is not Avro: the record's fault, forever
      DeadLetterReason reason =
          e.httpStatus() / 100 == 4
              ? DeadLetterReason.UNKNOWN_SCHEMA_ID
              : DeadLetterReason.SCHEMA_MISMATCH;
      return reject(source, reason, e.getMessage(), nowMs);
    }
  }

  private Staged readFeedback(Sourced source, long nowMs) {
    FeedbackEvent event = decode(feedbackCodec, source.value());
    String newerKind = newerKind(source.value());
    if (newerKind != null) {
      return reject(
          source,
          DeadLetterReason.UNSUPPORTED_KIND,
          "feedback kind "
              + newerKind
              + " (from a newer schema) is not handled by this version of ingest; it handles "
              + KNOWN_KINDS.stream().sorted().toList(),
          event.getEventId(),
          event.getModelId(),
          nowMs);
    }
    Verdict<FeedbackEvent> verdict = rules.feedback(event);
    if (verdict instanceof Verdict.Problem<FeedbackEvent> problem) {
      return reject(
          source,
          problem.reason(),
          problem.message(),
          event.getEventId(),
          event.getModelId(),
          nowMs);
    }
    return new Staged.Feedback(source, ((Verdict.Valid<FeedbackEvent>) verdict).value());
  }

  private Staged readImpression(Sourced source, long nowMs) {
    ServedResponses served = decode(servedCodec, source.value());
    Verdict<ServedResponses> verdict = rules.impression(served);
    if (verdict instanceof Verdict.Problem<ServedResponses> problem) {
      return reject(source, problem.reason(), problem.message(), null, served.getModelId(), nowMs);
    }
    return new Staged.Impression(source, ((Verdict.Valid<ServedResponses>) verdict).value());
  }

  /**
   * Decodes one framed value. Avro signals malformed input with a zoo of runtime exceptions; any of
   * them from the decoder is the bytes' fault, so all become corrupt_avro.
   */
  private static <T extends org.apache.avro.specific.SpecificRecord> T decode(
      ConfluentAvro<T> codec, byte[] value) {
    try {
      return codec.decode(value);
    } catch (WireFormatException | SchemaRegistryException e) {
      throw e;
    } catch (RuntimeException e) {
      throw new WireFormatException(
          DeadLetterReason.CORRUPT_AVRO, -1, "cannot decode the Avro body: " + e, e);
    }
  }

  /**
   * An unknown enum symbol resolves silently to the enum's default (PAIRWISE): a newer writer's new
   * kind would masquerade as PAIRWISE. For writer schemas that know kinds we do not, read the
   * symbol as written; returns it when it is not one of ours.
   */
  private String newerKind(byte[] value) {
    int id = ByteBuffer.wrap(value, 1, 4).getInt();
    Optional<GenericDatumReader<GenericRecord>> reader =
        newerKinds.computeIfAbsent(id, this::readerIfNewerKinds);
    if (reader.isEmpty()) {
      return null;
    }
    try {
      GenericRecord record =
          reader
              .get()
              .read(
                  null,
                  new BoundedDecoder(
                      value,
                      ConfluentAvro.HEADER_BYTES,
                      value.length - ConfluentAvro.HEADER_BYTES));
      Object kind = record.get("kind");
      String symbol = kind == null ? null : kind.toString();
      return symbol != null && !KNOWN_KINDS.contains(symbol) ? symbol : null;
    } catch (IOException | RuntimeException e) {
      throw new WireFormatException(
          DeadLetterReason.CORRUPT_AVRO, id, "cannot decode the Avro body: " + e, e);
    }
  }

  private Optional<GenericDatumReader<GenericRecord>> readerIfNewerKinds(int id) {
    Schema writer = registry.schemaById(id);
    Schema.Field kind = writer.getType() == Schema.Type.RECORD ? writer.getField("kind") : null;
    if (kind == null) {
      return Optional.empty();
    }
    boolean newer =
        enumsOf(kind.schema()).stream()
            .flatMap(e -> e.getEnumSymbols().stream())
            .anyMatch(symbol -> !KNOWN_KINDS.contains(symbol));
    return newer ? Optional.of(new GenericDatumReader<>(writer)) : Optional.empty();
  }

  private static List<Schema> enumsOf(Schema schema) {
    if (schema.getType() == Schema.Type.ENUM) {
      return List.of(schema);
    }
    if (schema.getType() == Schema.Type.UNION) {
      return schema.getTypes().stream().filter(s -> s.getType() == Schema.Type.ENUM).toList();
    }
    return List.of();
  }

  static Staged.Rejected reject(
      Sourced source, DeadLetterReason reason, String message, long nowMs) {
    return reject(source, reason, message, null, null, nowMs);
  }

  /** A dead letter for {@code source}: its original bytes, coordinates, and why. */
  static Staged.Rejected reject(
      Sourced source,
      DeadLetterReason reason,
      String message,
      String eventId,
      String modelId,
      long nowMs) {
    return new Staged.Rejected(
        Rejection.newBuilder()
            .setReason(reason.code())
            .setMessage(message)
            .setSourceTopic(source.topic())
            .setSourcePartition(source.partition())
            .setSourceOffset(source.offset())
            .setOriginalKey(source.key() == null ? null : ByteBuffer.wrap(source.key()))
            .setOriginalValue(source.value() == null ? null : ByteBuffer.wrap(source.value()))
            .setEventId(eventId)
            .setModelId(modelId)
            .setRejectedAt(Instant.ofEpochMilli(nowMs))
            .setStage("ingest")
            .build());
  }
}
