package dev.prefstream.audit;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.Rejection;
import dev.prefstream.schemas.avro.TrainingBatch;
import dev.prefstream.schemas.avro.UnpairedFeedback;
import dev.prefstream.schemas.registry.SchemaRegistry;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.stream.PairSelection;
import dev.prefstream.trainer.stream.TrainerConfig;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The audits that read the topics alone: {@code trace} (what became of a feedback event; which
 * events made a version) and the plan of {@code forget} (a user's events, their pairs, the versions
 * they shaped). {@link Verifier}, {@link Replayer} and {@link Forget} do the rest.
 */
public final class Audit {
  static final ObjectMapper JSON = new ObjectMapper();

  private final Map<String, Object> clientProperties;
  private final Topics topics;
  private final SchemaRegistry registry;
  private final double defaultHoldoutPercent;
  private final List<Skipped> skipped = new ArrayList<>();
  private final Map<String, ModelHistory> histories = new HashMap<>();
  private final Map<String, SnapshotLog> snapshots = new HashMap<>();
  private PairLog pairs;
  private List<DeadLetter> deadLetters;

  /** A record of the dead-letter topic and where it sits. */
  record DeadLetter(int partition, long offset, Rejection rejection) {}

  /**
   * @param defaultHoldoutPercent the held-out share to assume for a model whose snapshots do not
   *     record its settings (the trainer's {@value TrainerConfig#HOLDOUT_PERCENT_CONFIG})
   */
  public Audit(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      double defaultHoldoutPercent) {
    this.clientProperties = clientProperties;
    this.topics = topics;
    this.registry = registry;
    this.defaultHoldoutPercent = defaultHoldoutPercent;
  }

  public ModelHistory history(String model) {
    return histories.computeIfAbsent(
        model, m -> ModelHistory.read(clientProperties, topics, registry, m));
  }

  public SnapshotLog snapshots(String model) {
    return snapshots.computeIfAbsent(
        model, m -> SnapshotLog.read(clientProperties, topics, registry, m));
  }

  public PairLog pairs() {
    if (pairs == null) {
      pairs =
          PairLog.read(clientProperties, topics.pairs(), registry)
              .withUnpaired(clientProperties, topics.unpaired(), registry);
    }
    return pairs;
  }

  private List<DeadLetter> deadLetters() {
    if (deadLetters == null) {
      List<DeadLetter> found = new ArrayList<>();
      TopicRecords.scan(
          clientProperties,
          topics.deadLetters(),
          new ConfluentAvro<>(Rejection.class, registry, false),
          skipped,
          (record, value) -> found.add(new DeadLetter(record.partition(), record.offset(), value)));
      deadLetters = found;
    }
    return deadLetters;
  }

  /** Dead letters by the position of the record they rejected. */
  private Map<String, Rejection> deadLettersBySource() {
    Map<String, Rejection> bySource = new HashMap<>();
    for (DeadLetter d : deadLetters()) {
      Rejection r = d.rejection();
      bySource.put(Fates.where(r.getSourceTopic(), r.getSourcePartition(), r.getSourceOffset()), r);
    }
    return bySource;
  }

  /** The held-out share the trainer of {@code model} used (recorded settings, else the default). */
  double holdoutPercent(String model) {
    ModelHistory history = history(model);
    List<AdapterManifest> manifests = history.manifests();
    for (int i = manifests.size() - 1; i >= 0; i--) {
      AdapterManifest m = manifests.get(i);
      Optional<Map<String, String>> settings = snapshots(model).settings(m.getConfigHash());
      if (settings.isPresent()
          && settings.get().containsKey(TrainerConfig.HOLDOUT_PERCENT_CONFIG)) {
        return Double.parseDouble(settings.get().get(TrainerConfig.HOLDOUT_PERCENT_CONFIG));
      }
    }
    return defaultHoldoutPercent;
  }

