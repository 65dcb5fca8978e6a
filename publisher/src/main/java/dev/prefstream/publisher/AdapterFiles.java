package dev.prefstream.publisher;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.Sha256;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
  public static final String CONFIG = "adapter_config.json";
  public static final String WEIGHTS = "adapter_model.safetensors";

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

  /**
   * True when every weight is a finite number: the last guard before a version leaves the trainer.
   * Reads the safetensors header and checks F32, F16 and BF16 tensors value by value.
   */
  public boolean weightsFinite() {
    byte[] bytes = weights();
    ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    long headerLength = buffer.getLong(0);
    if (headerLength < 2 || 8 + headerLength > bytes.length) {
      throw new IllegalArgumentException("not a safetensors file: header length " + headerLength);
    }
    int dataStart = (int) (8 + headerLength);
    JsonNode header;
    try {
      header = JSON.readTree(new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new IllegalArgumentException("unreadable safetensors header: " + e.getMessage(), e);
    }
    for (Map.Entry<String, JsonNode> tensor : header.properties()) {
      if (tensor.getKey().equals("__metadata__")) {
        continue;
      }
      String dtype = tensor.getValue().path("dtype").asText();
      int from = dataStart + tensor.getValue().path("data_offsets").get(0).asInt();
      int to = dataStart + tensor.getValue().path("data_offsets").get(1).asInt();
      for (int i = from; i < to; i += dtype.equals("F32") ? 4 : 2) {
        boolean finite =
            switch (dtype) {
              case "F32" -> Float.isFinite(buffer.getFloat(i));
              case "F16" -> (buffer.getShort(i) & 0x7C00) != 0x7C00;
              case "BF16" -> (buffer.getShort(i) & 0x7F80) != 0x7F80;
              default ->
                  throw new IllegalArgumentException(
                      "tensor "
                          + tensor.getKey()
                          + " has dtype "
                          + dtype
                          + ", expected F32, F16 or BF16");
            };
        if (!finite) {
          return false;
        }
      }
    }
    return true;
  }

  public static String sha256(byte[] bytes) {
    return Sha256.hex(bytes);
  }
}
