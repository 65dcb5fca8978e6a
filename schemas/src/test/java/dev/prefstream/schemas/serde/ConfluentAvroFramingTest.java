package dev.prefstream.schemas.serde;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.registry.SchemaRegistry;
import java.lang.reflect.Proxy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Framing errors are detected before the registry is ever asked. */
class ConfluentAvroFramingTest {
  private final SchemaRegistry neverCalled =
      (SchemaRegistry)
          Proxy.newProxyInstance(
              getClass().getClassLoader(),
              new Class<?>[] {SchemaRegistry.class},
              (proxy, method, args) -> {
                throw new AssertionError("registry must not be consulted: " + method.getName());
              });
  private final ConfluentAvro<FeedbackEvent> codec =
      new ConfluentAvro<>(FeedbackEvent.class, neverCalled, false);

  @Test
  void emptyValue() {
    assertReason(new byte[0], DeadLetterReason.EMPTY_VALUE);
    assertReason(null, DeadLetterReason.EMPTY_VALUE);
  }

  @ParameterizedTest
  @ValueSource(ints = {1, 2, 3, 4})
  void headerShorterThanFiveBytes(int length) {
    assertReason(new byte[length], DeadLetterReason.TRUNCATED_HEADER);
  }

  @Test
  void jsonIsNotConfluentFraming() {
    assertReason("{\"event_id\":\"e\"}".getBytes(), DeadLetterReason.BAD_MAGIC_BYTE);
  }

  @Test
  void avroSingleObjectEncodingIsNotConfluentFraming() {
    // Avro's own single-object header starts with C3 01
    assertReason(
        new byte[] {(byte) 0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8}, DeadLetterReason.BAD_MAGIC_BYTE);
  }

  private void assertReason(byte[] bytes, DeadLetterReason reason) {
    assertThatThrownBy(() -> codec.decode(bytes))
        .isInstanceOfSatisfying(
            WireFormatException.class,
            e -> org.assertj.core.api.Assertions.assertThat(e.reason()).isEqualTo(reason));
  }
}
