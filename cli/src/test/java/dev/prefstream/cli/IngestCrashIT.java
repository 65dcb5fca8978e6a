package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault injection on the ingest command in a child JVM: {@code prefstream ingest} is SIGKILLed
 * twice while it works through a burst of events, and restarted each time. Its exactly-once output
 * (pairs and dead letters, read read_committed), its dedup store and its rate-limit counts must
 * come through both crashes: every valid event in exactly one pair, every duplicate sent after a
 * crash of an event ingested before it dead-lettered once as {@code duplicate_event}, a user's
 * fourth event in the window (its first three straddle both crashes) dead-lettered once as {@code
 * rate_limited}.
 */
class IngestCrashIT {
  private static final String MODEL = "m";
  private static final String APPLICATION_ID = "crash-ingest";
  private static final int BURST = 20_000;
  private static final Duration LIMIT = Duration.ofMinutes(3);

  @TempDir(cleanup = CleanupMode.ON_SUCCESS)
  static Path dir;

  static EmbeddedStack stack;
  static ConfluentAvro<FeedbackEvent> events;
  static final Topics TOPICS = new Topics("crash.");
  static int runs;
  static final List<Process> started = new ArrayList<>();

  @BeforeAll
  static void start() {
    stack = EmbeddedStack.start(dir.resolve("stack"));
    events =
        new ConfluentAvro<>(FeedbackEvent.class, new RestSchemaRegistry(stack.registryUrl()), true);
  }

  @AfterAll
  static void stop() {
    started.forEach(Process::destroyForcibly); // a failed test's survivor
    stack.close();
  }

  @Test
  void sigkilledTwiceInABurstIngestLosesNothingPairsNothingTwiceAndKeepsDedupAndRateLimits()
      throws Exception {
    // one record timestamp for the limited user: its four events share one window whenever the
    // test runs (the limit counts in stream time)
    long limitedAt = System.currentTimeMillis();
    List<String> expectedPairs = new ArrayList<>();
    Map<String, String> expectedDead = new HashMap<>();
    Process first = ingest(); // it creates the topics the tails read
    try (Tail<PreferencePair> pairs =
            new Tail<>(TOPICS.pairs(), PreferencePair.class, p -> p.getEventIds().get(0));
        Tail<Rejection> dead =
            new Tail<>(TOPICS.deadLetters(), Rejection.class, Rejection::getEventId);
        KafkaProducer<byte[], byte[]> producer = producer()) {
      List<String> calm = send(producer, "a-", 100);
      sendLimited(producer, limitedAt, 0, 2);
      expectedPairs.addAll(calm);
      expectedPairs.addAll(List.of("lim-0", "lim-1"));
      await(first, () -> pairs.idsSeen().containsAll(expectedPairs), "the calm events' pairs");

      List<String> burst = send(producer, "b-", BURST);
      expectedPairs.addAll(burst);
      await(first, () -> pairs.countStartingWith("b-") > 0, "a first pair of the burst");
      first.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook, no clean close
      long committedAtFirstKill = pairs.countStartingWith("b-");

      long restarting = System.nanoTime();
      Process second = ingest();
      resend(producer, "a-7", "b-5");
      sendLimited(producer, limitedAt, 2, 3);
      expectedPairs.add("lim-2");
      List<String> secondBurst = send(producer, "c-", BURST);
      expectedPairs.addAll(secondBurst);
      await(second, () -> pairs.countStartingWith("c-") > 0, "a first pair of the second burst");
      double restartSeconds = (System.nanoTime() - restarting) / 1e9;
      second.destroyForcibly().waitFor();
      long committedAtSecondKill = pairs.countStartingWith("c-");

      Process third = ingest();
      resend(producer, "b-" + (BURST - 1), "c-0", "c-" + (BURST - 1));
      sendLimited(producer, limitedAt, 3, 4);
      expectedPairs.addAll(send(producer, "z-", 1));
      for (String id : List.of("a-7", "b-5", "b-" + (BURST - 1), "c-0", "c-" + (BURST - 1))) {
        expectedDead.put(id, "duplicate_event");
      }
      expectedDead.put("lim-3", "rate_limited");
      await(
          third,
          () ->
              pairs.idsSeen().containsAll(expectedPairs)
                  && dead.idsSeen().containsAll(expectedDead.keySet()),
          "every pair and dead letter");
      // then wait until ingest has committed the offsets of everything it read: nothing it
      // could still write is missing from what the tails saw
      await(third, IngestCrashIT::caughtUp, "ingest committing the end of its inputs");
      pairs.readToEnd();
      dead.readToEnd();
      third.destroy(); // SIGTERM: a clean stop
      assertThat(third.waitFor(1, TimeUnit.MINUTES)).as("ingest stops on SIGTERM").isTrue();

      System.out.printf(
          "pairs committed at the kills: %d of the first burst, %d of the second; first restart"
              + " to the second burst's first pair: %.1f s%n",
          committedAtFirstKill, committedAtSecondKill, restartSeconds);
      assertThat(pairs.ids())
          .as("every valid event in exactly one pair, through two SIGKILLs")
          .hasSameSizeAs(expectedPairs)
          .containsExactlyInAnyOrderElementsOf(expectedPairs);
      assertThat(dead.records())
          .extracting(Rejection::getEventId, Rejection::getReason)
          .as("duplicates sent after a crash and the limited user's fourth event, once each")
          .containsExactlyInAnyOrderElementsOf(
              expectedDead.entrySet().stream()
                  .map(e -> Tuple.tuple(e.getKey(), e.getValue()))
                  .toList());
    }
  }

