package dev.prefstream.trainer.model;

import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.schemas.FileNames;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Writes a randomly initialized Llama or Qwen2 model directory that Hugging Face transformers loads
 * as is ({@code AutoModelForCausalLM}, {@code AutoTokenizer}): config.json, model.safetensors
 * (float32), a byte-level tokenizer.json (256 byte tokens + specials, no merges),
 * tokenizer_config.json with a ChatML chat template, generation_config.json. Weights are drawn as
 * transformers initializes them: normal(0, initializer_range) for linear and embedding weights,
 * ones for norms, zeros for biases.
 */
public final class ModelInit {

  /** The special tokens after the 256 byte tokens, in id order. */
  public static final List<String> SPECIALS =
      List.of("<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>");

  public static final int BOS = 256;
  public static final int EOS = 257;
  public static final int PAD = 258;
  public static final int TOKENIZER_SIZE = 256 + SPECIALS.size();

  public static final String CHAT_TEMPLATE =
      "{{ bos_token }}{% for message in messages %}"
          + "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
          + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

  private static final ObjectMapper JSON = new ObjectMapper();

  private ModelInit() {}

  /** What to build; {@link #builder(String)} fills sensible tiny defaults. */
  public record Spec(
      String arch,
      long seed,
      int hiddenSize,
      int layers,
      int heads,
      int kvHeads,
      int intermediateSize,
      int vocabSize,
      int maxPositions,
      boolean tieEmbeddings,
      double ropeTheta,
      double initializerRange) {

    public Spec {
      if (!arch.equals("llama") && !arch.equals("qwen2")) {
        throw new IllegalArgumentException("arch must be llama or qwen2, got " + arch);
      }
      positive("hidden-size", hiddenSize);
      positive("layers", layers);
      positive("heads", heads);
      positive("kv-heads", kvHeads);
      positive("intermediate-size", intermediateSize);
      if (hiddenSize % heads != 0 || (hiddenSize / heads) % 2 != 0) {
        throw new IllegalArgumentException(
            "hidden-size "
                + hiddenSize
                + " must be a multiple of heads "
                + heads
                + " with an even head size");
      }
      if (heads % kvHeads != 0) {
        throw new IllegalArgumentException(
            "heads " + heads + " must be a multiple of kv-heads " + kvHeads);
      }
      if (vocabSize < TOKENIZER_SIZE) {
        throw new IllegalArgumentException(
            "vocab-size " + vocabSize + " must be >= the tokenizer's " + TOKENIZER_SIZE);
      }
      positive("max-positions", maxPositions);
    }

    private static void positive(String key, int v) {
      if (v < 1) {
        throw new IllegalArgumentException(key + " must be >= 1, got " + v);
      }
    }

    public static Builder builder(String arch) {
      return new Builder(arch);
    }
  }

  /** Builder for {@link Spec}: tiny defaults (hidden 64, 2 layers, 4 heads, 2 kv heads). */
  public static final class Builder {
    private final String arch;
    private long seed;
    private int hiddenSize = 64;
    private int layers = 2;
    private int heads = 4;
    private int kvHeads = 2;
    private int intermediateSize = 128;
    private int vocabSize = TOKENIZER_SIZE;
    private int maxPositions = 2048;
    private boolean tieEmbeddings;
    private double ropeTheta = 10000.0;
    private double initializerRange = 0.02;

    private Builder(String arch) {
      this.arch = arch;
    }

    public Builder optSeed(long v) {
      seed = v;
      return this;
    }

    public Builder optHiddenSize(int v) {
      hiddenSize = v;
      return this;
    }

    public Builder optLayers(int v) {
      layers = v;
      return this;
    }

    public Builder optHeads(int v) {
      heads = v;
      return this;
    }

    public Builder optKvHeads(int v) {
      kvHeads = v;
      return this;
    }

    public Builder optIntermediateSize(int v) {
      intermediateSize = v;
      return this;
    }

    public Builder optVocabSize(int v) {
      vocabSize = v;
      return this;
    }

    public Builder optMaxPositions(int v) {
      maxPositions = v;
      return this;
    }

    public Builder optTieEmbeddings(boolean v) {
      tieEmbeddings = v;
      return this;
    }

    public Builder optRopeTheta(double v) {
      ropeTheta = v;
      return this;
    }

    public Builder optInitializerRange(double v) {
      initializerRange = v;
      return this;
    }

    public Spec build() {
      return new Spec(
          arch,
          seed,
          hiddenSize,
          layers,
          heads,
          kvHeads,
          intermediateSize,
          vocabSize,
          maxPositions,
          tieEmbeddings,
          ropeTheta,
          initializerRange);
    }
  }

