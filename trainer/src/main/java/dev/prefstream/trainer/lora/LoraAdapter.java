package dev.prefstream.trainer.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.prefstream.schemas.FileNames;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.trainer.model.Adapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.model.ModelConfig;
import dev.prefstream.trainer.model.Projection;
import dev.prefstream.trainer.model.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SortedMap;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * LoRA weights for every targeted projection of every layer, in PEFT's layout: {@code lora_A} (r,
 * in) and {@code lora_B} (out, r), float32, in a long-lived manager under the model's. Reads and
 * writes PEFT adapter directories ({@code adapter_config.json} + {@code
 * adapter_model.safetensors}).
 */
public final class LoraAdapter implements AutoCloseable {

  private final ModelConfig model;
  private final LoraConfig config;
  private final NDManager manager;
  private final List<Slot> slots;

  /** One adapted projection: its PEFT key prefix and its A (r, in) and B (out, r) arrays. */
  record Slot(int layer, Projection projection, String key, NDArray a, NDArray b) {}

  private LoraAdapter(ModelConfig model, LoraConfig config, NDManager manager, List<Slot> slots) {
    this.model = model;
    this.config = config;
    this.manager = manager;
    this.slots = slots;
  }

  /**
   * A fresh adapter: A drawn as PEFT does by default (kaiming-uniform with a = sqrt(5), i.e.
   * U(-1/sqrt(in), 1/sqrt(in))) from a generator seeded with {@code seed}; B zero, so the adapted
   * model starts equal to the base model.
   */
  public static LoraAdapter init(CausalLm lm, LoraConfig cfg, long seed) {
    ModelConfig c = lm.config();
    SplittableRandom rng = new SplittableRandom(seed);
    NDManager m = lm.manager().newSubManager();
    List<Slot> slots = new ArrayList<>();
    for (int l = 0; l < c.numLayers(); l++) {
      for (Projection p : cfg.targets()) {
        int in = p.inFeatures(c);
        int out = p.outFeatures(c);
        double bound = 1.0 / Math.sqrt(in);
        float[] a = new float[cfg.r() * in];
        for (int i = 0; i < a.length; i++) {
          a[i] = (float) rng.nextDouble(-bound, bound);
        }
        slots.add(
            new Slot(
                l,
                p,
                key(l, p),
                m.create(a, new Shape(cfg.r(), in)),
                m.zeros(new Shape(out, cfg.r()))));
      }
    }
    return new LoraAdapter(c, cfg, m, slots);
  }

  /** Loads a PEFT adapter directory trained here or elsewhere (F32, F16 or BF16 weights). */
  public static LoraAdapter load(CausalLm lm, Path peftDir) throws IOException {
    Path configFile = peftDir.resolve(FileNames.ADAPTER_CONFIG);
    Path weights = peftDir.resolve(FileNames.ADAPTER_WEIGHTS);
    if (!Files.isRegularFile(configFile) || !Files.isRegularFile(weights)) {
      throw new IOException(
          peftDir
              + " is not a PEFT adapter directory: needs adapter_config.json and"
              + " adapter_model.safetensors");
    }
    LoraConfig cfg = PeftConfig.parse(Files.readString(configFile), configFile.toString());
    LoraAdapter adapter = init(lm, cfg, 0);
    try {
      adapter.loadSafetensors(Safetensors.open(weights));
    } catch (IOException | RuntimeException e) {
      adapter.close();
      throw e;
    }
    return adapter;
  }

  /**
   * The PEFT state-dict key prefix of a projection, e.g.
   * base_model.model.model.layers.0.self_attn.q_proj.
   */
  public static String key(int layer, Projection p) {
    return "base_model.model.model.layers." + layer + "." + p.parent() + "." + p.moduleName();
  }

  public LoraConfig config() {
    return config;
  }

  /** The trainable arrays in a fixed order: for each layer and target, A then B. */
  public List<NDArray> parameters() {
    List<NDArray> all = new ArrayList<>();
    for (Slot s : slots) {
      all.add(s.a());
      all.add(s.b());
    }
    return all;
  }

