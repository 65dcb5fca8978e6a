package dev.prefstream.trainer.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A Llama-architecture causal language model (Llama, Qwen2, Mistral) on DJL NDArrays, computing
 * what Hugging Face's {@code LlamaForCausalLM} computes: RMSNorm, rotary embeddings (rotate_half),
 * grouped-query attention with a causal mask, SwiGLU MLP. Base weights are frozen (never require
 * gradients); an {@link Adapter} adds LoRA updates. Sequences are right-padded, so the causal mask
 * alone keeps real tokens from seeing padding.
 */
public final class CausalLm implements AutoCloseable {

  /** One decoder layer's weights; q/k/v and gate/up are fused into single matrices. */
  private record Block(
      NDArray inputNorm, // (C)
      NDArray wQkv, // ((nh + 2 nkv) hs, C)
      NDArray bQkv, // ((nh + 2 nkv) hs) or null
      NDArray wO, // (C, nh hs)
      NDArray bO, // (C) or null
      NDArray postNorm, // (C)
      NDArray wGateUp, // (2 I, C)
      NDArray bGateUp, // (2 I) or null
      NDArray wDown, // (C, I)
      NDArray bDown) {} // (C) or null

  /** Largest attention-score block computed at once on CPU (see {@link #causalAttention}). */
  static final long ATTENTION_CHUNK_BYTES = 16L << 20;

  private final ModelConfig config;
  private final NDManager manager;
  private final NDArray embed; // (V, C)
  private final NDArray lmHead; // (V, C); the same array as embed when tied
  private final NDArray finalNorm; // (C)
  private final List<Block> blocks;
  private final String name;
  private final String sha256;
  private long chunkTokens;
  private final long attentionChunkBytes;

  private CausalLm(
      ModelConfig config,
      NDManager manager,
      NDArray embed,
      NDArray lmHead,
      NDArray finalNorm,
      List<Block> blocks,
      String name,
      String sha256) {
    this.config = config;
    this.manager = manager;
    this.embed = embed;
    this.lmHead = lmHead;
    this.finalNorm = finalNorm;
    this.blocks = blocks;
    this.name = name;
    this.sha256 = sha256;
    // CPU: small blocks the allocator can reuse; GPU: large blocks for parallelism
    boolean gpu = manager.getDevice().isGpu();
    this.chunkTokens = gpu ? 16384 : 1024;
    this.attentionChunkBytes = gpu ? 1L << 30 : ATTENTION_CHUNK_BYTES;
  }

  /** The best device DJL's PyTorch engine sees: the first GPU, else the CPU. */
  public static Device defaultDevice() {
    return Engine.getEngine("PyTorch").getGpuCount() > 0 ? Device.gpu() : Device.cpu();
  }

