package dev.prefstream.publisher;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.schemas.avro.AdapterChunk;
import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterRecord;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AdapterRecordCheckTest {
  private final AdapterRecordCheck check = new AdapterRecordCheck(10_000);
  private final AdapterManifest good = TestManifests.complete("m", 2, TestManifests.files(1000, 1));

  private String reason(String key, Object payload) {
    AdapterRecordCheck.Problem p = check.problem(key, new AdapterRecord(payload));
    return p == null ? null : p.reason();
  }

  private AdapterManifest withFile(int index, AdapterFile file) {
    List<AdapterFile> files = new ArrayList<>(good.getFiles());
    files.set(index, file);
    return AdapterManifest.newBuilder(good).setFiles(files).build();
  }

  @Test
  void aWellFormedManifestPasses() {
    assertThat(reason("m", good)).isNull();
  }

  @Test
  void modelIdsFollowTheOneRuleAndMatchTheKey() {
    for (String bad : List.of("../../pwned-1", "/etc", "a/b", "..", ".", "", "a\u0000b", "é")) {
      AdapterManifest m = AdapterManifest.newBuilder(good).setModelId(bad).build();
      assertThat(reason(bad, m)).as(bad).isEqualTo(AdapterRecordCheck.INVALID_MODEL_ID);
    }
    assertThat(reason("other", good)).isEqualTo(AdapterRecordCheck.KEY_MISMATCH);
    assertThat(reason(null, good)).isEqualTo(AdapterRecordCheck.KEY_MISMATCH);
  }

  @Test
  void fileNamesAreSingleSafeSegments() {
    AdapterFile f = good.getFiles().get(0);
    for (String bad :
        List.of(
            "../x",
            "a/b",
            "/abs",
            "..",
            ".hidden",
            "a\\b",
            "x\u0000",
            "prefstream-manifest.json")) {
      AdapterManifest m = withFile(0, new AdapterFile(bad, f.getSize(), f.getSha256(), 1));
      assertThat(reason("m", m)).as(bad).isEqualTo(AdapterRecordCheck.INVALID_FILE_NAME);
      AdapterChunk chunk = new AdapterChunk("m", 2L, bad, 0, 1, ByteBuffer.allocate(1));
      assertThat(reason("m", chunk)).as(bad).isEqualTo(AdapterRecordCheck.INVALID_FILE_NAME);
    }
    assertThat(AdapterRecordCheck.isValidFileName("tokenizer.json")).isTrue();
    assertThat(AdapterRecordCheck.isValidFileName("extra_file-1.bin")).isTrue();
  }

  @Test
  void sizesAreBounded() {
    AdapterFile f = good.getFiles().get(1);
    assertThat(reason("m", withFile(1, new AdapterFile(f.getName(), 1L << 31, f.getSha256(), 1))))
        .isEqualTo(AdapterRecordCheck.TOO_LARGE);
    assertThat(reason("m", withFile(1, new AdapterFile(f.getName(), -1L, f.getSha256(), 1))))
        .isEqualTo(AdapterRecordCheck.TOO_LARGE);
    assertThat(
            reason(
                "m",
                new AdapterChunk(
                    "m", 2L, "adapter_model.safetensors", 0, 1, ByteBuffer.allocate(10_001))))
        .isEqualTo(AdapterRecordCheck.TOO_LARGE);
  }

  @Test
  void aManifestMustDescribeAPeftAdapterWhoseWeightsItNames() {
    AdapterManifest noWeights =
        AdapterManifest.newBuilder(good).setFiles(List.of(good.getFiles().get(0))).build();
    assertThat(reason("m", noWeights)).isEqualTo(AdapterRecordCheck.INVALID_MANIFEST);
    AdapterManifest otherSha = AdapterManifest.newBuilder(good).setSha256("00".repeat(32)).build();
    assertThat(reason("m", otherSha)).isEqualTo(AdapterRecordCheck.INVALID_MANIFEST);
    AdapterManifest twice =
        AdapterManifest.newBuilder(good)
            .setFiles(
                List.of(good.getFiles().get(0), good.getFiles().get(0), good.getFiles().get(1)))
            .build();
    assertThat(reason("m", twice)).isEqualTo(AdapterRecordCheck.INVALID_MANIFEST);
    assertThat(reason("m", AdapterManifest.newBuilder(good).setVersion(0).build()))
        .isEqualTo(AdapterRecordCheck.INVALID_VERSION);
    assertThat(reason("m", AdapterManifest.newBuilder(good).setParentVersion(2L).build()))
        .isEqualTo(AdapterRecordCheck.INVALID_VERSION);
  }

  @Test
  void chunkPositionsAreChecked() {
    assertThat(
            reason(
                "m",
                new AdapterChunk("m", 2L, "adapter_config.json", 3, 3, ByteBuffer.allocate(1))))
        .isEqualTo(AdapterRecordCheck.INVALID_CHUNK);
    assertThat(
            reason(
                "m",
                new AdapterChunk("m", 2L, "adapter_config.json", -1, 3, ByteBuffer.allocate(1))))
        .isEqualTo(AdapterRecordCheck.INVALID_CHUNK);
    assertThat(
            reason(
                "m",
                new AdapterChunk("m", 0L, "adapter_config.json", 0, 1, ByteBuffer.allocate(1))))
        .isEqualTo(AdapterRecordCheck.INVALID_VERSION);
    assertThat(
            reason(
                "m",
                new AdapterChunk("m", 2L, "adapter_config.json", 0, 1, ByteBuffer.allocate(1))))
        .isNull();
  }
}