  Fates fates(String model) {
    return new Fates(
        history(model), deadLettersBySource(), new PairSelection(holdoutPercent(model)));
  }

  /**
   * What became of an unpaired record: a model with an unpaired loss (kto, apo_zero_unpaired)
   * trains it into the version whose batch ranges hold it; a model with a pair loss never reads it.
   */
  private void unpairedFate(ObjectNode u, UnpairedFeedback value) {
    String model = u.get("model").asText();
    String topic = u.get("topic").asText();
    int partition = u.get("partition").asInt();
    long offset = u.get("offset").asLong();
    if (dev.prefstream.schemas.ModelIds.isValid(model)) {
      for (AdapterManifest m : history(model).manifests()) {
        if (!holds(m.getLineage(), topic, partition, offset)) {
          continue;
        }
        u.put("version", m.getVersion());
        Rejection dead = deadLettersBySource().get(Fates.where(topic, partition, offset));
        if (dead != null) {
          u.put("fate", "dead_lettered");
          u.put("detail", dead.getReason());
          return;
        }
        boolean heldOut = new PairSelection(holdoutPercent(model)).heldOut(value);
        for (TrainingBatch b : m.getBatches()) {
          if (!heldOut && holds(b.getRanges(), topic, partition, offset)) {
            boolean applied = b.getStatus() == BatchStatus.APPLIED;
            u.put("fate", applied ? "trained" : "skipped_non_finite");
            return;
          }
        }
        u.put("fate", "held_out");
        u.put("detail", "inside v" + m.getVersion() + "'s range but in no batch");
        return;
      }
    }
    u.put("fate", "not_yet_trained");
    u.put(
        "detail",
        "in no version's lineage: not trained yet, or its model's trainer uses a pair loss (only"
            + " kto and apo_zero_unpaired read unpaired feedback)");
  }

  private static boolean holds(List<OffsetRange> ranges, String topic, int partition, long offset) {
    return ranges.stream()
        .anyMatch(
            r ->
                r.getTopic().equals(topic)
                    && r.getPartition() == partition
                    && r.getFromOffset() <= offset
                    && offset < r.getToOffset());
  }

  /**
   * {@code audit trace --event-id}: the pairs made from {@code eventId}, and what became of each.
   */
  public ObjectNode traceEvent(String eventId) {
    ObjectNode out = JSON.createObjectNode();
    out.put("event_id", eventId);
    ArrayNode pairNodes = out.putArray("pairs");
    for (PairLog.Entry e : pairs().find(e -> e.pair().getEventIds().contains(eventId))) {
      pairNodes.add(pairNode(e, true));
    }
    ArrayNode unpaired = out.putArray("unpaired");
    List<UnpairedFeedback> values = new ArrayList<>();
    TopicRecords.scan(
        clientProperties,
        topics.unpaired(),
        new ConfluentAvro<>(UnpairedFeedback.class, registry, false),
        skipped,
        (record, value) -> {
          if (value.getEventIds().contains(eventId)) {
            ObjectNode u = unpaired.addObject();
            u.put("feedback_id", value.getFeedbackId());
            u.put("model", value.getModelId());
            u.put("topic", record.topic());
            u.put("partition", record.partition());
            u.put("offset", record.offset());
            u.put("desirable", value.getDesirable());
            values.add(value);
          }
        });
    for (int i = 0; i < unpaired.size(); i++) {
      unpairedFate((ObjectNode) unpaired.get(i), values.get(i));
    }
    ArrayNode dead = out.putArray("dead_letters");
    for (DeadLetter d : deadLetters()) {
      Rejection r = d.rejection();
      if (eventId.equals(r.getEventId())) {
        ObjectNode n = dead.addObject();
        n.put("reason", r.getReason());
        n.put("message", r.getMessage());
        n.put("stage", r.getStage());
        n.put("source_topic", r.getSourceTopic());
        n.put("source_partition", r.getSourcePartition());
        n.put("source_offset", r.getSourceOffset());
        n.put("partition", d.partition());
        n.put("offset", d.offset());
      }
    }
    out.put("found", !pairNodes.isEmpty() || !unpaired.isEmpty() || !dead.isEmpty());
    out.set("skipped", skippedNode());
    return out;
  }

