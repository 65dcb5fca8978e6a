package dev.prefstream.ingest;

import static dev.prefstream.ingest.Pipeline.binary;
import static dev.prefstream.ingest.Pipeline.choice;
import static dev.prefstream.ingest.Pipeline.edit;
import static dev.prefstream.ingest.Pipeline.impression;
import static dev.prefstream.ingest.Pipeline.pairwise;
import static dev.prefstream.ingest.Pipeline.ranked;
import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.ingest.Sourced.Origin;
import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Our own corpus of bad input: each case is one record that must land in dead-letters with its
 * reason, its original key and value bytes and its source offset, yield no training data, and not
 * stop the stream (a good record right after it still becomes a pair).
 */
class BadInputCorpusTest {
  static final byte[] KEY = "corpus-key".getBytes(StandardCharsets.UTF_8);
  static final Map<String, Object> CONFIG =
      Map.of(
          IngestConfig.RATE_LIMIT_EVENTS_CONFIG, 2,
          IngestConfig.SERVED_WAIT_MS_CONFIG, 0,
          IngestConfig.BINARY_PAIR_WINDOW_MS_CONFIG, 60_000);

  /** One bad record; {@code before} prepares state (an impression, an earlier copy). */
  record Case(
      String name,
      Origin topic,
      Function<Pipeline, byte[]> value,
      DeadLetterReason reason,
      Consumer<Pipeline> before) {
    @Override
    public String toString() {
      return name + " -> " + reason.code();
    }
  }

