package dev.prefstream.ingest;

import static dev.prefstream.ingest.Pipeline.T0;
import static dev.prefstream.ingest.Pipeline.binary;
import static dev.prefstream.ingest.Pipeline.choice;
import static dev.prefstream.ingest.Pipeline.edit;
import static dev.prefstream.ingest.Pipeline.impression;
import static dev.prefstream.ingest.Pipeline.pairwise;
import static dev.prefstream.ingest.Pipeline.ranked;
import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.schemas.DeadLetterReason;
import dev.prefstream.schemas.avro.ChatMessage;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.FeedbackKind;
import dev.prefstream.schemas.avro.PreferencePair;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.TopologyDescription;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** Every kind of feedback and every stateful rule, broker-free. */
class IngestTopologyTest {

  @Nested
  class Kinds {
    @Test
    void aPairwiseEventBecomesOnePairKeyedByModel() {
      try (Pipeline p = new Pipeline()) {
        p.send(pairwise("e1"));
        List<KeyValue<String, PreferencePair>> out = p.keyedPairs();
        assertThat(out).hasSize(1);
        PreferencePair pair = out.get(0).value;
        assertThat(out.get(0).key).isEqualTo("model-a");
        assertThat(pair.getPrompt()).isEqualTo("What is 2+2?");
        assertThat(pair.getChosen()).isEqualTo("4");
        assertThat(pair.getRejected()).isEqualTo("5");
        assertThat(pair.getKind()).isEqualTo(FeedbackKind.PAIRWISE);
        assertThat(pair.getEventIds()).containsExactly("e1");
        assertThat(pair.getPairId()).isEqualTo(Preferences.pairId("e1", 0)).hasSize(64);
        assertThat(p.deadLetters()).isEmpty();
        assertThat(p.unpaired()).isEmpty();
      }
    }

    @Test
    void chatPromptsPassThroughNormalized() {
      List<ChatMessage> chat =
          List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Cafe\u0301?"));
      try (Pipeline p = new Pipeline()) {
        p.send(pairwise("e2", b -> b.setPrompt(chat)));
        assertThat(p.pairs().get(0).getPrompt())
            .isEqualTo(
                List.of(
                    new ChatMessage("system", "Be brief."), new ChatMessage("user", "Caf\u00e9?")));
      }
    }

    @Test
    void binaryFeedbackBecomesUnpairedAndNoPairWhenPairingIsOff() {
      try (Pipeline p = new Pipeline()) {
        p.send(binary("up", true, "Blue"));
        p.send(binary("down", false, "Table"));
        List<UnpairedFeedback> out = p.unpaired();
        assertThat(out).extracting(UnpairedFeedback::getDesirable).containsExactly(true, false);
        assertThat(out).extracting(UnpairedFeedback::getResponse).containsExactly("Blue", "Table");
        assertThat(out.get(0).getEventIds()).containsExactly("up");
        assertThat(out.get(0).getFeedbackId()).isEqualTo(Preferences.pairId("up", 0));
        assertThat(out.get(0).getPrompt()).isEqualTo("Name a color.");
        assertThat(p.pairs()).isEmpty();
        assertThat(p.deadLetters()).isEmpty();
      }
    }

    @Test
    void withPairingAnUpAndADownOnOnePromptAlsoBecomeOnePair() {
      try (Pipeline p = new Pipeline(Map.of(IngestConfig.BINARY_PAIR_WINDOW_MS_CONFIG, 60_000))) {
        p.send(binary("d1", false, "Table"), T0);
        p.send(binary("other-prompt", true, "Red", b -> b.setPrompt("Name a fruit.")), T0);
        p.send(binary("u-same", true, "Table"), T0.plusSeconds(1)); // same text: no pair
        p.send(binary("u1", true, "Blue"), T0.plusSeconds(2));
        p.send(binary("u2", true, "Green"), T0.plusSeconds(3)); // d1 is taken
        assertThat(p.unpaired()).hasSize(5);
        List<PreferencePair> out = p.pairs();
        assertThat(out).hasSize(1);
        PreferencePair pair = out.get(0);
        assertThat(pair.getChosen()).isEqualTo("Blue");
        assertThat(pair.getRejected()).isEqualTo("Table");
        assertThat(pair.getKind()).isEqualTo(FeedbackKind.BINARY);
        assertThat(pair.getEventIds()).containsExactly("u1", "d1");
        assertThat(pair.getPairId()).isEqualTo(Preferences.pairId("u1\u0000d1", 0));

        // the oldest waiting up pairs with the next down: u-same waited first, but has its text
        p.send(binary("d2", false, "Chair"), T0.plusSeconds(4));
        assertThat(p.pairs())
            .extracting(PreferencePair::getEventIds)
            .containsExactly(List.of("u-same", "d2"));
        // past the window, u2 no longer pairs
        p.send(binary("d3", false, "Lamp"), T0.plusSeconds(200));
        assertThat(p.pairs()).isEmpty();
        assertThat(p.deadLetters()).isEmpty();
      }
    }

