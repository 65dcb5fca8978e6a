package dev.prefstream.cli;

import dev.prefstream.publisher.TopicScan;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import dev.prefstream.schemas.avro.VersionRefusal;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.schemas.serde.WireFormatException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One model's manifests and refusals as the {@code adapters} topic holds them, for reports. Unlike
 * a reader that must reproduce a version, a report goes past what it cannot read: a record keyed by
 * the model that does not decode, or whose payload names another model, is skipped and listed
 * (topic-partition@offset and reason), and counted by reason.
 */
record AdapterHistory(
    String modelId,
    List<AdapterManifest> versions,
    List<VersionRefusal> refusals,
    List<String> skipped,
    Map<String, Integer> skippedByReason) {

  /** At most this many skipped records are listed one by one (all are counted). */
  static final int MAX_LISTED = 50;

  static AdapterHistory read(CommonConfig config, String modelId) {
    ConfluentAvro<AdapterRecord> codec =
        new ConfluentAvro<>(AdapterRecord.class, config.schemaRegistry(), false);
    List<AdapterManifest> versions = new ArrayList<>();
    List<VersionRefusal> refusals = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    Map<String, Integer> byReason = new TreeMap<>();
    TopicScan.readAll(
        config.kafkaClientProperties(),
        config.topics().adapters(),
        record -> {
          if (!modelId.equals(record.key())) {
            return;
          }
          String where = record.topic() + "-" + record.partition() + "@" + record.offset();
          String problem;
          try {
            Object payload = codec.decode(record.value()).getPayload();
            if (payload instanceof AdapterManifest m && modelId.equals(m.getModelId())) {
              versions.add(m);
              return;
            } else if (payload instanceof VersionRefusal r && modelId.equals(r.getModelId())) {
              refusals.add(r);
              return;
            } else if (!(payload instanceof AdapterManifest || payload instanceof VersionRefusal)) {
              return; // a chunk: the report needs no weights
            }
            problem = "model_mismatch";
          } catch (WireFormatException e) {
            problem = e.reason().code();
          }
          byReason.merge(problem, 1, Integer::sum);
          if (skipped.size() < MAX_LISTED) {
            skipped.add(where + " " + problem);
          }
        });
    versions.sort(Comparator.comparingLong(AdapterManifest::getVersion));
    refusals.sort(Comparator.comparing(VersionRefusal::getCreatedAt));
    return new AdapterHistory(
        modelId, List.copyOf(versions), List.copyOf(refusals), skipped, byReason);
  }

  int skippedCount() {
    return skippedByReason.values().stream().mapToInt(Integer::intValue).sum();
  }
}
