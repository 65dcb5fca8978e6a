package dev.prefstream.trainer.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.Sha256;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The weights of a Hugging Face model directory: {@code model.safetensors}, or shards listed by
 * {@code model.safetensors.index.json} ({@code weight_map}: tensor name -> file).
 */
final class Checkpoint {

  private final Path dir;
  private final Map<String, Safetensors> byTensor = new HashMap<>();
  private final List<Path> files;

  private Checkpoint(Path dir, Map<String, Path> weightMap, List<Path> files) throws IOException {
    this.dir = dir;
    this.files = files;
    Map<Path, Safetensors> opened = new HashMap<>();
    for (Path f : files) {
      opened.put(f, Safetensors.open(f));
    }
    if (weightMap == null) {
      Safetensors only = opened.get(files.get(0));
      only.entries().keySet().forEach(name -> byTensor.put(name, only));
    } else {
      for (Map.Entry<String, Path> e : weightMap.entrySet()) {
        Safetensors st = opened.get(e.getValue());
        if (!st.entries().containsKey(e.getKey())) {
          throw new IOException(
              e.getValue() + ": missing tensor " + e.getKey() + " listed in the index");
        }
        byTensor.put(e.getKey(), st);
      }
    }
  }

  static Checkpoint open(Path dir) throws IOException {
    Path single = dir.resolve("model.safetensors");
    Path index = dir.resolve("model.safetensors.index.json");
    if (Files.isRegularFile(index)) {
      JsonNode map = new ObjectMapper().readTree(index.toFile()).path("weight_map");
      if (!map.isObject() || map.isEmpty()) {
        throw new IOException(index + ": no weight_map");
      }
      Map<String, Path> weightMap = new TreeMap<>();
      for (Map.Entry<String, JsonNode> e : map.properties()) {
        weightMap.put(e.getKey(), dir.resolve(e.getValue().asText()));
      }
      List<Path> files = List.copyOf(new TreeSet<>(weightMap.values()));
      for (Path f : files) {
        if (!Files.isRegularFile(f)) {
          throw new IOException(index + " lists " + f.getFileName() + ", which does not exist");
        }
      }
      return new Checkpoint(dir, weightMap, files);
    }
    if (Files.isRegularFile(single)) {
      return new Checkpoint(dir, null, List.of(single));
    }
    throw new IOException(
        "No model.safetensors or model.safetensors.index.json in "
            + dir
            + " (only safetensors"
            + " weights are supported)");
  }

  boolean has(String name) {
    return byTensor.containsKey(name);
  }

  /** The tensor as float32 with the expected shape; errors name the file, tensor and shapes. */
  float[] floats(String name, long... shape) throws IOException {
    Safetensors st = byTensor.get(name);
    if (st == null) {
      throw new IOException(
          "missing tensor " + name + " in " + (files.size() == 1 ? files.get(0) : dir + " shards"));
    }
    return st.floats(name, shape);
  }

  /** Hex sha-256 over the safetensors files' bytes, files in name order. */
  String sha256() throws IOException {
    MessageDigest md = Sha256.digest();
    byte[] buf = new byte[1 << 20];
    for (Path f : files) {
      try (InputStream in = Files.newInputStream(f)) {
        for (int n; (n = in.read(buf)) > 0; ) {
          md.update(buf, 0, n);
        }
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }
}