    @Test
    void aRankedListBecomesAllPairsOrAdjacentPairs() {
      List<String> best = List.of("A", "B", "C", "D");
      try (Pipeline all = new Pipeline();
          Pipeline adjacent = new Pipeline(Map.of(IngestConfig.RANKED_PAIRS_CONFIG, "adjacent"))) {
        all.send(ranked("r1", best));
        adjacent.send(ranked("r1", best));
        List<PreferencePair> allPairs = all.pairs();
        List<PreferencePair> adjacentPairs = adjacent.pairs();
        assertThat(allPairs)
            .extracting(pp -> pp.getChosen() + ">" + pp.getRejected())
            .containsExactly("A>B", "A>C", "A>D", "B>C", "B>D", "C>D");
        assertThat(adjacentPairs)
            .extracting(pp -> pp.getChosen() + ">" + pp.getRejected())
            .containsExactly("A>B", "B>C", "C>D");
        assertThat(allPairs).extracting(PreferencePair::getPairId).doesNotHaveDuplicates();
        // a pair's id depends on the two responses, not on the mode
        assertThat(adjacentPairs.get(1).getPairId()).isEqualTo(allPairs.get(3).getPairId());
        assertThat(allPairs)
            .allSatisfy(pp -> assertThat(pp.getKind()).isEqualTo(FeedbackKind.RANKED));
      }
    }

    @Test
    void anEditPrefersTheEditedText() {
      try (Pipeline p = new Pipeline()) {
        p.send(edit("ed1", "Their going home.", "They're going home."));
        PreferencePair pair = p.pairs().get(0);
        assertThat(pair.getChosen()).isEqualTo("They're going home.");
        assertThat(pair.getRejected()).isEqualTo("Their going home.");
        assertThat(pair.getKind()).isEqualTo(FeedbackKind.EDIT);
        assertThat(pair.getPairId()).isEqualTo(Preferences.pairId("ed1", 0));
      }
    }

    @Test
    void aChoiceJoinsItsImpression() {
      try (Pipeline p = new Pipeline()) {
        p.serve(impression("req-1", List.of("joke A", "joke B", "joke C")));
        p.send(choice("c1", "req-1", 1));
        List<PreferencePair> out = p.pairs();
        assertThat(out)
            .extracting(pp -> pp.getChosen() + ">" + pp.getRejected())
            .containsExactly("joke B>joke A", "joke B>joke C");
        assertThat(out.get(0).getPrompt())
            .isEqualTo(List.of(new ChatMessage("user", "Tell me a joke.")));
        assertThat(out.get(0).getEventIds()).containsExactly("c1", "req-1");
        assertThat(out)
            .extracting(PreferencePair::getPairId)
            .containsExactly(Preferences.pairId("c1", 0), Preferences.pairId("c1", 2));
        assertThat(out.get(0).getKind()).isEqualTo(FeedbackKind.SERVED_CHOICE);
        assertThat(p.deadLetters()).isEmpty();
      }
    }