  /** Writes the model directory {@code outDir} (created if needed). */
  public static void write(Path outDir, Spec spec) throws IOException {
    Files.createDirectories(outDir);
    DefaultPrettyPrinter pretty =
        new DefaultPrettyPrinter()
            .withSeparators(
                Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER));
    var writer = JSON.writer(pretty);
    Files.writeString(
        outDir.resolve(FileNames.MODEL_CONFIG), writer.writeValueAsString(config(spec)) + "\n");
    writeWeights(outDir.resolve("model.safetensors"), spec);
    Files.writeString(
        outDir.resolve(FileNames.TOKENIZER),
        writer.writeValueAsString(ByteTokenizer.tokenizerJson()) + "\n");
    Files.writeString(
        outDir.resolve(FileNames.TOKENIZER_CONFIG),
        writer.writeValueAsString(ByteTokenizer.tokenizerConfig(spec.maxPositions(), CHAT_TEMPLATE))
            + "\n");
    Map<String, Object> generation = new LinkedHashMap<>();
    generation.put("bos_token_id", BOS);
    generation.put("eos_token_id", EOS);
    generation.put("pad_token_id", PAD);
    Files.writeString(
        outDir.resolve("generation_config.json"), writer.writeValueAsString(generation) + "\n");
  }

  static Map<String, Object> config(Spec s) {
    boolean qwen = s.arch().equals("qwen2");
    Map<String, Object> c = new TreeMap<>();
    c.put("architectures", List.of(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    c.put("model_type", s.arch());
    c.put("attention_dropout", 0.0);
    c.put("bos_token_id", BOS);
    c.put("eos_token_id", EOS);
    c.put("pad_token_id", PAD);
    c.put("head_dim", s.hiddenSize() / s.heads());
    c.put("hidden_act", "silu");
    c.put("hidden_size", s.hiddenSize());
    c.put("initializer_range", s.initializerRange());
    c.put("intermediate_size", s.intermediateSize());
    c.put("max_position_embeddings", s.maxPositions());
    c.put("num_attention_heads", s.heads());
    c.put("num_hidden_layers", s.layers());
    c.put("num_key_value_heads", s.kvHeads());
    c.put("rms_norm_eps", 1e-6);
    c.put("rope_scaling", null);
    c.put("rope_theta", s.ropeTheta());
    c.put("tie_word_embeddings", s.tieEmbeddings());
    c.put("torch_dtype", "float32");
    c.put("transformers_version", "4.46.0");
    c.put("use_cache", true);
    c.put("vocab_size", s.vocabSize());
    if (qwen) {
      c.put("max_window_layers", s.layers());
      c.put("sliding_window", null);
      c.put("use_sliding_window", false);
    } else {
      c.put("attention_bias", false);
      c.put("mlp_bias", false);
      c.put("pretraining_tp", 1);
    }
    return c;
  }

  /**
   * One tensor to write: its shape, and either normal(0, initializer_range) draws or a constant.
   */
  private record Planned(long[] shape, boolean random, float fill) {
    long elements() {
      long n = 1;
      for (long d : shape) {
        n *= d;
      }
      return n;
    }
  }

  /**
   * Streams model.safetensors (float32, names sorted, as {@link Safetensors#write}): the header
   * first, then each tensor written at its offset while it is drawn, in a fixed order (module order
   * of the model) independent of the file's sorting. Nothing the size of the file is held in
   * memory, so a model larger than a Java array (2^31 bytes) can be written.
   */
  static void writeWeights(Path file, Spec s) throws IOException {
    Map<String, Planned> plan = plan(s);
    SortedMap<String, long[]> shapes = new TreeMap<>();
    plan.forEach((name, p) -> shapes.put(name, p.shape()));
    byte[] header = Safetensors.header(shapes, new TreeMap<>());
    Map<String, Long> offsets = Safetensors.dataOffsets(shapes);
    SplittableRandom rng = new SplittableRandom(s.seed());
    ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
    try (FileChannel ch =
        FileChannel.open(
            file,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
      writeFully(ch, ByteBuffer.wrap(header), 0);
      for (Map.Entry<String, Planned> e : plan.entrySet()) {
        Planned p = e.getValue();
        long at = header.length + offsets.get(e.getKey());
        for (long i = 0; i < p.elements(); i++) {
          if (!buf.hasRemaining()) {
            at += writeFully(ch, buf.flip(), at);
            buf.clear();
          }
          buf.putFloat(p.random() ? (float) (rng.nextGaussian() * s.initializerRange()) : p.fill());
        }
        at += writeFully(ch, buf.flip(), at);
        buf.clear();
      }
    }
  }

  private static long writeFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
    long written = 0;
    while (b.hasRemaining()) {
      written += ch.write(b, position + written);
    }
    return written;
  }

  /** The tensors in the order their values are drawn (module order of the model). */
  private static Map<String, Planned> plan(Spec s) {
    Map<String, Planned> w = new LinkedHashMap<>();
    long c = s.hiddenSize();
    long hs = c / s.heads();
    long q = s.heads() * hs;
    long kv = s.kvHeads() * hs;
    long inter = s.intermediateSize();
    w.put("model.embed_tokens.weight", normal(s.vocabSize(), c));
    for (int i = 0; i < s.layers(); i++) {
      String p = "model.layers." + i + ".";
      w.put(p + "self_attn.q_proj.weight", normal(q, c));
      w.put(p + "self_attn.k_proj.weight", normal(kv, c));
      w.put(p + "self_attn.v_proj.weight", normal(kv, c));
      w.put(p + "self_attn.o_proj.weight", normal(c, q));
      if (s.arch().equals("qwen2")) {
        w.put(p + "self_attn.q_proj.bias", filled(0f, q));
        w.put(p + "self_attn.k_proj.bias", filled(0f, kv));
        w.put(p + "self_attn.v_proj.bias", filled(0f, kv));
      }
      w.put(p + "mlp.gate_proj.weight", normal(inter, c));
      w.put(p + "mlp.up_proj.weight", normal(inter, c));
      w.put(p + "mlp.down_proj.weight", normal(c, inter));
      w.put(p + "input_layernorm.weight", filled(1f, c));
      w.put(p + "post_attention_layernorm.weight", filled(1f, c));
    }
    w.put("model.norm.weight", filled(1f, c));
    if (!s.tieEmbeddings()) {
      w.put("lm_head.weight", normal(s.vocabSize(), c));
    }
    return w;
  }

  private static Planned normal(long rows, long cols) {
    return new Planned(new long[] {rows, cols}, true, 0f);
  }

  private static Planned filled(float value, long n) {
    return new Planned(new long[] {n}, false, value);
  }
}