  static List<Case> corpus() {
    List<Case> cases = new ArrayList<>();
    // ---- bytes that are not a framed record
    bytes(cases, "null value (a tombstone)", p -> null, DeadLetterReason.EMPTY_VALUE);
    bytes(cases, "empty value", p -> new byte[0], DeadLetterReason.EMPTY_VALUE);
    bytes(cases, "one zero byte", p -> new byte[] {0}, DeadLetterReason.TRUNCATED_HEADER);
    bytes(
        cases,
        "header cut after 4 bytes",
        p -> new byte[] {0, 0, 0, 1},
        DeadLetterReason.TRUNCATED_HEADER);
    bytes(
        cases,
        "JSON instead of Avro",
        p -> utf8("{\"event_id\":\"e1\",\"kind\":\"PAIRWISE\"}"),
        DeadLetterReason.BAD_MAGIC_BYTE);
    bytes(
        cases,
        "magic byte 1",
        p -> withFirstByte(p.encode(pairwise("m1")), 1),
        DeadLetterReason.BAD_MAGIC_BYTE);
    bytes(
        cases,
        "Avro single-object encoding",
        p -> singleObject(pairwise("so")),
        DeadLetterReason.BAD_MAGIC_BYTE);
    bytes(
        cases,
        "gzip-compressed value",
        p -> new byte[] {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0},
        DeadLetterReason.BAD_MAGIC_BYTE);
    bytes(
        cases,
        "UTF-8 BOM then text",
        p -> new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, 'h', 'i', '!'},
        DeadLetterReason.BAD_MAGIC_BYTE);
    // ---- schema ids that do not lead to a FeedbackEvent
    bytes(
        cases,
        "schema id not in the registry",
        p -> RawAvro.framed(9_999).string("x").done(),
        DeadLetterReason.UNKNOWN_SCHEMA_ID);
    bytes(
        cases,
        "negative schema id",
        p -> RawAvro.framed(-1).string("x").done(),
        DeadLetterReason.UNKNOWN_SCHEMA_ID);
    bytes(
        cases,
        "schema id of an unrelated record",
        p -> RawAvro.framed(otherRecordId(p)).varint(7).done(),
        DeadLetterReason.SCHEMA_MISMATCH);
    bytes(
        cases,
        "schema id of a plain string schema",
        p -> RawAvro.framed(stringSchemaId(p)).string("hello").done(),
        DeadLetterReason.SCHEMA_MISMATCH);
    bytes(
        cases,
        "ServedResponses sent to the feedback topic",
        p -> p.encode(impression("r", List.of("a", "b"))),
        DeadLetterReason.SCHEMA_MISMATCH);
    // ---- Avro bodies that are broken
    bytes(
        cases,
        "header and no body",
        p -> RawAvro.framed(id(p)).done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "body cut in half",
        p -> half(p.encode(pairwise("half"))),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "bytes after a complete record",
        p -> concat(p.encode(pairwise("tail")), new byte[] {1, 2, 3}),
        DeadLetterReason.TRAILING_BYTES);
    bytes(
        cases,
        "string length beyond the record",
        p -> RawAvro.framed(id(p)).varint(1000).bytes('a', 'b', 'c').done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "negative string length",
        p -> RawAvro.framed(id(p)).varint(-5).bytes('a').done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "string length of a terabyte",
        p -> RawAvro.framed(id(p)).varint(1L << 40).bytes('a').done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "varint that never ends",
        p ->
            RawAvro.feedbackHead(id(p), "v")
                .bytes(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
                .done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "union branch out of range",
        p -> RawAvro.feedbackHead(id(p), "u").index(5).string("x").done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "enum index out of range",
        p -> RawAvro.feedbackHead(id(p), "k").index(0).index(42).done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "negative enum index",
        p -> RawAvro.feedbackHead(id(p), "k").index(0).index(-3).done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "array claiming a billion items",
        p -> rankedHead(p).index(1).varint(1_000_000_000L).string("a").done(),
        DeadLetterReason.CORRUPT_AVRO);
    bytes(
        cases,
        "invalid UTF-8 in a string",
        p ->
            RawAvro.feedbackHead(id(p), "utf")
                .index(0)
                .index(0)
                .index(1)
                .utf8(new byte[] {'h', (byte) 0xC3, 0x28})
                .index(1)
                .string("4")
                .index(1)
                .string("5")
                .index(0)
                .index(0)
                .index(0)
                .index(0)
                .index(0)
                .index(0)
                .varint(0)
                .done(),
        DeadLetterReason.INVALID_TEXT);
    bytes(
        cases,
        "CESU-8 surrogate in a string",
        p ->
            RawAvro.feedbackHead(id(p), "cesu")
                .index(0)
                .index(0)
                .index(1)
                .string("q")
                .index(1)
                .utf8(new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80})
                .index(1)
                .string("5")
                .index(0)
                .index(0)
                .index(0)
                .index(0)
                .index(0)
                .index(0)
                .varint(0)
                .done(),
        DeadLetterReason.INVALID_TEXT);
    bytes(
        cases,
        "kind from a newer schema",
        BadInputCorpusTest::newerKind,
        DeadLetterReason.UNSUPPORTED_KIND);
    // ---- ids
    event(cases, "blank event_id", pairwise("   "), DeadLetterReason.INVALID_EVENT_ID);
    event(
        cases,
        "event_id of 300 chars",
        pairwise("e".repeat(300)),
        DeadLetterReason.INVALID_EVENT_ID);
    event(cases, "event_id with a newline", pairwise("e\n1"), DeadLetterReason.INVALID_EVENT_ID);
    event(
        cases,
        "model_id with a slash",
        pairwise("mid1", b -> b.setModelId("org/model")),
        DeadLetterReason.INVALID_MODEL_ID);
    event(
        cases,
        "model_id of 129 chars",
        pairwise("mid2", b -> b.setModelId("m".repeat(129))),
        DeadLetterReason.INVALID_MODEL_ID);
    event(
        cases,
        "model_id starting with a dot",
        pairwise("mid3", b -> b.setModelId(".hidden")),
        DeadLetterReason.INVALID_MODEL_ID);
    event(
        cases,
        "empty model_id",
        pairwise("mid4", b -> b.setModelId("")),
        DeadLetterReason.INVALID_MODEL_ID);
    event(
        cases,
        "model_id with an accent",
        pairwise("mid5", b -> b.setModelId("mod\u00e8le")),
        DeadLetterReason.INVALID_MODEL_ID);
    event(
        cases,
        "user_key with a NUL",
        pairwise("uk1", b -> b.setUserKey("u\u00001")),
        DeadLetterReason.INVALID_USER_KEY);
    event(
        cases,
        "user_key of 257 chars",
        pairwise("uk2", b -> b.setUserKey("u".repeat(257))),
        DeadLetterReason.INVALID_USER_KEY);
    // ---- texts
    event(
        cases,
        "PAIRWISE without chosen",
        pairwise("t1", b -> b.setChosen(null)),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "PAIRWISE with a blank prompt",
        pairwise("t2", b -> b.setPrompt(" \n ")),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "PAIRWISE without prompt",
        pairwise("t3", b -> b.setPrompt(null)),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "chat prompt with no messages",
        pairwise("t4", b -> b.setPrompt(List.of())),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "chat prompt of blank messages",
        pairwise("t5", b -> b.setPrompt(List.of(new ChatMessage("user", "  ")))),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "chat role 'robot'",
        pairwise("t6", b -> b.setPrompt(List.of(new ChatMessage("robot", "hi")))),
        DeadLetterReason.INVALID_PROMPT);
    event(
        cases,
        "chat role in upper case",
        pairwise("t7", b -> b.setPrompt(List.of(new ChatMessage("USER", "hi")))),
        DeadLetterReason.INVALID_PROMPT);
    event(
        cases,
        "chosen equals rejected",
        pairwise("t8", b -> b.setRejected("4")),
        DeadLetterReason.IDENTICAL_RESPONSES);
    event(
        cases,
        "chosen equals rejected after NFC",
        pairwise("t9", b -> b.setChosen("e\u0301").setRejected("\u00e9")),
        DeadLetterReason.IDENTICAL_RESPONSES);
    event(
        cases,
        "chosen of 101 chars",
        pairwise("t10", b -> b.setChosen("x".repeat(101))),
        DeadLetterReason.TEXT_TOO_LONG);
    event(
        cases,
        "text that NFC lengthens past the limit",
        pairwise("t11", b -> b.setChosen("\u0958".repeat(51))),
        DeadLetterReason.TEXT_TOO_LONG);
    event(
        cases,
        "chat prompt of 101 chars in all",
        pairwise(
            "t12",
            b ->
                b.setPrompt(
                    List.of(
                        new ChatMessage("system", "s".repeat(60)),
                        new ChatMessage("user", "u".repeat(41))))),
        DeadLetterReason.TEXT_TOO_LONG);
    event(
        cases,
        "NUL in a response",
        pairwise("t13", b -> b.setRejected("a\u0000b")),
        DeadLetterReason.INVALID_TEXT);
    event(
        cases,
        "escape sequence in a prompt",
        pairwise("t14", b -> b.setPrompt("\u001b[31mred")),
        DeadLetterReason.INVALID_TEXT);
    event(
        cases,
        "C1 control in a response",
        pairwise("t15", b -> b.setChosen("next\u0085line")),
        DeadLetterReason.INVALID_TEXT);
    event(
        cases,
        "replacement character",
        pairwise("t16", b -> b.setChosen("broken \uFFFD text")),
        DeadLetterReason.INVALID_TEXT);
    event(
        cases,
        "noncharacter U+FFFF",
        pairwise("t17", b -> b.setChosen("odd \uFFFF")),
        DeadLetterReason.INVALID_TEXT);
    event(
        cases,
        "control character in chat content",
        pairwise("t18", b -> b.setPrompt(List.of(new ChatMessage("user", "bell\u0007")))),
        DeadLetterReason.INVALID_TEXT);
    // ---- per kind
    event(
        cases,
        "BINARY without label",
        binary("b1", true, "Blue", b -> b.setLabel(null)),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases, "BINARY without response", binary("b2", true, null), DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "RANKED with one response",
        ranked("r1", List.of("only")),
        DeadLetterReason.TOO_FEW_RESPONSES);
    event(
        cases,
        "RANKED with no responses field",
        ranked("r2", null),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "RANKED with a repeated response",
        ranked("r3", List.of("A", "B", "A")),
        DeadLetterReason.IDENTICAL_RESPONSES);
    event(
        cases,
        "RANKED with 5 of at most 4 responses",
        ranked("r4", List.of("A", "B", "C", "D", "E")),
        DeadLetterReason.TOO_MANY_RESPONSES);
    event(
        cases,
        "RANKED with a blank response",
        ranked("r5", List.of("A", " ")),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "SERVED_CHOICE without request_id",
        choice("s1", null, 0),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "SERVED_CHOICE without chosen_index",
        choice("s2", "req", 0, b -> b.setChosenIndex(null)),
        DeadLetterReason.MISSING_FIELD);
    event(
        cases,
        "SERVED_CHOICE with a negative index",
        choice("s3", "req", -1),
        DeadLetterReason.BAD_CHOSEN_INDEX);
    event(
        cases,
        "SERVED_CHOICE with a tab in request_id",
        choice("s4", "req\t1", 0),
        DeadLetterReason.INVALID_REQUEST_ID);
    event(
        cases,
        "EDIT that changed nothing",
        edit("x1", "Same.", "Same."),
        DeadLetterReason.IDENTICAL_RESPONSES);
    event(
        cases,
        "EDIT without edited",
        edit("x2", "Original.", null),
        DeadLetterReason.MISSING_FIELD);
    // ---- the served topic
    served(cases, "garbage impression", p -> utf8("not avro"), DeadLetterReason.BAD_MAGIC_BYTE);
    served(
        cases,
        "FeedbackEvent sent to the served topic",
        p -> p.encode(pairwise("wrong-topic")),
        DeadLetterReason.SCHEMA_MISMATCH);
    served(
        cases,
        "impression with one response",
        p -> p.encode(impression("i1", List.of("a"))),
        DeadLetterReason.TOO_FEW_RESPONSES);
    served(
        cases,
        "impression with 5 of at most 4 responses",
        p -> p.encode(impression("i2", List.of("a", "b", "c", "d", "e"))),
        DeadLetterReason.TOO_MANY_RESPONSES);
    served(
        cases,
        "impression with a blank request_id",
        p -> p.encode(impression(" ", List.of("a", "b"))),
        DeadLetterReason.MISSING_FIELD);
    served(
        cases,
        "impression with a bad model_id",
        p -> p.encode(impression("i3", List.of("a", "b"), b -> b.setModelId("a b"))),
        DeadLetterReason.INVALID_MODEL_ID);
    served(
        cases,
        "impression with a control character",
        p -> p.encode(impression("i4", List.of("a\u0001", "b"))),
        DeadLetterReason.INVALID_TEXT);
    // ---- valid records that ingest still must not use
    cases.add(
        new Case(
            "a redelivered event",
            Origin.FEEDBACK,
            p -> p.encode(pairwise("dup")),
            DeadLetterReason.DUPLICATE_EVENT,
            p -> p.send(pairwise("dup"))));
    cases.add(
        new Case(
            "a third event in the window from one user",
            Origin.FEEDBACK,
            p -> p.encode(pairwise("flood-3", b -> b.setUserKey("flooder"))),
            DeadLetterReason.RATE_LIMITED,
            p ->
                Stream.of("flood-1", "flood-2")
                    .forEach(id -> p.send(pairwise(id, b -> b.setUserKey("flooder"))))));
    cases.add(
        new Case(
            "a choice for a request never served",
            Origin.FEEDBACK,
            p -> p.encode(choice("lost", "req-never", 0)),
            DeadLetterReason.UNKNOWN_REQUEST,
            p -> {}));
    cases.add(
        new Case(
            "a choice past the impression's responses",
            Origin.FEEDBACK,
            p -> p.encode(choice("far", "req-3", 3)),
            DeadLetterReason.BAD_CHOSEN_INDEX,
            p -> p.serve(impression("req-3", List.of("a", "b", "c")))));
    cases.add(
        new Case(
            "a choice on an impression of identical texts",
            Origin.FEEDBACK,
            p -> p.encode(choice("same", "req-same", 0)),
            DeadLetterReason.IDENTICAL_RESPONSES,
            p -> p.serve(impression("req-same", List.of("a", "a")))));
    return cases;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("corpus")
  void eachBadRecordIsDeadLetteredWholeAndTheStreamGoesOn(Case c) {
    try (Pipeline p = new Pipeline(CONFIG)) {
      c.before().accept(p);
      p.pairs();
      p.unpaired();
      assertThat(p.deadLetters()).as("the preparation is clean").isEmpty();

      byte[] value = c.value().apply(p);
      long offset = p.nextOffset(c.topic());
      p.raw(c.topic(), KEY, value);

      List<Rejection> dead = p.deadLetters();
      assertThat(dead).hasSize(1);
      Rejection r = dead.get(0);
      assertThat(r.getReason()).as(r.getMessage()).isEqualTo(c.reason().code());
      assertThat(r.getMessage()).isNotBlank();
      assertThat(r.getSourceTopic()).isEqualTo(p.topic(c.topic()));
      assertThat(r.getSourcePartition()).isZero();
      assertThat(r.getSourceOffset()).isEqualTo(offset);
      assertThat(r.getOriginalKey().array()).isEqualTo(KEY);
      if (value == null) {
        assertThat(r.getOriginalValue()).isNull();
      } else {
        assertThat(r.getOriginalValue().array()).isEqualTo(value);
      }
      assertThat(p.pairs()).isEmpty();
      assertThat(p.unpaired()).isEmpty();

      p.send(pairwise("good-after"));
      assertThat(p.pairs()).extracting(pp -> pp.getEventIds().get(0)).containsExactly("good-after");
    }
  }

