package dev.prefstream.publisher;

import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.registry.SchemaRegistry;
import java.util.List;
import java.util.Map;

/**
 * Publishes a new version of a model whose content is an earlier version's. History is never
 * rewritten: the rollback is version latest+1 with {@code origin = ROLLBACK} and {@code rollback_of
 * = N}.
 *
 * <p>It takes over the model's transactional.id for one transaction, which fences the running
 * trainer's producer first (aborting any transaction it has open), so the version numbers it reads
 * cannot move under it. The trainer state it commits holds version N's weights, the unchanged input
 * positions, and no optimizer moments (the optimizer starts afresh from the rolled-back weights).
 * The trainer notices at its next publish (fenced), reloads that state, and re-trains the pairs it
 * had not yet published on top of it.
 */
public final class Rollback {
  private Rollback() {}

  /**
   * What commits with a rollback version besides the adapter: the trainer's state reset to the
   * rolled-back weights (the trainer module knows that format; this module does not).
   */
  @FunctionalInterface
  public interface StateReset {
    AdapterPublisher.Alongside to(long newVersion, AdapterManifest target, AdapterFiles files);
  }

  /** The version written. */
  public static AdapterManifest run(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String trainerId,
      String modelId,
      long toVersion,
      StateReset stateReset) {
    return run(clientProperties, topics, registry, trainerId, modelId, toVersion, stateReset, null);
  }

  /**
   * As {@link #run(Map, Topics, SchemaRegistry, String, String, long, StateReset)}, the new version
   * signed by {@code signer} unless it is null. With a signer, the version rolled back to must
   * carry a valid signature of that same key: a rollback never re-signs content it cannot vouch
   * for.
   */
  public static AdapterManifest run(
      Map<String, Object> clientProperties,
      Topics topics,
      SchemaRegistry registry,
      String trainerId,
      String modelId,
      long toVersion,
      StateReset stateReset,
      ManifestSigner signer) {
    try (AdapterPublisher publisher =
        new AdapterPublisher(
            clientProperties,
            AdapterPublisher.transactionalId(trainerId, modelId),
            topics,
            registry,
            AdapterPublisher.DEFAULT_CHUNK_BYTES)) {
      AdapterLog log =
          AdapterLog.read(
              clientProperties,
              topics,
              registry,
              modelId,
              toVersion,
              signer == null ? null : signer.ownVerifier());
      AdapterManifest target =
          log.versions().stream()
              .filter(v -> v.getVersion() == toVersion)
              .findFirst()
              .orElseThrow();
      AdapterManifest latest = log.latest().orElseThrow();
      AdapterFiles files = log.files().orElseThrow();
      long newVersion = latest.getVersion() + 1;
      AdapterManifest.Builder manifest =
          AdapterManifest.newBuilder()
              .setModelId(modelId)
              .setVersion(newVersion)
              .setParentVersion(latest.getVersion())
              .setOrigin(AdapterOrigin.ROLLBACK)
              .setRollbackOf(toVersion)
              .setBaseModel(target.getBaseModel())
              .setLineage(List.of())
              .setBatches(List.of())
              .setPairs(0)
              .setSeed(target.getSeed())
              .setConfigHash(target.getConfigHash())
              .setTrainerId(trainerId)
              .setMetrics(target.getMetrics());
      return publisher
          .publish(manifest, files, stateReset.to(newVersion, target, files), signer)
          .manifest();
    }
  }
}
