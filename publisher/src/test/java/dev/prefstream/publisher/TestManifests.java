package dev.prefstream.publisher;

import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.BatchStatus;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.TrainingBatch;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Manifests and PEFT files for tests. */
final class TestManifests {
  static final String BASE = "tiny-llama";

  private TestManifests() {}

  /** A PEFT adapter_config.json such as the trainer writes, for the base {@value #BASE}. */
  static String peftConfig() {
    return "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\":"
        + " [\"q_proj\", \"v_proj\"], \"base_model_name_or_path\": \""
        + BASE
        + "\", \"task_type\": \"CAUSAL_LM\"}";
  }

  static AdapterFiles files(int weightBytes, long seed) {
    byte[] w = new byte[weightBytes];
    new Random(seed).nextBytes(w);
    return AdapterFiles.peft(peftConfig(), w);
  }

  /** Everything but files, sha256 and created_at, as AdapterPublisher expects. */
  static AdapterManifest.Builder builder(String model, long version) {
    OffsetRange range = new OffsetRange("prefstream.pairs", 0, 10L * version, 10L * version + 10);
    return AdapterManifest.newBuilder()
        .setModelId(model)
        .setVersion(version)
        .setParentVersion(version == 1 ? null : version - 1)
        .setBaseModel(new BaseModel(BASE, "ab".repeat(32)))
        .setLineage(List.of(range))
        .setBatches(List.of(new TrainingBatch(version, List.of(range), 10, BatchStatus.APPLIED)))
        .setPairs(10)
        .setSeed(7)
        .setConfigHash("cd".repeat(32))
        .setTrainerId("test")
        .setMetrics(Map.of("loss", 0.69));
  }

  /** A complete manifest describing {@code files} as one chunk each. */
  static AdapterManifest complete(String model, long version, AdapterFiles files) {
    return builder(model, version)
        .setOrigin(AdapterOrigin.TRAINED)
        .setFiles(
            files.files().entrySet().stream()
                .map(e -> FileChunks.describe(e.getKey(), e.getValue(), 1))
                .toList())
        .setSha256(files.sha256())
        .setCreatedAt(Instant.ofEpochMilli(1_700_000_000_000L))
        .build();
  }
}