  @Test
  void theWholeCorpusThroughOnePipelineLosesNothingAndDuplicatesNothing() {
    List<Case> corpus = corpus();
    try (Pipeline p = new Pipeline(CONFIG)) {
      List<String> expected = new ArrayList<>();
      int good = 0;
      for (Case c : corpus) {
        c.before().accept(p);
        p.raw(c.topic(), KEY, c.value().apply(p));
        expected.add(c.reason().code());
        p.send(pairwise("good-" + good++));
      }
      assertThat(p.reasons()).containsExactlyElementsOf(expected);
      List<String> goods =
          p.pairs().stream()
              .map(PreferencePair::getEventIds)
              .map(ids -> ids.get(0))
              .filter(id -> id.startsWith("good-"))
              .toList();
      assertThat(goods)
          .containsExactlyElementsOf(
              java.util.stream.IntStream.range(0, good).mapToObj(i -> "good-" + i).toList());
    }
  }

  @Test
  void theCorpusIsLargeAndCoversEveryReasonIngestCanGive() {
    List<Case> corpus = corpus();
    assertThat(corpus).hasSizeGreaterThanOrEqualTo(30);
    assertThat(corpus.stream().map(Case::name).collect(Collectors.toSet())).hasSize(corpus.size());
    Set<DeadLetterReason> covered = corpus.stream().map(Case::reason).collect(Collectors.toSet());
    assertThat(covered)
        .containsExactlyInAnyOrderElementsOf(
            java.util.Arrays.stream(DeadLetterReason.values())
                .filter(DeadLetterReason::fromIngest)
                .toList());
  }