    @Test
    void everyPairAndUnpairedRecordCarriesItsEventsUserKeys() {
      try (Pipeline p = new Pipeline(Map.of(IngestConfig.BINARY_PAIR_WINDOW_MS_CONFIG, 60_000))) {
        p.send(pairwise("pw", b -> b.setUserKey("u-pw")));
        p.send(ranked("rk", List.of("a", "b", "c"), b -> b.setUserKey("u-rk")));
        p.send(edit("ed", "Their going.", "They're going.", b -> b.setUserKey("u-ed")));
        p.serve(impression("req-9", List.of("joke A", "joke B")));
        p.send(choice("ch", "req-9", 0, b -> b.setUserKey("u-ch")));
        p.send(binary("dn", false, "Table", b -> b.setUserKey("u-down")), T0);
        p.send(binary("up", true, "Blue", b -> b.setUserKey("u-up")), T0.plusSeconds(1));
        p.send(pairwise("anonymous"));
        Map<String, List<List<String>>> keysByFirstEvent = new java.util.TreeMap<>();
        for (PreferencePair pair : p.pairs()) {
          keysByFirstEvent
              .computeIfAbsent(pair.getEventIds().get(0), k -> new java.util.ArrayList<>())
              .add(pair.getUserKeys());
        }
        assertThat(keysByFirstEvent)
            .containsEntry("pw", List.of(List.of("u-pw")))
            .containsEntry("rk", List.of(List.of("u-rk"), List.of("u-rk"), List.of("u-rk")))
            .containsEntry("ed", List.of(List.of("u-ed")))
            .containsEntry("ch", List.of(List.of("u-ch")))
            .containsEntry("up", List.of(List.of("u-up", "u-down")))
            .containsEntry("anonymous", List.of(List.of()));
        assertThat(p.unpaired())
            .extracting(UnpairedFeedback::getUserKeys)
            .containsExactly(List.of("u-down"), List.of("u-up"));
      }
    }

    @Test
    void aChoiceThatArrivesFirstWaitsForItsImpression() {
      try (Pipeline p = new Pipeline()) {
        p.send(choice("early", "req-2", 0), T0);
        p.driver.advanceWallClockTime(Duration.ofSeconds(30));
        assertThat(p.pairs()).isEmpty();
        p.serve(impression("req-2", List.of("x", "y")), T0.plusSeconds(20));
        assertThat(p.pairs())
            .extracting(pp -> pp.getChosen() + ">" + pp.getRejected())
            .containsExactly("x>y");
        // it waits no more: nothing expires later
        p.driver.advanceWallClockTime(Duration.ofMinutes(5));
        assertThat(p.deadLetters()).isEmpty();
      }
    }

    @Test
    void aChoiceWhoseImpressionNeverComesIsDeadLetteredInRealTime() {
      try (Pipeline p = new Pipeline()) {
        FeedbackEvent lonely = choice("lonely", "req-missing", 0);
        p.send(lonely, T0);
        p.driver.advanceWallClockTime(Duration.ofSeconds(59));
        assertThat(p.deadLetters()).isEmpty();
        p.driver.advanceWallClockTime(Duration.ofSeconds(2));
        List<Rejection> out = p.deadLetters();
        assertThat(out).hasSize(1);
        Rejection dead = out.get(0);
        assertThat(dead.getReason()).isEqualTo(DeadLetterReason.UNKNOWN_REQUEST.code());
        assertThat(dead.getMessage()).contains("req-missing", "ingest.served.wait.ms=60000");
        assertThat(dead.getOriginalValue().array()).isEqualTo(p.encode(lonely));
        assertThat(dead.getSourceTopic()).isEqualTo(p.topics.feedback());
        assertThat(dead.getSourceOffset()).isZero();
        assertThat(dead.getEventId()).isEqualTo("lonely");
        // a late impression does not resurrect it
        p.serve(impression("req-missing", List.of("x", "y")));
        assertThat(p.pairs()).isEmpty();
      }
    }

    @Test
    void aChoiceWhoseImpressionNeverComesIsDeadLetteredOnceServedTimePassesItsDeadline() {
      try (Pipeline p = new Pipeline(Map.of(IngestConfig.SERVED_WAIT_MS_CONFIG, 10_000))) {
        p.send(choice("lonely", "req-missing", 0), T0);
        // feedback moving on says nothing about impressions: it still waits
        p.send(pairwise("later"), T0.plusSeconds(11));
        assertThat(p.reasons()).isEmpty();
        p.serve(impression("req-other", List.of("x", "y")), T0.plusSeconds(9));
        assertThat(p.reasons()).isEmpty();
        // an impression past its deadline does
        p.serve(impression("req-another", List.of("x", "y")), T0.plusSeconds(11));
        assertThat(p.reasons()).containsExactly(DeadLetterReason.UNKNOWN_REQUEST.code());
        assertThat(p.pairs()).hasSize(1);
      }
    }