  private static Process ingest() throws Exception {
    Path output = dir.resolve("ingest-" + ++runs + ".log");
    Process process =
        ChildCli.start(
            output,
            List.of(
                "ingest",
                "--bootstrap-servers",
                stack.bootstrapServers(),
                "--registry-url",
                stack.registryUrl(),
                "--data-dir",
                dir.resolve("ingest").toString(),
                "-D",
                CommonConfig.TOPIC_PREFIX_CONFIG + "=" + TOPICS.prefix(),
                "-D",
                IngestConfig.APPLICATION_ID_CONFIG + "=" + APPLICATION_ID,
                "-D",
                IngestConfig.RATE_LIMIT_EVENTS_CONFIG + "=3",
                "-D",
                IngestConfig.RATE_LIMIT_WINDOW_MS_CONFIG + "=86400000",
                // static membership: a restart takes the killed member's place at once instead of
                // waiting for its session to time out (see README, Operations)
                "-D",
                ConsumerConfig.GROUP_INSTANCE_ID_CONFIG + "=crash-ingest-1"));
    started.add(process);
    ChildCli.awaitLine(process, output, "ingest running", LIMIT);
    return process;
  }

  /** {@code count} valid PAIRWISE events {@code prefix}0.., each from its own user; their ids. */
  private static List<String> send(KafkaProducer<byte[], byte[]> producer, String prefix, int count)
      throws Exception {
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      String id = prefix + i;
      producer.send(record(event(id, "user-" + id), null));
      ids.add(id);
    }
    producer.flush();
    return ids;
  }

  /** Events {@code from}..{@code to - 1} of the rate-limited user, all at {@code at}. */
  private static void sendLimited(KafkaProducer<byte[], byte[]> producer, long at, int from, int to)
      throws Exception {
    for (int i = from; i < to; i++) {
      producer.send(record(event("lim-" + i, "limited"), at));
    }
    producer.flush();
  }

  /** The same events again (what a product's retry sends). */
  private static void resend(KafkaProducer<byte[], byte[]> producer, String... ids)
      throws Exception {
    for (String id : ids) {
      producer.send(record(event(id, "user-" + id), null));
    }
    producer.flush();
  }

  private static FeedbackEvent event(String id, String user) {
    return FeedbackEvent.newBuilder()
        .setEventId(id)
        .setModelId(MODEL)
        .setOccurredAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .setSource("crash-it")
        .setUserKey(user)
        .setKind(FeedbackKind.PAIRWISE)
        .setPrompt("What is 2+2?")
        .setChosen("4")
        .setRejected("5")
        .build();
  }

  /** Keyed by model: one partition, so a resent event always comes after its first copy. */
  private static ProducerRecord<byte[], byte[]> record(FeedbackEvent event, Long timestamp) {
    return new ProducerRecord<>(
        TOPICS.feedback(),
        null,
        timestamp,
        MODEL.getBytes(StandardCharsets.UTF_8),
        events.encode(ConfluentAvro.subject(TOPICS.feedback(), false), event));
  }

  private static KafkaProducer<byte[], byte[]> producer() {
    return new KafkaProducer<>(
        Map.of(
            ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
            stack.bootstrapServers(),
            ProducerConfig.LINGER_MS_CONFIG,
            5),
        new ByteArraySerializer(),
        new ByteArraySerializer());
  }

  /**
   * Whether ingest's group has committed, on every partition it reads, the partition's end: all its
   * input processed and its output transactions committed.
   */
  private static boolean caughtUp() {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", stack.bootstrapServers()))) {
      Map<TopicPartition, OffsetAndMetadata> committed =
          admin.listConsumerGroupOffsets(APPLICATION_ID).partitionsToOffsetAndMetadata().get();
      if (committed.isEmpty()) {
        return false;
      }
      Map<TopicPartition, OffsetSpec> latest =
          committed.keySet().stream()
              .collect(Collectors.toMap(Function.identity(), tp -> OffsetSpec.latest()));
      var ends = admin.listOffsets(latest).all().get();
      return committed.entrySet().stream()
          .allMatch(e -> e.getValue().offset() >= ends.get(e.getKey()).offset());
    } catch (Exception e) {
      return false; // the group is rebalancing or not there yet: ask again
    }
  }

  private static void await(Process ingest, BooleanSupplier done, String what) throws Exception {
    Path output = dir.resolve("ingest-" + runs + ".log"); // the running ingest is the latest
    ChildCli.awaitCondition(ingest, output, done, what, LIMIT, Duration.ofMillis(100));
  }

  /**
   * Every record committed to a topic, read read_committed from the beginning by one consumer for
   * the whole test: each committed record once, aborted ones never.
   */
  private static final class Tail<T extends SpecificRecord> implements AutoCloseable {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final ConfluentAvro<T> codec;
    private final Function<T, String> id;
    private final List<T> records = new ArrayList<>();
    private final List<String> ids = new ArrayList<>();
    private final Set<String> seen = new HashSet<>();

    /** {@code id}: the event a record came from (a pair: the first of its events). */
    Tail(String topic, Class<T> type, Function<T, String> id) {
      this.codec = new ConfluentAvro<>(type, new RestSchemaRegistry(stack.registryUrl()), false);
      this.id = id;
      this.consumer =
          new KafkaConsumer<>(
              Map.of(
                  ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG,
                  stack.bootstrapServers(),
                  ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                  "read_committed"),
              new ByteArrayDeserializer(),
              new ByteArrayDeserializer());
      List<TopicPartition> partitions =
          consumer.partitionsFor(topic).stream()
              .map(p -> new TopicPartition(topic, p.partition()))
              .toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
    }

    /** Reads up to the topic's last stable offsets. */
    void readToEnd() {
      Map<TopicPartition, Long> ends = consumer.endOffsets(consumer.assignment());
      while (ends.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
        poll();
      }
    }

    void poll() {
      for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
        T record = codec.decode(r.value());
        records.add(record);
        ids.add(id.apply(record));
        seen.add(id.apply(record));
      }
    }

    List<T> records() {
      return records;
    }

    /** The event ids of every record read, one entry per record. */
    List<String> ids() {
      return ids;
    }

    Set<String> idsSeen() {
      poll();
      return seen;
    }

    long countStartingWith(String prefix) {
      poll();
      return ids.stream().filter(id -> id.startsWith(prefix)).count();
    }

    @Override
    public void close() {
      consumer.close();
    }
  }
}