  // ---- helpers

  private static void bytes(
      List<Case> cases, String name, Function<Pipeline, byte[]> value, DeadLetterReason reason) {
    cases.add(new Case(name, Origin.FEEDBACK, value, reason, p -> {}));
  }

  private static void served(
      List<Case> cases, String name, Function<Pipeline, byte[]> value, DeadLetterReason reason) {
    cases.add(new Case(name, Origin.SERVED, value, reason, p -> {}));
  }

  private static void event(
      List<Case> cases, String name, FeedbackEvent event, DeadLetterReason reason) {
    cases.add(new Case(name, Origin.FEEDBACK, p -> p.encode(event), reason, p -> {}));
  }

  private static int id(Pipeline p) {
    return p.registry.register(
        ConfluentAvro.subject(p.topics.feedback(), false), FeedbackEvent.getClassSchema());
  }

  private static int otherRecordId(Pipeline p) {
    return p.registry.register(
        "other-value",
        new Schema.Parser()
            .parse(
                "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}"));
  }

  private static int stringSchemaId(Pipeline p) {
    return p.registry.register("strings-value", Schema.create(Schema.Type.STRING));
  }

  /** A RANKED event up to its responses field. */
  private static RawAvro rankedHead(Pipeline p) {
    return RawAvro.feedbackHead(id(p), "big")
        .index(0) // user_key
        .index(2) // kind RANKED
        .index(1)
        .string("Rank.") // prompt
        .index(0) // chosen
        .index(0) // rejected
        .index(0) // response
        .index(0); // label
  }

