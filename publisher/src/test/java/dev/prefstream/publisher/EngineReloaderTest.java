package dev.prefstream.publisher;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineReloaderTest {
  @TempDir Path root;

  record Outcome(String engine, String name, boolean ok) {}

  private Path version(long v, String config) throws Exception {
    VersionStore store = new VersionStore(root);
    AdapterFiles files =
        config == null
            ? TestManifests.files(100, v)
            : AdapterFiles.peft(config, TestManifests.files(100, v).weights());
    return store.write(TestManifests.complete("m", v, files), files.files());
  }

  private static Outcome next(BlockingQueue<Outcome> q) throws InterruptedException {
    Outcome o = q.poll(30, TimeUnit.SECONDS);
    assertThat(o).as("an engine call finished within 30 s").isNotNull();
    return o;
  }

  @Test
  void eachVersionIsLoadedUnderANewNameAndTheOldOneUnloadedAfterTheGrace() throws Exception {
    BlockingQueue<Outcome> outcomes = new LinkedBlockingQueue<>();
    Counters counters = new Counters();
    try (VllmContractServer vllm = new VllmContractServer(TestManifests.BASE, 16, false);
        VllmContractServer sglang = new VllmContractServer(TestManifests.BASE, 16, true);
        EngineReloader reloader =
            new EngineReloader(
                List.of(
                    new EngineClient(EngineClient.Kind.VLLM, vllm.url()),
                    new EngineClient(EngineClient.Kind.SGLANG, sglang.url())),
                false,
                3,
                10,
                0,
                counters,
                (engine, model, v, name, ok) ->
                    outcomes.add(new Outcome(engine.label(), name, ok)))) {
      reloader.versionReady("m", 1, version(1, null));
      assertThat(List.of(next(outcomes), next(outcomes)))
          .extracting(Outcome::ok, Outcome::name)
          .containsOnly(org.assertj.core.groups.Tuple.tuple(true, "m@v1"));
      reloader.versionReady("m", 2, version(2, null));
      next(outcomes);
      next(outcomes);
      VllmContractServer.Call unload = awaitPath(vllm, "/v1/unload_lora_adapter");
      assertThat(unload.body().get("lora_name").asText()).isEqualTo("m@v1");
      assertThat(unload.status()).isEqualTo(200);
      assertThat(awaitPath(sglang, "/unload_lora_adapter").status()).isEqualTo(200);
      assertThat(vllm.loaded()).containsOnlyKeys("m@v2");
      assertThat(vllm.loaded().get("m@v2")).isEqualTo(root.resolve("m/v2").toString());
      assertThat(counters.get("engine.vllm " + vllm.url() + ".load.ok")).isEqualTo(2);
      assertThat(reloader.status().get("vllm " + vllm.url())).contains("loaded m@v2");
    }
  }

  private static VllmContractServer.Call awaitPath(VllmContractServer server, String path)
      throws InterruptedException {
    while (true) {
      VllmContractServer.Call c = server.calls.poll(30, TimeUnit.SECONDS);
      assertThat(c).as("a call to %s within 30 s", path).isNotNull();
      if (c.path().equals(path)) {
        return c;
      }
    }
  }

  @Test
  void aServerThatIsNotReadyIsRetriedWithBackoff() throws Exception {
    BlockingQueue<Outcome> outcomes = new LinkedBlockingQueue<>();
    try (VllmContractServer vllm = new VllmContractServer(TestManifests.BASE, 16, false);
        EngineReloader reloader =
            new EngineReloader(
                List.of(new EngineClient(EngineClient.Kind.VLLM, vllm.url())),
                false,
                4,
                5,
                0,
                new Counters(),
                (engine, model, v, name, ok) ->
                    outcomes.add(new Outcome(engine.label(), name, ok)))) {
      vllm.failNext(2);
      reloader.versionReady("m", 1, version(1, null));
      assertThat(next(outcomes).ok()).isTrue();
      assertThat(vllm.calls)
          .extracting(VllmContractServer.Call::status)
          .containsExactly(503, 503, 200);
    }
  }

  @Test
  void vllmsRefusalsArePermanentAndReported() throws Exception {
    BlockingQueue<Outcome> outcomes = new LinkedBlockingQueue<>();
    Counters counters = new Counters();
    try (VllmContractServer vllm = new VllmContractServer("another-base", 16, false);
        EngineReloader reloader =
            new EngineReloader(
                List.of(new EngineClient(EngineClient.Kind.VLLM, vllm.url())),
                false,
                5,
                5,
                0,
                counters,
                (engine, model, v, name, ok) ->
                    outcomes.add(new Outcome(engine.label(), name, ok)))) {
      reloader.versionReady("m", 1, version(1, null));
      assertThat(next(outcomes).ok()).isFalse();
      assertThat(vllm.calls).hasSize(1);
      assertThat(vllm.calls.peek().status()).isEqualTo(400);
      assertThat(counters.get("engine.vllm " + vllm.url() + ".load.failed")).isEqualTo(1);
      assertThat(reloader.status().get("vllm " + vllm.url()))
          .contains("FAILED")
          .contains("is not the served model another-base");
    }
  }

  @Test
  void theContractServerRejectsWhatVllmRejects() throws Exception {
    try (VllmContractServer vllm = new VllmContractServer(TestManifests.BASE, 8, false)) {
      EngineClient client = new EngineClient(EngineClient.Kind.VLLM, vllm.url());
      Path missing = root.resolve("nothing-here");
      EngineClient.Reply notFound = client.load("x", missing, false);
      assertThat(notFound.status()).isEqualTo(404);
      assertThat(notFound.body())
          .contains("No adapter found")
          .contains("\"type\":\"NotFoundError\"");
      Path bigRank = version(1, TestManifests.peftConfig().replace("\"r\": 4", "\"r\": 64"));
      assertThat(client.load("x", bigRank, false).body()).contains("max_lora_rank");
      Path notLora = version(2, TestManifests.peftConfig().replace("LORA", "PREFIX_TUNING"));
      assertThat(client.load("x", notLora, false).status()).isEqualTo(400);
      Path good = version(3, null);
      assertThat(client.load("x", good, false).ok()).isTrue();
      EngineClient.Reply again = client.load("x", good, false);
      assertThat(again.alreadyLoaded()).isTrue();
      assertThat(client.load("x", good, true).ok()).as("load_inplace reloads").isTrue();
      assertThat(client.unload("x").ok()).isTrue();
      assertThat(client.unload("x").notFound()).isTrue();
      EngineClient sglangPaths = new EngineClient(EngineClient.Kind.SGLANG, vllm.url());
      assertThat(sglangPaths.load("y", good, false).status())
          .as("vLLM has no un-prefixed route")
          .isEqualTo(404);
      assertThat(Files.exists(good)).isTrue();
    }
  }
}