  private ObjectNode pairNode(PairLog.Entry e, boolean withDescendants) {
    ObjectNode n = JSON.createObjectNode();
    n.put("pair_id", e.pair().getPairId());
    n.put("model", e.model());
    n.put("kind", e.pair().getKind().name());
    n.put("topic", e.topic());
    n.put("partition", e.partition());
    n.put("offset", e.offset());
    n.set("event_ids", JSON.valueToTree(e.pair().getEventIds()));
    Fates fates = fates(e.model());
    Fates.Fate fate = fates.of(e.topic(), e.partition(), e.offset(), e.pair());
    n.put("fate", fate.fate());
    if (fate.version() != null) {
      n.put("version", fate.version());
    } else {
      n.putNull("version");
    }
    n.put("detail", fate.detail());
    if (withDescendants) {
      n.set(
          "descendants",
          JSON.valueToTree(
              fate.fate().equals(Fates.TRAINED) ? fates.descendants(fate.version()) : List.of()));
    }
    return n;
  }

  /**
   * {@code audit trace --version N --model M}: the pairs trained into a version, and their events.
   */
  public ObjectNode traceVersion(String model, long version) {
    ModelHistory history = history(model);
    AdapterManifest m =
        history
            .manifest(version)
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        model
                            + " has no version "
                            + version
                            + "; versions: "
                            + history.manifests().stream()
                                .map(AdapterManifest::getVersion)
                                .toList()));
    Fates fates = fates(model);
    ObjectNode out = JSON.createObjectNode();
    out.put("model", model);
    out.put("version", version);
    out.put("origin", m.getOrigin().name());
    if (m.getRollbackOf() != null) {
      out.put("rollback_of", m.getRollbackOf());
    }
    ArrayNode pairNodes = out.putArray("pairs");
    Set<String> events = new LinkedHashSet<>();
    for (PairLog.Entry e : trainedInto(m, fates)) {
      ObjectNode n = pairNodes.addObject();
      n.put("pair_id", e.pair().getPairId());
      n.put("kind", e.pair().getKind().name());
      n.put("topic", e.topic());
      n.put("partition", e.partition());
      n.put("offset", e.offset());
      n.set("event_ids", JSON.valueToTree(e.pair().getEventIds()));
      n.set("user_keys", JSON.valueToTree(e.pair().getUserKeys()));
      events.addAll(e.pair().getEventIds());
    }
    out.set("events", JSON.valueToTree(events));
    out.set("skipped", skippedNode());
    return out;
  }

  /** The pairs of {@code m}'s applied batches that were trained (and not left out by a forget). */
  List<PairLog.Entry> trainedInto(AdapterManifest m, Fates fates) {
    List<PairLog.Entry> trained = new ArrayList<>();
    PairSelection selection = new PairSelection(holdoutPercent(m.getModelId()));
    Map<String, Rejection> dead = deadLettersBySource();
    for (TrainingBatch batch : m.getBatches()) {
      if (batch.getStatus() != BatchStatus.APPLIED) {
        continue;
      }
      for (OffsetRange r : batch.getRanges()) {
        for (PairLog.Entry e :
            pairs().range(r.getTopic(), r.getPartition(), r.getFromOffset(), r.getToOffset())) {
          if (e.pair() != null
              && m.getModelId().equals(e.model())
              && !selection.heldOut(e.pair())
              && !dead.containsKey(Fates.where(e.topic(), e.partition(), e.offset()))
              && !m.getExcludedPairIds().contains(e.pair().getPairId())) {
            trained.add(e);
          }
        }
      }
    }
    return trained;
  }

  /** What {@code audit forget} would do for {@code userKey}: its events, pairs and versions. */
  public Forget.Plan forgetPlan(String userKey, String onlyModel) {
    Set<String> events = new LinkedHashSet<>();
    TopicRecords.scan(
        clientProperties,
        topics.feedback(),
        new ConfluentAvro<>(FeedbackEvent.class, registry, false),
        skipped,
        (record, value) -> {
          if (userKey.equals(value.getUserKey())
              && (onlyModel == null || onlyModel.equals(value.getModelId()))) {
            events.add(value.getEventId());
          }
        });
    ConfluentAvro<FeedbackEvent> feedback =
        new ConfluentAvro<>(FeedbackEvent.class, registry, false);
    List<String> deadLettered = new ArrayList<>();
    for (DeadLetter d : deadLetters()) {
      ByteBuffer original = d.rejection().getOriginalValue();
      if (original == null || !d.rejection().getSourceTopic().equals(topics.feedback())) {
        continue;
      }
      byte[] bytes = new byte[original.remaining()];
      original.duplicate().get(bytes);
      try {
        FeedbackEvent event = feedback.decode(bytes);
        if (userKey.equals(event.getUserKey())) {
          deadLettered.add(event.getEventId());
        }
      } catch (RuntimeException unreadable) {
        // a rejected record that cannot be read cannot name a user either
      }
    }
    List<Forget.PlannedPair> planned = new ArrayList<>();
    Map<String, TreeMap<Long, List<String>>> byModel = new TreeMap<>();
    for (PairLog.Entry e :
        pairs()
            .find(
                e ->
                    e.pair().getUserKeys().contains(userKey)
                        && (onlyModel == null || onlyModel.equals(e.model())))) {
      events.addAll(e.pair().getEventIds());
      Fates.Fate fate = fates(e.model()).of(e.topic(), e.partition(), e.offset(), e.pair());
      planned.add(
          new Forget.PlannedPair(
              e.pair().getPairId(),
              e.model(),
              e.topic(),
              e.partition(),
              e.offset(),
              fate.fate(),
              fate.version()));
      if (fate.fate().equals(Fates.TRAINED)) {
        byModel
            .computeIfAbsent(e.model(), k -> new TreeMap<>())
            .computeIfAbsent(fate.version(), k -> new ArrayList<>())
            .add(e.pair().getPairId());
      }
    }
    List<Forget.ModelPlan> models = new ArrayList<>();
    byModel.forEach(
        (model, shaped) -> {
          long first = shaped.firstKey();
          ModelHistory history = history(model);
          Long from = history.manifest(first).map(AdapterManifest::getParentVersion).orElse(null);
          List<Long> rebuild = new ArrayList<>();
          rebuild.add(first);
          rebuild.addAll(fates(model).descendants(first));
          for (Long v : shaped.keySet()) {
            if (!rebuild.contains(v)) {
              rebuild.add(v);
            }
          }
          rebuild.sort(Long::compare);
          models.add(new Forget.ModelPlan(model, first, from, rebuild, shaped));
        });
    return new Forget.Plan(userKey, List.copyOf(events), deadLettered, planned, models);
  }

  /** Records that could not be read on the way, with where they are and why. */
  public List<Skipped> skipped() {
    List<Skipped> all = new ArrayList<>(skipped);
    if (pairs != null) {
      all.addAll(pairs.skipped());
    }
    histories.values().forEach(h -> all.addAll(h.skipped()));
    snapshots.values().forEach(s -> all.addAll(s.skipped()));
    return all;
  }

  ArrayNode skippedNode() {
    return JSON.valueToTree(skipped());
  }

  Map<String, Object> clientProperties() {
    return clientProperties;
  }

  Topics topics() {
    return topics;
  }

  SchemaRegistry registry() {
    return registry;
  }
}