    @Test
    void aBacklogOfChoicesReadBeforeTheirImpressionsStillPairs() {
      // after downtime ingest may read a partition's backlog before another's (max.task.idle.ms
      // is -1): choices minutes ahead of their impressions in stream time must not expire
      try (Pipeline p = new Pipeline(Map.of(IngestConfig.SERVED_WAIT_MS_CONFIG, 10_000))) {
        for (int i = 0; i < 10; i++) {
          p.send(choice("backlog-" + i, "req-" + i, 0), T0.plusSeconds(30L * i));
        }
        assertThat(p.pairs()).isEmpty();
        for (int i = 0; i < 10; i++) {
          p.serve(impression("req-" + i, List.of("x" + i, "y")), T0.plusSeconds(30L * i - 1));
        }
        assertThat(p.reasons()).isEmpty();
        assertThat(p.pairs())
            .extracting(pp -> pp.getChosen() + ">" + pp.getRejected())
            .containsExactly(
                "x0>y", "x1>y", "x2>y", "x3>y", "x4>y", "x5>y", "x6>y", "x7>y", "x8>y", "x9>y");
      }
    }

    @Test
    void impressionsExpireAfterTheirRetention() {
      try (Pipeline p =
          new Pipeline(
              Map.of(
                  IngestConfig.SERVED_RETENTION_MS_CONFIG,
                  60_000,
                  IngestConfig.SERVED_WAIT_MS_CONFIG,
                  0))) {
        p.serve(impression("old", List.of("x", "y")), T0);
        p.send(choice("in-time", "old", 0), T0.plusSeconds(30));
        p.send(pairwise("tick"), T0.plusSeconds(200));
        p.send(choice("too-late", "old", 0), T0.plusSeconds(200));
        assertThat(p.pairs())
            .extracting(pp -> pp.getEventIds().get(0))
            .containsExactly("in-time", "tick");
        assertThat(p.deadLetters())
            .extracting(Rejection::getEventId, Rejection::getReason)
            .containsExactly(
                org.assertj.core.groups.Tuple.tuple(
                    "too-late", DeadLetterReason.UNKNOWN_REQUEST.code()));
      }
    }
  }

  @Nested
  class Trust {
    @Test
    void aRedeliveredEventIsDeadLetteredAsDuplicateUntilTheRetentionPasses() {
      try (Pipeline p = new Pipeline(Map.of(IngestConfig.DEDUP_RETENTION_MS_CONFIG, 3_600_000))) {
        p.send(pairwise("e1"), T0);
        p.send(pairwise("e1"), T0.plusSeconds(60));
        p.send(pairwise("e1", b -> b.setModelId("model-b")), T0.plusSeconds(61));
        assertThat(p.pairs())
            .extracting(PreferencePair::getModelId)
            .containsExactly("model-a", "model-b");
        List<Rejection> dead = p.deadLetters();
        assertThat(dead).extracting(Rejection::getReason).containsExactly("duplicate_event");
        assertThat(dead.get(0).getMessage()).contains("e1", p.topics.feedback() + "/0@0");
        assertThat(dead.get(0).getSourceOffset()).isEqualTo(1);
        p.send(pairwise("e1"), T0.plus(Duration.ofHours(3)));
        assertThat(p.pairs()).hasSize(1);
      }
    }

    @Test
    void pastTheLimitAUsersEventsAreRateLimitedUntilTheNextWindow() {
      try (Pipeline p =
          new Pipeline(
              Map.of(
                  IngestConfig.RATE_LIMIT_EVENTS_CONFIG, 3,
                  IngestConfig.RATE_LIMIT_WINDOW_MS_CONFIG, 60_000))) {
        for (int i = 0; i < 5; i++) {
          int n = i;
          p.send(pairwise("flood-" + i, b -> b.setUserKey("u1")), T0.plusSeconds(n));
        }
        p.send(pairwise("calm", b -> b.setUserKey("u2")), T0.plusSeconds(5));
        p.send(pairwise("anon-1"), T0.plusSeconds(6));
        assertThat(p.pairs())
            .extracting(pp -> pp.getEventIds().get(0))
            .containsExactly("flood-0", "flood-1", "flood-2", "calm", "anon-1");
        List<Rejection> dead = p.deadLetters();
        assertThat(dead).extracting(Rejection::getReason).containsOnly("rate_limited").hasSize(2);
        assertThat(dead).extracting(Rejection::getEventId).containsExactly("flood-3", "flood-4");
        assertThat(dead.get(0).getMessage()).contains("u1", "ingest.rate.limit.events=3");
        p.send(pairwise("next-window", b -> b.setUserKey("u1")), T0.plusSeconds(61));
        assertThat(p.pairs()).hasSize(1);
      }
    }

