package dev.prefstream.trainer.stream;

import dev.prefstream.publisher.AdapterPublisher;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.TrainerState;
import dev.prefstream.schemas.registry.SchemaRegistry;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;

/**
 * What a version published outside the trainer (an {@code audit forget} rebuild) commits for the
 * trainer: its state set to the rebuilt one (weights, optimizer moments), the model's input
 * positions and step unchanged, also kept as the version's snapshot for replay. A running trainer
 * is fenced by the publish (same transactional id) and reloads this state.
 */
public final class StateReset {
  private StateReset() {}

  public static AdapterPublisher.Alongside to(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String modelId,
      long version,
      Map<String, byte[]> stateFiles,
      String configHash,
      Map<String, String> settings) {
    TrainerStateWriter writer =
        new TrainerStateWriter(topics, registry, AdapterPublisher.DEFAULT_CHUNK_BYTES);
    TrainerStateReader.Restored current =
        TrainerStateReader.read(clientProperties, topics, registry, Set.of(modelId)).get(modelId);
    TrainerState.Builder state =
        TrainerState.newBuilder()
            .setStep(current == null ? 0 : current.state().getStep())
            .setPositions(current == null ? List.of() : current.state().getPositions())
            .setSkippedBatches(current == null ? 0 : current.state().getSkippedBatches())
            .setLossState(Map.of())
            .setConfigHash(configHash)
            .setSettings(settings);
    StateSnapshot snapshot = new StateSnapshot(state, stateFiles);
    return writer.withSnapshot(
        writer.alongside(
            modelId, version, snapshot, List.of(), Map.of(), new ConsumerGroupMetadata("none")),
        modelId,
        version,
        snapshot);
  }
}
