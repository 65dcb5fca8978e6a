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

  /** Largest attention-score block computed at once on CPU (see {@link #attend}). */
  static final long ATTENTION_CHUNK_BYTES = 16L << 20;

  /** Largest (positions, vocabulary) logits block of the response-only LM head. */
  static final long HEAD_CHUNK_BYTES = 64L << 20;

  private final ModelConfig config;
  private final NDManager manager;
  private final NDArray embed; // (V, C)
  private final NDArray lmHead; // (V, C); the same array as embed when tied
  private final NDArray finalNorm; // (C)
  private final List<Block> blocks;
  private final String name;
  private final String sha256;
  private long chunkTokens;
  private long headChunkPositions;
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
    this.headChunkPositions = Math.max(1, HEAD_CHUNK_BYTES / (4L * config.vocabSize()));
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

  /** Tokens per forward chunk (see {@link #setChunkTokens}). */
  public long chunkTokens() {
    return chunkTokens;
  }

  /**
   * The shared-prompt forward: every prompt runs once, and each of its responses attends to the
   * prompt's keys and values at every layer, as if it followed the prompt in one sequence (same
   * positions, same causal mask), so gradients through the shared prompt add up over its responses.
   * Prompt and response tokens go through the projections and MLPs as one matrix.
   *
   * @param promptIds (B, P) int64, right-padded; prompt i has {@code promptLengths[i]} real tokens
   * @param responseIds (k B, R) int64, right-padded; row r answers prompt {@code r % B}
   * @return the final-norm hidden states (k B, R, C) whose position j predicts response token j
   *     (position 0 is the prompt's last token, position j > 0 response token j - 1)
   */
  public NDArray responseHidden(
      NDArray promptIds, int[] promptLengths, NDArray responseIds, Adapter adapter) {
    long b = promptIds.getShape().get(0);
    long p = promptIds.getShape().get(1);
    long rows = responseIds.getShape().get(0);
    long r = responseIds.getShape().get(1);
    if (promptLengths.length != b || rows % b != 0) {
      throw new IllegalArgumentException(
          "prompts ("
              + b
              + ", "
              + p
              + ") with "
              + promptLengths.length
              + " lengths cannot own "
              + rows
              + " response rows");
    }
    for (int len : promptLengths) {
      if (len < 1 || len > p) {
        throw new IllegalArgumentException("prompt length " + len + " outside [1, " + p + "]");
      }
    }
    int k = (int) (rows / b);
    long c = config.hiddenSize();
    NDManager m = promptIds.getManager();
    Positions promptPos = positions(m, p);
    Positions responsePos = responsePositions(m, promptLengths, k, p, r);
    long promptTokens = b * p;
    // prompt tokens then response tokens, as one (1, b P + k b R, C) sequence of independent tokens
    NDArray x =
        NDArrays.concat(
            new NDList(
                embed(promptIds.reshape(1, promptTokens)), embed(responseIds.reshape(1, rows * r))),
            1);
    int lastLayer = blocks.size() - 1;
    for (int l = 0; l < lastLayer; l++) {
      Block blk = blocks.get(l);
      NDArray attn =
          sharedAttention(
              l, blk, rmsNorm(x, blk.inputNorm), b, p, k, r, promptPos, responsePos, null, adapter);
      x = x.add(attn);
      x = x.add(mlp(l, blk, rmsNorm(x, blk.postNorm), adapter));
    }
    // The last layer: the prompts' keys and values still serve the responses, but of the prompt
    // positions only each prompt's last one goes on (it predicts the first response token), so
    // its other queries, output projections and MLP rows are skipped.
    long[] last = new long[(int) b];
    for (int i = 0; i < b; i++) {
      last[i] = promptLengths[i] - 1;
    }
    NDArray at = m.create(last, new Shape(b, 1, 1)).repeat(2, c); // (B, 1, C)
    NDList xParts = x.split(new long[] {promptTokens}, 1);
    NDArray xPromptLast = xParts.get(0).reshape(b, p, c).gather(at, 1); // (B, 1, C)
    NDArray xKept =
        NDArrays.concat(
            new NDList(xPromptLast.reshape(1, b, c), xParts.get(1)), 1); // (1, B + k B R, C)
    Block top = blocks.get(lastLayer);
    xKept =
        xKept.add(
            sharedAttention(
                lastLayer,
                top,
                rmsNorm(x, top.inputNorm),
                b,
                p,
                k,
                r,
                promptPos,
                responsePos,
                lastQueries(m, promptLengths, p),
                adapter));
    xKept = xKept.add(mlp(lastLayer, top, rmsNorm(xKept, top.postNorm), adapter));
    NDList keptParts = xKept.split(new long[] {b}, 1);
    NDArray promptLast = keptParts.get(0).reshape(b, 1, c); // (B, 1, C)
    NDArray responses = keptParts.get(1).reshape(rows, r, c); // (k B, R, C)
    NDList tiled = new NDList();
    for (int i = 0; i < k; i++) {
      tiled.add(promptLast);
    }
    NDArray first = k == 1 ? promptLast : NDArrays.concat(tiled, 0); // (k B, 1, C)
    NDArray h =
        r == 1
            ? first
            : NDArrays.concat(new NDList(first, responses.get(":, :-1, :")), 1); // (k B, R, C)
    return rmsNorm(h, finalNorm);
  }

  private NDArray embed(NDArray ids) {
    return embed.getNDArrayInternal().embedding(ids, embed, SparseFormat.DENSE).head();
  }

  /**
   * Attention of the shared-prompt forward on normed x (1, B P + k B R, C): prompts attend causally
   * to themselves, responses to their prompt's real tokens and causally to themselves.
   */
  private NDArray sharedAttention(
      int l,
      Block blk,
      NDArray x,
      long b,
      long p,
      int k,
      long r,
      Positions promptPos,
      Positions responsePos,
      LastQueries lastQueries,
      Adapter adapter) {
    long promptTokens = b * p;
    long rows = k * b;
    long total = promptTokens + rows * r;
    int nh = config.numHeads();
    int nkv = config.numKvHeads();
    int hs = config.headDim();
    NDArray[] all = qkv(l, blk, x, adapter, 1, total); // (1, heads, b P + k b R, hs) each
    NDArray[] pq = new NDArray[3];
    NDArray[] rq = new NDArray[3];
    for (int i = 0; i < 3; i++) {
      long heads = i == 0 ? nh : nkv;
      // split, not two slices: a slice's backward fills a zero array of the whole input per piece
      NDList parts = all[i].squeeze(0).split(new long[] {promptTokens}, 1); // (heads, total, hs)
      pq[i] = parts.get(0).reshape(heads, b, p, hs).transpose(1, 0, 2, 3);
      rq[i] = parts.get(1).reshape(heads, rows, r, hs).transpose(1, 0, 2, 3);
    }
    NDArray qp = rope(pq[0], promptPos.cos(), promptPos.sin()); // (B, nh, P, hs)
    NDArray kp = rope(pq[1], promptPos.cos(), promptPos.sin()); // (B, nkv, P, hs)
    NDArray qr = rope(rq[0], responsePos.cos(), responsePos.sin()); // (k B, nh, R, hs)
    NDArray kr = rope(rq[1], responsePos.cos(), responsePos.sin()); // (k B, nkv, R, hs)
    long promptQueries = p;
    if (lastQueries != null) { // the last layer: only each prompt's last position
      qp = qp.gather(lastQueries.index(), 2); // (B, nh, 1, hs)
      promptQueries = 1;
    }
    NDArray yp =
        attend(
            scaled(qp),
            kp,
            pq[2],
            lastQueries != null ? lastQueries.mask() : promptPos.mask()); // (B, nh, P|1, hs)
    NDArray keys = NDArrays.concat(new NDList(repeatRows(kp, k), kr), 2); // (k B, nkv, P + R, hs)
    NDArray values = NDArrays.concat(new NDList(repeatRows(pq[2], k), rq[2]), 2);
    NDArray yr = attend(scaled(qr), keys, values, responsePos.mask()); // (k B, nh, R, hs)
    NDArray y =
        NDArrays.concat(
            new NDList(
                yp.transpose(1, 0, 2, 3).reshape(1, nh, b * promptQueries, hs),
                yr.transpose(1, 0, 2, 3).reshape(1, nh, rows * r, hs)),
            2); // (1, nh, B P|B + k B R, hs)
    return output(l, blk, y, adapter); // (1, B P|B + k B R, C)
  }

  /** Each prompt's last query: its gather index (B, nh, 1, hs) and its mask (B, 1, 1, P). */
  private record LastQueries(NDArray index, NDArray mask) {}

  private LastQueries lastQueries(NDManager m, int[] promptLengths, long p) {
    int b = promptLengths.length;
    int pl = (int) p;
    long[] last = new long[b];
    float[] mask = new float[b * pl];
    java.util.Arrays.fill(mask, -Float.MAX_VALUE);
    int window = config.slidingWindow();
    for (int i = 0; i < b; i++) {
      int len = promptLengths[i];
      last[i] = len - 1;
      for (int key = 0; key < len; key++) {
        if (window <= 0 || len - 1 - key < window) {
          mask[i * pl + key] = 0f;
        }
      }
    }
    NDArray index =
        m.create(last, new Shape(b, 1, 1, 1))
            .repeat(1, config.numHeads())
            .repeat(3, config.headDim()); // (B, nh, 1, hs)
    return new LastQueries(index, m.create(mask, new Shape(b, 1, 1, pl)));
  }

  /** [x; x; ...] k times along rows: (B, ...) -> (k B, ...). Gradients of the copies add up. */
  private static NDArray repeatRows(NDArray x, int k) {
    if (k == 1) {
      return x;
    }
    NDList copies = new NDList();
    for (int i = 0; i < k; i++) {
      copies.add(x);
    }
    return NDArrays.concat(copies, 0);
  }

  /**
   * RoPE tables (k B, 1, R, hs) at each response row's own positions (its prompt's length onwards)
   * and the mask (k B, 1, R, P + R) over [padded prompt keys; response keys]: a prompt's real
   * tokens are all visible, its padding never, response keys causally, all within the sliding
   * window when the model has one.
   */
  private Positions responsePositions(NDManager m, int[] promptLengths, int k, long p, long r) {
    int b = promptLengths.length;
    int rows = k * b;
    int hs = config.headDim();
    int pl = (int) p;
    int rl = (int) r;
    float[][] cs = config.rope().cosSin(pl + rl);
    float[] cos = new float[rows * rl * hs];
    float[] sin = new float[rows * rl * hs];
    int width = pl + rl;
    float[] mask = new float[rows * rl * width];
    java.util.Arrays.fill(mask, -Float.MAX_VALUE);
    int window = config.slidingWindow();
    for (int row = 0; row < rows; row++) {
      int len = promptLengths[row % b];
      System.arraycopy(cs[0], len * hs, cos, row * rl * hs, rl * hs);
      System.arraycopy(cs[1], len * hs, sin, row * rl * hs, rl * hs);
      for (int q = 0; q < rl; q++) {
        int base = (row * rl + q) * width;
        int position = len + q;
        for (int key = 0; key < len; key++) {
          if (window <= 0 || position - key < window) {
            mask[base + key] = 0f;
          }
        }
        for (int key = 0; key <= q; key++) {
          if (window <= 0 || q - key < window) {
            mask[base + pl + key] = 0f;
          }
        }
      }
    }
    return new Positions(
        m.create(cos, new Shape(rows, 1, rl, hs)),
        m.create(sin, new Shape(rows, 1, rl, hs)),
        m.create(mask, new Shape(rows, 1, rl, width)));
  }

  /**
   * log p(target) of each position from hidden states (N, R, C) and targets (N, R) int64: (N, R).
   * The LM head and log-softmax run on blocks of positions whose logits stay under {@link
   * #HEAD_CHUNK_BYTES}, and none of them is kept for backward. With {@code trainable} the result
   * carries the exact gradient d log p(target) / d h = W[target] - softmax(h W^T) W (Hugging Face's
   * head is frozen here: LoRA never targets it), attached as (h - stop_gradient(h)) . g, which is
   * exactly zero in value: so backward keeps a (N, R, C) array instead of (N, R, V) ones.
   */
  public NDArray responseLogps(NDArray hidden, NDArray targets, boolean trainable) {
    long n = hidden.getShape().get(0);
    long r = hidden.getShape().get(1);
    long c = hidden.getShape().get(2);
    NDArray h = hidden.reshape(n * r, c); // (N R, C)
    NDArray t = targets.reshape(n * r, 1); // (N R, 1)
    long block = headBlock();
    NDList out = new NDList();
    for (long from = 0; from < n * r; from += block) {
      String span = from + ":" + Math.min(n * r, from + block);
      NDArray hc = h.get(span); // (s, C)
      NDArray tc = t.get(span); // (s, 1)
      NDArray fixed = trainable ? hc.stopGradient() : hc;
      NDArray logits = Ops.linear(fixed, lmHead, null); // (s, V)
      NDArray logp = logits.logSoftmax(1);
      logits.close();
      NDArray value = logp.gather(tc, 1).squeeze(1); // (s)
      if (trainable) {
        NDArray p = logp.exp();
        logp.close();
        NDArray expected = p.matMul(lmHead); // (s, C)
        p.close();
        NDArray target = embed(tc.squeeze(1), lmHead); // (s, C)
        NDArray g = target.sub(expected);
        target.close();
        expected.close();
        value = value.add(hc.sub(fixed).mul(g).sum(new int[] {1}));
      } else {
        logp.close();
      }
      out.add(value);
    }
    NDArray all = out.size() == 1 ? out.head() : NDArrays.concat(out, 0);
    return all.reshape(n, r);
  }

  /**
   * Per position of hidden states (N, R, C) of a policy and of its reference: log p(target) under
   * each, and KL(policy || reference) over the vocabulary, in nats, each (N, R). No gradients.
   */
  public NDArray[] responseLogpsAndKl(NDArray policy, NDArray reference, NDArray targets) {
    long n = policy.getShape().get(0);
    long r = policy.getShape().get(1);
    long c = policy.getShape().get(2);
    NDArray hp = policy.reshape(n * r, c);
    NDArray hq = reference.reshape(n * r, c);
    NDArray t = targets.reshape(n * r, 1);
    long block = headBlock();
    NDList[] out = {new NDList(), new NDList(), new NDList()};
    for (long from = 0; from < n * r; from += block) {
      String span = from + ":" + Math.min(n * r, from + block);
      NDArray tc = t.get(span);
      NDArray logitsP = Ops.linear(hp.get(span), lmHead, null); // (s, V)
      NDArray logP = logitsP.logSoftmax(1);
      logitsP.close();
      NDArray logitsQ = Ops.linear(hq.get(span), lmHead, null);
      NDArray logQ = logitsQ.logSoftmax(1);
      logitsQ.close();
      out[0].add(logP.gather(tc, 1).squeeze(1));
      out[1].add(logQ.gather(tc, 1).squeeze(1));
      NDArray diff = logP.sub(logQ);
      NDArray probs = logP.exp();
      NDArray terms = probs.mul(diff);
      out[2].add(terms.sum(new int[] {1}));
      for (NDArray a : new NDArray[] {logP, logQ, diff, probs, terms}) {
        a.close();
      }
    }
    NDArray[] result = new NDArray[3];
    for (int i = 0; i < 3; i++) {
      result[i] = (out[i].size() == 1 ? out[i].head() : NDArrays.concat(out[i], 0)).reshape(n, r);
    }
    return result;
  }

  private long headBlock() {
    return headChunkPositions;
  }

  /**
   * Positions per LM-head block in {@link #responseLogps} (default: logits of at most {@link
   * #HEAD_CHUNK_BYTES}).
   */
  public void setHeadChunkPositions(long positions) {
    if (positions < 1) {
      throw new IllegalArgumentException("head chunk positions must be >= 1, got " + positions);
    }
    this.headChunkPositions = positions;
  }

  private static NDArray embed(NDArray ids, NDArray table) {
    return table.getNDArrayInternal().embedding(ids, table, SparseFormat.DENSE).head();
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
    NDArray x = embed(ids);
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
    NDArray[] qkv = qkv(l, b, x, adapter, n, t); // (N, nh|nkv, T, hs) each
    NDArray q = rope(qkv[0], p.cos(), p.sin()); // (N, nh, T, hs)
    NDArray k = rope(qkv[1], p.cos(), p.sin()); // (N, nkv, T, hs)
    NDArray y = attend(scaled(q), k, qkv[2], p.mask()); // (N, nh, T, hs)
    return output(l, b, y, adapter); // (N, T, C)
  }

  /** q, k, v of x (N, T, C), split into heads: (N, nh, T, hs), (N, nkv, T, hs), (N, nkv, T, hs). */
  private NDArray[] qkv(int l, Block b, NDArray x, Adapter adapter, long n, long t) {
    int nh = config.numHeads();
    int nkv = config.numKvHeads();
    int hs = config.headDim();
    NDList qkv = Ops.linear(x, b.wQkv, b.bQkv).split(new long[] {nh * hs, (nh + nkv) * hs}, 2);
    NDArray q = plus(qkv.get(0), adapter, l, Projection.Q, x); // (N, T, nh hs)
    NDArray k = plus(qkv.get(1), adapter, l, Projection.K, x); // (N, T, nkv hs)
    NDArray v = plus(qkv.get(2), adapter, l, Projection.V, x); // (N, T, nkv hs)
    return new NDArray[] {
      q.reshape(n, t, nh, hs).transpose(0, 2, 1, 3), // (N, nh, T, hs)
      k.reshape(n, t, nkv, hs).transpose(0, 2, 1, 3), // (N, nkv, T, hs)
      v.reshape(n, t, nkv, hs).transpose(0, 2, 1, 3) // (N, nkv, T, hs)
    };
  }

  private NDArray scaled(NDArray q) {
    return Ops.mul(q, 1.0 / Math.sqrt(config.headDim()));
  }

  /** The output projection of attention heads y (N, nh, T, hs): (N, T, C). */
  private NDArray output(int l, Block b, NDArray y, Adapter adapter) {
    long n = y.getShape().get(0);
    long t = y.getShape().get(2);
    NDArray merged =
        y.transpose(0, 2, 1, 3).reshape(n, t, (long) config.numHeads() * config.headDim());
    return plus(Ops.linear(merged, b.wO, b.bO), adapter, l, Projection.O, merged); // (N, T, C)
  }

  /**
   * softmax(q k^T + mask) v for pre-scaled q (N, nh, Tq, hs) and k, v (N, nkv, Tk, hs), with an
   * additive mask (Tq, Tk) shared by all rows or (N, 1, Tq, Tk) per row. Grouped-query attention
   * without repeating k/v: the g query heads of one kv head are stacked along time, so each kv head
   * meets all its queries in one matmul. Rows are processed in chunks whose scores stay under
   * {@link #ATTENTION_CHUNK_BYTES} on CPU: larger blocks exceed glibc's mmap threshold, and every
   * fresh mapping costs page faults on each use.
   */
  private NDArray attend(NDArray q, NDArray k, NDArray v, NDArray mask) {
    long n = q.getShape().get(0);
    long tq = q.getShape().get(2);
    long tk = k.getShape().get(2);
    int nh = config.numHeads();
    int nkv = config.numKvHeads();
    int hs = config.headDim();
    int g = config.groupSize();
    boolean perRow = mask.getShape().dimension() == 4;
    long rows = Math.max(1, attentionChunkBytes / (4L * nh * tq * tk));
    NDList out = new NDList();
    for (long from = 0; from < n; from += rows) {
      String r = from + ":" + Math.min(n, from + rows);
      NDArray qc = q.get(r);
      long c = qc.getShape().get(0);
      NDArray qg = qc.reshape(c, nkv, g * tq, hs); // (c, nkv, g Tq, hs)
      NDArray scores = qg.matMul(k.get(r).transpose(0, 1, 3, 2)); // (c, nkv, g Tq, Tk)
      NDArray byHead = scores.reshape(c, nh, tq, tk); // a view: it keeps the scores alive too
      NDArray masked = byHead.add(perRow ? mask.get(r) : mask);
      NDArray att = masked.softmax(-1); // (c, nh, Tq, Tk)
      // the scores before softmax are not needed for backward (softmax keeps its output, the
      // matmul its inputs): free them now rather than with the step, a third of the memory
      // attention holds otherwise (autograd keeps its own references to what it saved)
      scores.close();
      byHead.close();
      masked.close();
      NDArray y = att.reshape(c, nkv, g * tq, tk).matMul(v.get(r)); // (c, nkv, g Tq, hs)
      out.add(y.reshape(c, nh, tq, hs)); // (c, nh, Tq, hs)
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

  /**
   * q * cos + rotate_half(q) * sin, rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]); cos and sin
   * are (T, hs) for positions shared by all rows or (N, 1, T, hs) per row.
   */
  private static NDArray rope(NDArray x, NDArray cos, NDArray sin) {
    NDList halves = x.split(2, 3); // 2 x (..., T, hs/2)
    NDArray rotated = NDArrays.concat(new NDList(halves.get(1).neg(), halves.get(0)), 3);
    return x.mul(cos).add(rotated.mul(sin));
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