    @Test
    void theLimitIsPerModel() {
      try (Pipeline p = new Pipeline(Map.of(IngestConfig.RATE_LIMIT_EVENTS_CONFIG, 1))) {
        p.send(pairwise("a", b -> b.setUserKey("u1")));
        p.send(pairwise("b", b -> b.setUserKey("u1").setModelId("model-b")));
        assertThat(p.pairs()).hasSize(2);
        assertThat(p.deadLetters()).isEmpty();
      }
    }

    @Test
    void textsAreComparedAndStoredInNfc() {
      try (Pipeline p = new Pipeline()) {
        p.send(pairwise("nfc-same", b -> b.setChosen("Cafe\u0301").setRejected("Caf\u00e9")));
        p.send(pairwise("nfc", b -> b.setChosen("Cafe\u0301").setRejected("Tea")));
        assertThat(p.reasons()).containsExactly("identical_responses");
        assertThat(p.pairs().get(0).getChosen()).isEqualTo("Caf\u00e9");
      }
    }
  }

  @Nested
  class DeadLetters {
    @Test
    void unreadableBytesAreDeadLetteredWithTheirOriginalBytesAndOffset() {
      try (Pipeline p = new Pipeline()) {
        byte[] key = "model-a".getBytes(StandardCharsets.UTF_8);
        byte[] json = "{\"event_id\":\"x\"}".getBytes(StandardCharsets.UTF_8);
        p.feedback.pipeInput(key, json);
        p.feedback.pipeInput(key, new byte[] {0, 0});
        p.feedback.pipeInput(key, new byte[0]);

        List<KeyValue<byte[], Rejection>> out = p.deadLetters.readKeyValuesToList();
        assertThat(out)
            .extracting(kv -> kv.value.getReason())
            .containsExactly("bad_magic_byte", "truncated_header", "empty_value");
        Rejection first = out.get(0).value;
        assertThat(out.get(0).key).isEqualTo(key);
        assertThat(first.getOriginalValue().array()).isEqualTo(json);
        assertThat(first.getSourceTopic()).isEqualTo(p.topics.feedback());
        assertThat(first.getSourcePartition()).isZero();
        assertThat(out).extracting(kv -> kv.value.getSourceOffset()).containsExactly(0L, 1L, 2L);
        assertThat(first.getMessage()).contains("0x7b");
        assertThat(first.getEventId()).isNull();
      }
    }