  /** Loads {@code config.json} and the safetensors weights of a Hugging Face model directory. */
  public static CausalLm load(Path modelDir, Device device) throws IOException {
    NativeMemory.tuneMalloc();
    ModelConfig c = ModelConfig.load(modelDir);
    Checkpoint ckpt = Checkpoint.open(modelDir);
    NDManager manager = NDManager.newBaseManager(device, "PyTorch");
    try {
      WeightReader w = new WeightReader(ckpt, manager);
      long hidden = c.hiddenSize();
      long q = (long) c.numHeads() * c.headDim();
      long kv = (long) c.numKvHeads() * c.headDim();
      long inter = c.intermediateSize();
      NDArray embed = w.tensor("model.embed_tokens.weight", c.vocabSize(), hidden);
      NDArray lmHead =
          c.tieEmbeddings() ? embed : w.tensor("lm_head.weight", c.vocabSize(), hidden);
      NDArray norm = w.tensor("model.norm.weight", hidden);
      List<Block> blocks = new ArrayList<>();
      for (int i = 0; i < c.numLayers(); i++) {
        String p = "model.layers." + i + ".";
        String a = p + "self_attn.";
        String m = p + "mlp.";
        blocks.add(
            new Block(
                w.tensor(p + "input_layernorm.weight", hidden),
                w.rows(
                    new String[] {a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"},
                    new long[] {q, kv, kv},
                    hidden),
                c.qkvBias()
                    ? w.rows(
                        new String[] {a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"},
                        new long[] {q, kv, kv},
                        0)
                    : null,
                w.tensor(a + "o_proj.weight", hidden, q),
                c.oBias() ? w.tensor(a + "o_proj.bias", hidden) : null,
                w.tensor(p + "post_attention_layernorm.weight", hidden),
                w.rows(
                    new String[] {m + "gate_proj.weight", m + "up_proj.weight"},
                    new long[] {inter, inter},
                    hidden),
                c.mlpBias()
                    ? w.rows(
                        new String[] {m + "gate_proj.bias", m + "up_proj.bias"},
                        new long[] {inter, inter},
                        0)
                    : null,
                w.tensor(m + "down_proj.weight", hidden, inter),
                c.mlpBias() ? w.tensor(m + "down_proj.bias", hidden) : null));
      }
      String name =
          c.nameOrPath().isEmpty()
              ? modelDir.toAbsolutePath().normalize().getFileName().toString()
              : c.nameOrPath();
      return new CausalLm(c, manager, embed, lmHead, norm, blocks, name, ckpt.sha256());
    } catch (IOException | RuntimeException e) {
      manager.close();
      throw e;
    }
  }

  public ModelConfig config() {
    return config;
  }

  public Device device() {
    return manager.getDevice();
  }

  /** The long-lived manager holding the frozen weights; per-step managers are its children. */
  public NDManager manager() {
    return manager;
  }

  /** What adapter_config.json calls base_model_name_or_path. */
  public String name() {
    return name;
  }

  /** Hex sha-256 over the model's safetensors files in name order. */
  public String sha256() {
    return sha256;
  }

  /** Every frozen base-weight array (for tests that check nothing moved). */
  public List<NDArray> baseWeights() {
    List<NDArray> all = new ArrayList<>(List.of(embed, finalNorm));
    if (lmHead != embed) {
      all.add(lmHead);
    }
    for (Block b : blocks) {
      for (NDArray a :
          new NDArray[] {
            b.inputNorm,
            b.wQkv,
            b.bQkv,
            b.wO,
            b.bO,
            b.postNorm,
            b.wGateUp,
            b.bGateUp,
            b.wDown,
            b.bDown
          }) {
        if (a != null) {
          all.add(a);
        }
      }
    }
    return all;
  }

  /**
   * Log-probability of each next token: for ids (N, T) returns (N, T-1) with entry [n, t] = log
   * p(ids[n, t+1] | ids[n, 0..t]). {@code adapter} may be null (the base model). Rows go through
   * the model in chunks of about {@link #chunkTokens} tokens: every intermediate array stays small
   * enough for the allocator to reuse memory (glibc maps arrays over 32 MB afresh, paying page
   * faults on every use), while the matmuls stay large. Gradients flow through all chunks.
   */
  public NDArray tokenLogps(NDArray ids, Adapter adapter) {
    long n = ids.getShape().get(0);
    long t = ids.getShape().get(1);
    long rows = Math.max(1, chunkTokens / t);
    Positions positions = positions(ids.getManager(), t);
    NDList out = new NDList();
    for (long from = 0; from < n; from += rows) {
      NDArray chunk = ids.get(from + ":" + Math.min(n, from + rows)); // (c, T)
      NDArray logits = forward(chunk, adapter, positions).get(":, :-1, :"); // (c, T-1, V)
      NDArray targets = chunk.get(":, 1:").expandDims(-1); // (c, T-1, 1)
      out.add(logits.logSoftmax(2).gather(targets, 2).squeeze(2)); // (c, T-1)
    }
    return out.size() == 1 ? out.head() : NDArrays.concat(out, 0);
  }

  /** Tokens per forward chunk in {@link #tokenLogps} (default 1024 on CPU, 16384 on GPU). */
  public void setChunkTokens(long tokens) {
    if (tokens < 1) {
      throw new IllegalArgumentException("chunk tokens must be >= 1, got " + tokens);
    }
    this.chunkTokens = tokens;
  }

  /** Next-token logits (N, T, V) for token ids (N, T) (int64). */
  public NDArray logits(NDArray ids, Adapter adapter) {
    return forward(ids, adapter, positions(ids.getManager(), ids.getShape().get(1)));
  }

  /** What depends only on the positions 0..T-1: RoPE tables and the causal mask. */
  private record Positions(NDArray cos, NDArray sin, NDArray mask) {}

  private Positions positions(NDManager m, long t) {
    float[][] cs = config.rope().cosSin((int) t);
    Shape ropeShape = new Shape(t, config.headDim());
    return new Positions(
        m.create(cs[0], ropeShape), // (T, hs)
        m.create(cs[1], ropeShape), // (T, hs)
        m.create(causalMask((int) t), new Shape(t, t))); // (T, T)
  }

  private NDArray forward(NDArray ids, Adapter adapter, Positions p) {
    NDArray x = embed.getNDArrayInternal().embedding(ids, embed, SparseFormat.DENSE).head();
    for (int l = 0; l < blocks.size(); l++) {
      Block b = blocks.get(l);
      x = x.add(attention(l, b, rmsNorm(x, b.inputNorm), p, adapter)); // (N, T, C)
      x = x.add(mlp(l, b, rmsNorm(x, b.postNorm), adapter));
    }
    x = rmsNorm(x, finalNorm);
    return Ops.linear(x, lmHead, null); // (N, T, V)
  }

  private NDArray attention(int l, Block b, NDArray x, Positions p, Adapter adapter) {
    long n = x.getShape().get(0);
    long t = x.getShape().get(1);
    int nh = config.numHeads();
    int nkv = config.numKvHeads();
    int hs = config.headDim();
    NDList qkv = Ops.linear(x, b.wQkv, b.bQkv).split(new long[] {nh * hs, (nh + nkv) * hs}, 2);
    NDArray q = plus(qkv.get(0), adapter, l, Projection.Q, x); // (N, T, nh hs)
    NDArray k = plus(qkv.get(1), adapter, l, Projection.K, x); // (N, T, nkv hs)
    NDArray v = plus(qkv.get(2), adapter, l, Projection.V, x); // (N, T, nkv hs)
    q = rope(q.reshape(n, t, nh, hs).transpose(0, 2, 1, 3), p); // (N, nh, T, hs)
    k = rope(k.reshape(n, t, nkv, hs).transpose(0, 2, 1, 3), p); // (N, nkv, T, hs)
    v = v.reshape(n, t, nkv, hs).transpose(0, 2, 1, 3); // (N, nkv, T, hs)
    NDArray y = causalAttention(Ops.mul(q, 1.0 / Math.sqrt(hs)), k, v, p.mask()); // (N, nh, T, hs)
    y = y.transpose(0, 2, 1, 3).reshape(n, t, nh * hs); // (N, T, nh hs)
    return plus(Ops.linear(y, b.wO, b.bO), adapter, l, Projection.O, y); // (N, T, C)
  }

  /**
   * softmax(q k^T + mask) v for pre-scaled q (N, nh, T, hs) and k, v (N, nkv, T, hs). Grouped-query
   * attention without repeating k/v: the g query heads of one kv head are stacked along time, so
   * each kv head meets all its queries in one matmul. Rows are processed in chunks whose scores
   * stay under {@link #ATTENTION_CHUNK_BYTES} on CPU: larger blocks exceed glibc's mmap threshold,
   * and every fresh mapping costs page faults on each use.
   */
  private NDArray causalAttention(NDArray q, NDArray k, NDArray v, NDArray mask) {
    long n = q.getShape().get(0);
    long t = q.getShape().get(2);
    int nh = config.numHeads();
    int nkv = config.numKvHeads();
    int hs = config.headDim();
    int g = config.groupSize();
    long rows = Math.max(1, attentionChunkBytes / (4L * nh * t * t));
    NDList out = new NDList();
    for (long from = 0; from < n; from += rows) {
      String r = from + ":" + Math.min(n, from + rows);
      NDArray qc = q.get(r);
      long c = qc.getShape().get(0);
      NDArray qg = qc.reshape(c, nkv, g * t, hs); // (c, nkv, g T, hs)
      NDArray att = qg.matMul(k.get(r).transpose(0, 1, 3, 2)); // (c, nkv, g T, T)
      att = att.reshape(c, nh, t, t).add(mask).softmax(-1); // (c, nh, T, T)
      NDArray y = att.reshape(c, nkv, g * t, t).matMul(v.get(r)); // (c, nkv, g T, hs)
      out.add(y.reshape(c, nh, t, hs)); // (c, nh, T, hs)
    }
    return out.size() == 1 ? out.head() : NDArrays.concat(out, 0);
  }

  private NDArray mlp(int l, Block b, NDArray x, Adapter adapter) {
    long inter = config.intermediateSize();
    NDList gateUp = Ops.linear(x, b.wGateUp, b.bGateUp).split(new long[] {inter}, 2);
    NDArray gate = plus(gateUp.get(0), adapter, l, Projection.GATE, x); // (N, T, I)
    NDArray up = plus(gateUp.get(1), adapter, l, Projection.UP, x); // (N, T, I)
    NDArray h = gate.mul(Ops.sigmoid(gate)).mul(up); // silu(gate) * up
    return plus(Ops.linear(h, b.wDown, b.bDown), adapter, l, Projection.DOWN, h); // (N, T, C)
  }

  private static NDArray plus(NDArray y, Adapter adapter, int l, Projection p, NDArray x) {
    if (adapter == null) {
      return y;
    }
    NDArray delta = adapter.delta(l, p, x);
    return delta == null ? y : y.add(delta);
  }

  /** x * rsqrt(mean(x^2) + eps) * w, as Hugging Face's LlamaRMSNorm (pow -0.5 is rsqrt). */
  private NDArray rmsNorm(NDArray x, NDArray weight) {
    NDArray variance = x.square().mean(new int[] {-1}, true); // (N, T, 1)
    return x.mul(Ops.pow(Ops.add(variance, config.rmsNormEps()), -0.5)).mul(weight);
  }

  /** q * cos + rotate_half(q) * sin, rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]). */
  private static NDArray rope(NDArray x, Positions p) {
    NDList halves = x.split(2, 3); // 2 x (..., T, hs/2)
    NDArray rotated = NDArrays.concat(new NDList(halves.get(1).neg(), halves.get(0)), 3);
    return x.mul(p.cos()).add(rotated.mul(p.sin()));
  }

  /** Additive mask (T, T): 0 where key j may be seen from query i, float32 min elsewhere. */
  private float[] causalMask(int t) {
    float[] mask = new float[t * t];
    int window = config.slidingWindow();
    for (int i = 0; i < t; i++) {
      for (int j = 0; j < t; j++) {
        boolean visible = j <= i && (window <= 0 || i - j < window);
        mask[i * t + j] = visible ? 0f : -Float.MAX_VALUE;
      }
    }
    return mask;
  }

  @Override
  public void close() {
    manager.close();
  }

  /** Reads named tensors into the model's manager, fusing row blocks where asked. */
  private record WeightReader(Checkpoint ckpt, NDManager manager) {
    NDArray tensor(String name, long... shape) throws IOException {
      return manager.create(ckpt.floats(name, shape), new Shape(shape));
    }

    /** Concatenates [rows_i, cols] matrices (or [rows_i] vectors when cols == 0) by rows. */
    NDArray rows(String[] names, long[] rows, long cols) throws IOException {
      long total = 0;
      for (long r : rows) {
        total += r;
      }
      float[] all = new float[Math.toIntExact(total * Math.max(cols, 1))];
      int at = 0;
      for (int i = 0; i < names.length; i++) {
        float[] part =
            cols == 0 ? ckpt.floats(names[i], rows[i]) : ckpt.floats(names[i], rows[i], cols);
        System.arraycopy(part, 0, all, at, part.length);
        at += part.length;
      }
      return manager.create(all, cols == 0 ? new Shape(total) : new Shape(total, cols));
    }
  }
}
