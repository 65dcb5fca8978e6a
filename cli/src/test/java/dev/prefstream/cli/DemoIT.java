package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo as a user runs it: a separate JVM, real broker, registry, trainer and sink. */
class DemoIT {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path dataDir;

  @Test
  void twoVersionsBecomeLoadablePeftAdaptersThatDiffer() throws Exception {
    Process demo = start("demo", "--data-dir", dataDir.toString(), "--max-versions", "2");
    BufferedReader out = reader(demo);
    List<String> output = new ArrayList<>();
    long registry = awaitRunning(out, output);
    String line;
    while ((line = out.readLine()) != null) {
      output.add(line);
    }
    assertThat(demo.waitFor(5, TimeUnit.MINUTES)).isTrue();
    assertThat(demo.exitValue()).as(String.join("\n", output)).isZero();
    Path v1 = dataDir.resolve("adapters/demo/v1");
    Path v2 = dataDir.resolve("adapters/demo/v2");
    assertThat(output).contains("  " + v1, "  " + v2);

    Map<String, long[]> shapes1 = assertPeftAdapter(v1);
    Map<String, long[]> shapes2 = assertPeftAdapter(v2);
    assertThat(shapes2.keySet()).isEqualTo(shapes1.keySet());
    byte[] weights1 = Files.readAllBytes(v1.resolve("adapter_model.safetensors"));
    byte[] weights2 = Files.readAllBytes(v2.resolve("adapter_model.safetensors"));
    assertThat(weights2).isNotEqualTo(weights1);
    assertGone(registry);
  }

  @Test
  void ctrlCLeavesNoRegistryBehind() throws Exception {
    Process demo = start("demo", "--data-dir", dataDir.toString());
    long registry = awaitRunning(reader(demo), new ArrayList<>());
    assertThat(ProcessHandle.of(registry).map(ProcessHandle::isAlive)).contains(true);
    new ProcessBuilder("kill", "-INT", Long.toString(demo.pid())).start().waitFor();
    assertThat(demo.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertGone(registry);
  }

  /** Reads until the demo says it runs; returns the pid of its registry child. */
  private long awaitRunning(BufferedReader out, List<String> output) throws Exception {
    String line;
    while ((line = out.readLine()) != null) {
      output.add(line);
      if (line.startsWith("demo running")) {
        return Long.parseLong(
            Files.readString(dataDir.resolve("registry/registry.pid"), StandardCharsets.UTF_8)
                .trim());
      }
    }
    throw new AssertionError("the demo never came up:\n" + String.join("\n", output));
  }

  private static void assertGone(long pid) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
        && System.nanoTime() < deadline) {
      Thread.sleep(200);
    }
    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive))
        .as("the registry process " + pid + " outlived the demo")
        .isNotEqualTo(java.util.Optional.of(true));
  }

  private static BufferedReader reader(Process process) {
    return new BufferedReader(
        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
  }

  /** Every LoRA module has A [r, in] and B [out, r]; the config is what PEFT and vLLM read. */
  private static Map<String, long[]> assertPeftAdapter(Path dir) throws Exception {
    JsonNode config = JSON.readTree(dir.resolve("adapter_config.json").toFile());
    assertThat(config.path("peft_type").asText()).isEqualTo("LORA");
    int r = config.path("r").asInt();
    assertThat(r).isPositive();
    assertThat(config.path("lora_alpha").isNumber()).isTrue();
    assertThat(config.path("base_model_name_or_path").asText()).isNotBlank();
    List<String> targets = new ArrayList<>();
    config.path("target_modules").forEach(t -> targets.add(t.asText()));
    assertThat(targets).isNotEmpty();

    Map<String, long[]> shapes = safetensorsShapes(dir.resolve("adapter_model.safetensors"));
    Map<String, long[]> a = new HashMap<>();
    Map<String, long[]> b = new HashMap<>();
    shapes.forEach(
        (key, shape) -> {
          assertThat(key).startsWith("base_model.model.model.layers.");
          String module = key.substring(0, key.lastIndexOf(".lora_"));
          (key.endsWith(".lora_A.weight") ? a : b).put(module, shape);
        });
    assertThat(a.keySet()).isEqualTo(b.keySet());
    assertThat(a.keySet()).allSatisfy(m -> assertThat(targets).anyMatch(t -> m.endsWith("." + t)));
    a.forEach(
        (module, shapeA) -> {
          long[] shapeB = b.get(module);
          assertThat(shapeA).hasSize(2);
          assertThat(shapeA[0]).as(module + " lora_A rows").isEqualTo(r);
          assertThat(shapeB[1]).as(module + " lora_B cols").isEqualTo(r);
        });
    return shapes;
  }

  private static Map<String, long[]> safetensorsShapes(Path file) throws Exception {
    byte[] bytes = Files.readAllBytes(file);
    long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    JsonNode header =
        JSON.readTree(new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8));
    Map<String, long[]> shapes = new HashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> entry = it.next();
      if (!entry.getKey().equals("__metadata__")) {
        JsonNode shape = entry.getValue().path("shape");
        long[] dims = new long[shape.size()];
        for (int i = 0; i < dims.length; i++) {
          dims[i] = shape.get(i).asLong();
        }
        shapes.put(entry.getKey(), dims);
      }
    }
    return shapes;
  }

  private Process start(String... args) throws Exception {
    return ChildCli.builder(List.of(), List.of(args)).start();
  }
}