    @Test
    void lateRejectionsKeepTheOriginalKeyAndBytesToo() {
      try (Pipeline p = new Pipeline()) {
        byte[] oddKey = {0, 1, 2, (byte) 0xff};
        byte[] value = p.encode(pairwise("dup"));
        p.feedback.pipeInput(oddKey, value);
        p.feedback.pipeInput(oddKey, value);
        List<KeyValue<byte[], Rejection>> out = p.deadLetters.readKeyValuesToList();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).key).isEqualTo(oddKey);
        assertThat(out.get(0).value.getOriginalKey().array()).isEqualTo(oddKey);
        assertThat(out.get(0).value.getOriginalValue().array()).isEqualTo(value);
        assertThat(out.get(0).value.getSourceOffset()).isEqualTo(1);
        assertThat(p.pairs()).hasSize(1);
      }
    }

    @Test
    void aPoisonPillDoesNotStopTheStream() {
      try (Pipeline p = new Pipeline()) {
        p.send(pairwise("before"));
        p.feedback.pipeInput(
            "k".getBytes(StandardCharsets.UTF_8), new byte[] {0, 0, 0, 0, 9, 1, 2});
        p.send(pairwise("after"));
        assertThat(p.pairs())
            .extracting(pp -> pp.getEventIds().get(0))
            .containsExactly("before", "after");
        assertThat(p.reasons()).containsExactly("unknown_schema_id");
      }
    }

    @Test
    void rejectionsAreCountedPerReason() {
      try (Pipeline p = new Pipeline()) {
        p.feedback.pipeInput(null, new byte[] {1});
        p.feedback.pipeInput(null, new byte[] {7, 7, 7, 7, 7, 7});
        p.send(pairwise("x", b -> b.setChosen(null)));
        p.send(pairwise("ok"));
        p.send(pairwise("ok"));
        p.served.pipeInput(null, new byte[0]);
        assertThat(p.deadLetters()).hasSize(5);
        assertThat(p.counters())
            .containsExactlyInAnyOrderEntriesOf(
                Map.of(
                    "truncated_header", 1L,
                    "bad_magic_byte", 1L,
                    "missing_field", 1L,
                    "duplicate_event", 1L,
                    "empty_value", 1L));
      }
    }

    @Test
    void aChoiceOutsideItsImpressionIsABadIndex() {
      try (Pipeline p = new Pipeline()) {
        p.serve(impression("req", List.of("x", "y")));
        p.send(choice("c", "req", 2));
        p.send(choice("c-same", "req", 0, b -> {}));
        p.serve(impression("req-dup", List.of("x", "x")));
        p.send(choice("c-dup", "req-dup", 1));
        assertThat(p.deadLetters())
            .extracting(Rejection::getEventId, Rejection::getReason)
            .containsExactly(
                org.assertj.core.groups.Tuple.tuple("c", "bad_chosen_index"),
                org.assertj.core.groups.Tuple.tuple("c-dup", "identical_responses"));
        assertThat(p.pairs()).hasSize(1);
      }
    }
  }

  @Test
  void everyOperatorAndStoreIsNamed() {
    try (Pipeline p = new Pipeline(Map.of(IngestConfig.BINARY_PAIR_WINDOW_MS_CONFIG, 1000))) {
      TopologyDescription description =
          IngestTopology.build(
                  new IngestConfig(Map.of(IngestConfig.BINARY_PAIR_WINDOW_MS_CONFIG, 1000)),
                  p.registry,
                  2)
              .describe();
      String text = description.toString();
      assertThat(text).doesNotContain("KSTREAM-").doesNotContain("KTABLE-");
      assertThat(text)
          .contains(
              "event-ids",
              "user-rates",
              "impressions",
              "waiting-choices",
              "binary-pending",
              "by-model-repartition");
      // one sub-topology: records owned by the task that read them skip the by-model topic
      assertThat(description.subtopologies()).hasSize(1);
      // every node costs every record Kafka Streams' per-node work: the hot path, feedback read
      // by the task owning its model to the pairs topic, stays short (19 nodes with split
      // branches, 12 with processors forwarding by name, 4 with the model's steps in one node)
      assertThat(
              shortestPath(description, IngestTopology.FEEDBACK_SOURCE, IngestTopology.PAIRS_SINK))
          .containsExactly(
              IngestTopology.FEEDBACK_SOURCE,
              IngestTopology.DECODE_FEEDBACK,
              IngestTopology.PER_MODEL,
              IngestTopology.PAIRS_SINK);
    }
  }

  /** The node names on a shortest path between two nodes of the topology (breadth first). */
  private static List<String> shortestPath(
      TopologyDescription description, String from, String to) {
    Map<String, TopologyDescription.Node> nodes = new java.util.HashMap<>();
    description
        .subtopologies()
        .forEach(sub -> sub.nodes().forEach(node -> nodes.put(node.name(), node)));
    Map<String, String> parent = new java.util.HashMap<>();
    java.util.ArrayDeque<String> queue = new java.util.ArrayDeque<>(List.of(from));
    parent.put(from, from);
    while (!queue.isEmpty()) {
      String name = queue.poll();
      for (TopologyDescription.Node next : nodes.get(name).successors()) {
        if (parent.putIfAbsent(next.name(), name) == null) {
          queue.add(next.name());
        }
      }
    }
    java.util.LinkedList<String> path = new java.util.LinkedList<>();
    for (String at = to; !at.equals(from); at = parent.get(at)) {
      path.addFirst(at);
    }
    path.addFirst(from);
    return path;
  }

  @Test
  void manyEventsComeOutExactlyOnceEach() {
    try (Pipeline p = new Pipeline()) {
      IntStream.range(0, 200).forEach(i -> p.send(pairwise("bulk-" + i)));
      assertThat(p.pairs())
          .extracting(pp -> pp.getEventIds().get(0))
          .containsExactlyElementsOf(IntStream.range(0, 200).mapToObj(i -> "bulk-" + i).toList());
    }
  }
}
