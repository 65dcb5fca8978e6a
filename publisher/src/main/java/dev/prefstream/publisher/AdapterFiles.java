package dev.prefstream.publisher;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.FileNames;
import dev.prefstream.schemas.Sha256;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The files of one adapter version as a PEFT directory holds them: {@value #CONFIG} and {@value
 * #WEIGHTS}, which vLLM, SGLang and Hugging Face PEFT load as is. Iteration order is by name, so
 * chunking is deterministic.
 */
public final class AdapterFiles {
  public static final String CONFIG = FileNames.ADAPTER_CONFIG;
  public static final String WEIGHTS = FileNames.ADAPTER_WEIGHTS;

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Map<String, byte[]> files;

  private AdapterFiles(Map<String, byte[]> files) {
    this.files = Collections.unmodifiableMap(files);
  }

  /** A PEFT adapter: its config JSON and its safetensors weights. */
  public static AdapterFiles peft(String adapterConfigJson, byte[] safetensors) {
    Map<String, byte[]> files = new TreeMap<>();
    files.put(CONFIG, adapterConfigJson.getBytes(StandardCharsets.UTF_8));
    files.put(WEIGHTS, Objects.requireNonNull(safetensors, "safetensors"));
    return new AdapterFiles(files);
  }

  /** Files as received; both PEFT files must be present. */
  public static AdapterFiles of(Map<String, byte[]> files) {
    for (String required : new String[] {CONFIG, WEIGHTS}) {
      if (!files.containsKey(required)) {
        throw new IllegalArgumentException(
            "a PEFT adapter needs " + required + ", got files " + files.keySet());
      }
    }
    return new AdapterFiles(new TreeMap<>(files));
  }

  /** Name to content, ordered by name. */
  public Map<String, byte[]> files() {
    return files;
  }

  public byte[] weights() {
    return files.get(WEIGHTS);
  }

  /** Hex sha-256 of the weights: the adapter's identity. */
  public String sha256() {
    return sha256(weights());
  }

  public static String sha256(byte[] bytes) {
    return Sha256.hex(bytes);
  }
}