  /** PEFT names of {@link #parameters()}, same order. */
  public List<String> parameterNames() {
    List<String> names = new ArrayList<>();
    for (Slot s : slots) {
      names.add(s.key() + ".lora_A.weight");
      names.add(s.key() + ".lora_B.weight");
    }
    return names;
  }

  /** The adapter with its current weights, no dropout (evaluation, reference-free use). */
  public Adapter adapter() {
    return new LoraDelta(model, slots, parameters(), config.scale(), 0);
  }

  /**
   * Copies of the weights in {@code stepManager} that require gradients, for one training step; the
   * adapter they form applies LoRA dropout when the config has it. The copies are made by libtorch
   * (clone), so the autograd leaves live in native memory, not in a Java buffer.
   */
  public LoraDelta trainableCopy(NDManager stepManager) {
    List<NDArray> leaves = new ArrayList<>();
    for (NDArray p : parameters()) {
      NDArray copy = p.duplicate();
      copy.attach(stepManager);
      copy.setRequiresGradient(true);
      leaves.add(copy);
    }
    return new LoraDelta(model, slots, leaves, config.scale(), config.dropout());
  }

  /** Deterministic safetensors bytes: PEFT keys sorted, F32, metadata {"format":"pt"}. */
  public byte[] safetensors() {
    SortedMap<String, Safetensors.Tensor> tensors = new TreeMap<>();
    List<String> names = parameterNames();
    List<NDArray> params = parameters();
    for (int i = 0; i < names.size(); i++) {
      NDArray p = params.get(i);
      tensors.put(names.get(i), new Safetensors.Tensor(p.getShape().getShape(), p.toFloatArray()));
    }
    return Safetensors.write(tensors);
  }

  /** Hex sha-256 of {@link #safetensors()}. */
  /**
   * True when every LoRA weight is a finite number: the last guard before a version is published.
   */
  public boolean weightsFinite() {
    for (NDArray p : parameters()) {
      for (float v : p.toFloatArray()) {
        if (!Float.isFinite(v)) {
          return false;
        }
      }
    }
    return true;
  }

  public String sha256() {
    return Sha256.hex(safetensors());
  }

  /** adapter_config.json as PEFT writes it (sorted keys), loadable by PEFT and vLLM. */
  public String adapterConfigJson(String baseModelName) {
    return PeftConfig.write(config, baseModelName);
  }

  /** Writes adapter_config.json and adapter_model.safetensors into {@code dir} (created). */
  public void writePeftDir(Path dir, String baseModelName) throws IOException {
    Files.createDirectories(dir);
    Files.writeString(dir.resolve(FileNames.ADAPTER_CONFIG), adapterConfigJson(baseModelName));
    Files.write(dir.resolve(FileNames.ADAPTER_WEIGHTS), safetensors());
  }

  /** Replaces the weights with those in {@code bytes} (resume, rollback); shapes must match. */
  public void loadSafetensors(byte[] bytes) throws IOException {
    loadSafetensors(Safetensors.of(bytes, "adapter safetensors"));
  }

  private void loadSafetensors(Safetensors st) throws IOException {
    List<String> names = parameterNames();
    List<NDArray> params = parameters();
    for (String present : st.entries().keySet()) {
      if (!names.contains(present)) {
        throw new IOException(
            st.source()
                + ": unexpected tensor "
                + present
                + " for target modules "
                + config.targetModules()
                + " and "
                + model.numLayers()
                + " layers");
      }
    }
    List<float[]> values = new ArrayList<>();
    for (int i = 0; i < names.size(); i++) {
      values.add(st.floats(names.get(i), params.get(i).getShape().getShape()));
    }
    for (int i = 0; i < names.size(); i++) {
      params.get(i).set(values.get(i));
    }
  }

  @Override
  public void close() {
    manager.close();
  }
}
