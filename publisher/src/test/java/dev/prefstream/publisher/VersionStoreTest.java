package dev.prefstream.publisher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.schemas.avro.AdapterManifest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VersionStoreTest {
  @TempDir Path root;

  private Path write(VersionStore store, long version) throws Exception {
    AdapterFiles files = TestManifests.files(500, version);
    return store.write(TestManifests.complete("m", version, files), files.files());
  }

  @Test
  void pathsNeverLeaveTheRoot() {
    VersionStore store = new VersionStore(root.resolve("sink"));
    assertThatThrownBy(() -> store.modelDir("../escape"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.modelDir("..")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.modelDir("/abs")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.versionDir("m", 0)).isInstanceOf(IllegalArgumentException.class);
    assertThat(store.versionDir("m", 3)).isEqualTo(root.resolve("sink/m/v3"));
  }

  @Test
  void aWrittenVersionHoldsItsManifestAndAMismatchingOneIsReplaced() throws Exception {
    VersionStore store = new VersionStore(root);
    AdapterFiles files = TestManifests.files(500, 1);
    AdapterManifest manifest = TestManifests.complete("m", 1, files);
    assertThat(store.holds(manifest)).isFalse();
    Path dir = store.write(manifest, files.files());
    assertThat(store.holds(manifest)).isTrue();
    assertThat(Files.readAllBytes(dir.resolve(AdapterFiles.WEIGHTS))).isEqualTo(files.weights());
    assertThat(dir.resolve(VersionStore.MANIFEST_FILE)).exists();

    // a power loss truncated the weights: same size check fails
    Files.write(dir.resolve(AdapterFiles.WEIGHTS), new byte[10]);
    assertThat(store.holds(manifest)).isFalse();
    // same size, other bytes: the sha-256 check fails
    byte[] flipped = files.weights().clone();
    flipped[7] ^= 1;
    Files.write(dir.resolve(AdapterFiles.WEIGHTS), flipped);
    assertThat(store.holds(manifest)).isFalse();
    store.write(manifest, files.files());
    assertThat(store.holds(manifest)).isTrue();
    try (var entries = Files.list(root.resolve("m"))) {
      assertThat(entries.map(p -> p.getFileName().toString())).containsExactly("v1");
    }
  }

  @Test
  void leftoversOfACrashAreRemoved() throws Exception {
    VersionStore store = new VersionStore(root);
    write(store, 1);
    Files.createDirectories(root.resolve("m/.tmp-v2-123"));
    Files.write(root.resolve("m/.tmp-v2-123/adapter_model.safetensors"), new byte[3]);
    Files.createDirectories(root.resolve("m/.stale-v1-9"));
    assertThat(store.removeLeftovers()).isEqualTo(2);
    try (var entries = Files.list(root.resolve("m"))) {
      assertThat(entries.map(p -> p.getFileName().toString())).containsExactly("v1");
    }
  }

  @Test
  void latestOnlyMovesForward() throws Exception {
    VersionStore store = new VersionStore(root);
    write(store, 1);
    write(store, 2);
    assertThat(store.advanceLatest("m", 2, 0)).hasValue(0);
    assertThat(store.advanceLatest("m", 1, 0)).isEmpty();
    assertThat(store.latest("m")).hasValue(2);
    assertThat(Files.readSymbolicLink(root.resolve("m/latest"))).isEqualTo(Path.of("v2"));
  }

  @Test
  void pruningKeepsLatestAndTheOneBeforeAndWaitsTheGracePeriod() throws Exception {
    VersionStore store = new VersionStore(root);
    for (long v = 1; v <= 4; v++) {
      write(store, v);
      store.advanceLatest("m", v, 1000 * v);
    }
    // keep 1, but latest (v4) and the one before (v3) stay; v1, v2 stopped being latest at 2000
    // and 3000: with a grace of 1500 ms, at 3600 only v1 may go
    assertThat(store.prune("m", 1, 1500, 3600)).containsExactly(root.resolve("m/v1"));
    assertThat(store.versionsOnDisk("m")).containsExactly(2L, 3L, 4L);
    assertThat(store.prune("m", 1, 1500, 4600)).containsExactly(root.resolve("m/v2"));
    assertThat(store.prune("m", 1, 0, 1_000_000)).isEmpty();
    assertThat(store.versionsOnDisk("m")).containsExactly(3L, 4L);
  }

  @Test
  void aVersionFoundAtStartWaitsTheWholeGraceBeforePruning() throws Exception {
    VersionStore before = new VersionStore(root);
    for (long v = 1; v <= 3; v++) {
      write(before, v);
      before.advanceLatest("m", v, 0);
    }
    VersionStore restarted = new VersionStore(root);
    assertThat(restarted.prune("m", 1, 100, 5000)).isEmpty();
    assertThat(restarted.prune("m", 1, 100, 5100)).containsExactly(root.resolve("m/v1"));
  }

  @Test
  void filesAreWrittenUnderTheirCheckedNamesOnly() {
    VersionStore store = new VersionStore(root);
    AdapterFiles files = TestManifests.files(10, 1);
    AdapterManifest manifest = TestManifests.complete("m", 1, files);
    Map<String, byte[]> wrong = Map.of("../evil", new byte[1]);
    AdapterManifest evil =
        AdapterManifest.newBuilder(manifest)
            .setFiles(
                java.util.List.of(
                    new dev.prefstream.schemas.avro.AdapterFile("../evil", 1L, "00".repeat(32), 1)))
            .build();
    assertThatThrownBy(() -> store.write(evil, wrong)).isInstanceOf(IllegalArgumentException.class);
    assertThat(root.resolve("evil")).doesNotExist();
  }
}
