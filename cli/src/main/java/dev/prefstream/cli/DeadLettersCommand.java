package dev.prefstream.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.serde.AvroSerde;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;

@Command(
    name = "dead-letters",
    description =
        "Prints the dead-letter topic from its beginning to its current end (read_committed), one"
            + " rejected record per line with its reason, message and source topic/partition/offset,"
            + " then the count per reason; then exits.")
final class DeadLettersCommand implements Callable<Integer> {
  @Mixin HelpOption help;

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration READ_TIMEOUT = Duration.ofSeconds(60);

  enum Format {
    TABLE,
    JSON
  }

  /** Accepts table and json in any case, and says which when given something else. */
  static final class FormatConverter implements ITypeConverter<Format> {
    @Override
    public Format convert(String value) {
      try {
        return Format.valueOf(value.toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new TypeConversionException("use table or json, not '" + value + "'");
      }
    }
  }

  @Mixin KafkaOptions kafka;

  @Spec CommandSpec spec;

  @Option(
      names = "--output",
      paramLabel = "FORMAT",
      defaultValue = "table",
      converter = FormatConverter.class,
      description =
          "table (default), or json: one JSON object per line on stdout, the counts on stderr.")
  Format output;

  @Option(
      names = "--reason",
      paramLabel = "CODE",
      description = "Only rejections with this reason code, e.g. bad_magic_byte.")
  String reason;

  @Override
  public Integer call() {
    CommonConfig config = new CommonConfig(kafka.settings());
    String topic = config.topics().deadLetters();
    Deserializer<Rejection> rejections =
        AvroSerde.forValues(Rejection.class, config.schemaRegistry()).deserializer();
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (output == Format.TABLE) {
      out.printf(Locale.ROOT, "%-20s %-36s %-24s %s%n", "REASON", "SOURCE", "EVENT", "MESSAGE");
    }
    Map<String, Long> counts = new TreeMap<>();
    Map<String, Object> props = new HashMap<>(config.kafkaClientProperties());
    props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
      List<TopicPartition> partitions =
          infos == null
              ? List.of()
              : infos.stream().map(p -> new TopicPartition(topic, p.partition())).toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      // read_committed: the end is the last stable offset, past which nothing is committed yet
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
      while (!reached(consumer, end)) {
        if (System.nanoTime() > deadline) {
          err.println("stopped after " + READ_TIMEOUT.toSeconds() + " s before reaching the end");
          break;
        }
        for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
          print(record, rejections, counts, out);
        }
      }
    }
    PrintWriter summary = output == Format.JSON ? err : out;
    long total = counts.values().stream().mapToLong(Long::longValue).sum();
    summary.println(
        total
            + " dead letter"
            + (total == 1 ? "" : "s")
            + " in "
            + topic
            + (reason == null ? "" : " with reason " + reason)
            + (counts.isEmpty() ? "" : ": " + counts));
    out.flush();
    err.flush();
    return 0;
  }

  private static boolean reached(
      KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> end) {
    return end.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue());
  }

  private void print(
      ConsumerRecord<byte[], byte[]> record,
      Deserializer<Rejection> rejections,
      Map<String, Long> counts,
      PrintWriter out) {
    Rejection r;
    try {
      r = rejections.deserialize(record.topic(), record.value());
    } catch (RuntimeException e) {
      // not written by prefstream: say so, and go on
      if (reason == null) {
        counts.merge("(unreadable)", 1L, Long::sum);
        unreadable(record, e, out);
      }
      return;
    }
    if (r == null || (reason != null && !reason.equals(r.getReason()))) {
      return;
    }
    counts.merge(r.getReason(), 1L, Long::sum);
    if (output == Format.JSON) {
      out.println(json(r, record));
    } else {
      out.printf(
          Locale.ROOT,
          "%-20s %-36s %-24s %s%n",
          r.getReason(),
          r.getSourceTopic() + "/" + r.getSourcePartition() + "@" + r.getSourceOffset(),
          r.getEventId() == null ? "-" : abbreviate(r.getEventId(), 24),
          abbreviate(r.getMessage(), 160));
    }
  }

  private void unreadable(
      ConsumerRecord<byte[], byte[]> record, RuntimeException e, PrintWriter out) {
    String where = record.topic() + "/" + record.partition() + "@" + record.offset();
    if (output == Format.JSON) {
      ObjectNode node = JSON.createObjectNode();
      node.putNull("reason");
      node.put("message", "not a Rejection record: " + e.getMessage());
      node.put("dead_letter_partition", record.partition());
      node.put("dead_letter_offset", record.offset());
      out.println(node);
    } else {
      out.printf(Locale.ROOT, "%-20s %-36s %-24s %s%n", "(unreadable)", where, "-", e.getMessage());
    }
  }

  static ObjectNode json(Rejection r, ConsumerRecord<?, ?> record) {
    ObjectNode node = JSON.createObjectNode();
    node.put("reason", r.getReason());
    node.put("message", r.getMessage());
    node.put("source_topic", r.getSourceTopic());
    node.put("source_partition", r.getSourcePartition());
    node.put("source_offset", r.getSourceOffset());
    node.put("event_id", r.getEventId());
    node.put("model_id", r.getModelId());
    node.put("stage", r.getStage());
    node.put("rejected_at", r.getRejectedAt().toString());
    node.put("original_key", text(r.getOriginalKey()));
    node.put("original_key_base64", base64(r.getOriginalKey()));
    node.put("original_value_base64", base64(r.getOriginalValue()));
    node.put(
        "original_value_bytes",
        r.getOriginalValue() == null ? 0 : r.getOriginalValue().remaining());
    node.put("dead_letter_partition", record.partition());
    node.put("dead_letter_offset", record.offset());
    return node;
  }

  private static String base64(ByteBuffer buffer) {
    return buffer == null ? null : Base64.getEncoder().encodeToString(bytes(buffer));
  }

  /** The key as text when it is printable UTF-8 (a model id, usually); else null. */
  private static String text(ByteBuffer buffer) {
    if (buffer == null) {
      return null;
    }
    try {
      CharBuffer chars =
          StandardCharsets.UTF_8
              .newDecoder()
              .onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT)
              .decode(buffer.duplicate());
      String s = chars.toString();
      return s.codePoints().anyMatch(Character::isISOControl) ? null : s;
    } catch (CharacterCodingException e) {
      return null;
    }
  }

  private static byte[] bytes(ByteBuffer buffer) {
    ByteBuffer copy = buffer.duplicate();
    byte[] out = new byte[copy.remaining()];
    copy.get(out);
    return out;
  }

  private static String abbreviate(String s, int max) {
    String flat = s.replace('\n', ' ').replace('\r', ' ').replace('\t', ' ');
    return flat.length() <= max ? flat : flat.substring(0, max - 3) + "...";
  }
}