  /** A FeedbackEvent from a newer writer whose kind enum has a symbol we do not know. */
  private static byte[] newerKind(Pipeline p) {
    String json =
        FeedbackEvent.getClassSchema().toString().replace("\"EDIT\"]", "\"EDIT\",\"VIDEO_CLIP\"]");
    Schema newer = new Schema.Parser().parse(json);
    int id = p.registry.register(ConfluentAvro.subject(p.topics.feedback(), false), newer);
    GenericRecord record = new GenericData.Record(newer);
    record.put("event_id", "v1");
    record.put("model_id", "model-a");
    record.put("occurred_at", 1_700_000_000_000L);
    record.put("source", "t");
    Schema kind = newer.getField("kind").schema();
    record.put("kind", new GenericData.EnumSymbol(kind, "VIDEO_CLIP"));
    record.put("prompt", "Which clip?");
    record.put("metadata", Map.of());
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(0);
    out.writeBytes(java.nio.ByteBuffer.allocate(4).putInt(id).array());
    BinaryEncoder encoder = EncoderFactory.get().directBinaryEncoder(out, null);
    try {
      new GenericDatumWriter<GenericRecord>(newer).write(record, encoder);
      encoder.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static byte[] singleObject(FeedbackEvent event) {
    try {
      return event.toByteBuffer().array();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] withFirstByte(byte[] bytes, int first) {
    byte[] copy = bytes.clone();
    copy[0] = (byte) first;
    return copy;
  }

  private static byte[] half(byte[] bytes) {
    return Arrays.copyOf(bytes, bytes.length / 2);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
