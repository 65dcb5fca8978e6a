package dev.prefstream.trainer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.prefstream.schemas.MetricNames;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.model.ModelConfig;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shared-prompt step against the plain step (TRL's concatenated forward) on random pairs of
 * different prompt and response lengths: the same loss, the same gradients and the same weights
 * after AdamW, within float32 rounding bounds derived below. Models cover grouped-query attention,
 * q/k/v biases and tied embeddings (qwen2), a sliding window (mistral), several bucketing groups in
 * permuted order, a chunked LM head, and every LoRA target.
 */
class SharedPromptStepTest {

  /** float32's unit roundoff. */
  static final double U = 0x1p-24;

  @TempDir Path tmp;

  @Test
  void qwen2WithTiedEmbeddingsBucketsAndAChunkedHead() throws Exception {
    Path dir = tmp.resolve("qwen2");
    ModelInit.write(
        dir,
        ModelInit.Spec.builder("qwen2")
            .optSeed(11)
            .optVocabSize(300)
            .optTieEmbeddings(true)
            .optInitializerRange(0.2)
            .build());
    try (CausalLm lm = CausalLm.load(dir, Device.cpu())) {
      lm.setChunkTokens(40); // several groups, pairs out of order
      lm.setHeadChunkPositions(7); // head blocks that straddle rows
      compareEveryLoss(lm, pairs(5, 300, 3));
    }
  }

  @Test
  void mistralWithASlidingWindow() throws Exception {
    Path dir = tmp.resolve("mistral");
    ModelInit.write(
        dir, ModelInit.Spec.builder("llama").optSeed(12).optInitializerRange(0.2).build());
    ObjectMapper json = new ObjectMapper();
    ObjectNode config = (ObjectNode) json.readTree(dir.resolve("config.json").toFile());
    config.putArray("architectures").add("MistralForCausalLM");
    config.put("model_type", "mistral");
    config.put("sliding_window", 5); // shorter than most prompt + response sequences below
    json.writeValue(dir.resolve("config.json").toFile(), config);
    try (CausalLm lm = CausalLm.load(dir, Device.cpu())) {
      assertThat(lm.config().slidingWindow()).isEqualTo(5);
      compareEveryLoss(lm, pairs(4, lm.config().vocabSize(), 4));
    }
  }

  /** Held-out evaluation: policy and reference log-probs and the gate's KL as the plain forward. */
  @Test
  void evaluationLogpsAndKlMatchThePlainForward() throws Exception {
    Path dir = tmp.resolve("eval");
    ModelInit.write(
        dir, ModelInit.Spec.builder("qwen2").optSeed(13).optInitializerRange(0.2).build());
    try (CausalLm lm = CausalLm.load(dir, Device.cpu())) {
      lm.setChunkTokens(40);
      List<EncodedPair> pairs = pairs(5, lm.config().vocabSize(), 5);
      Recipe recipe = recipe("sigmoid");
      try (LoraAdapter a = LoraAdapter.init(lm, recipe.lora(), 3)) {
        randomize(a, 21);
        EvalResult r = Scorer.evaluate(lm, a.adapter(), recipe.loss(), pairs, 2);
        double klTotal = 0;
        long positions = 0;
        for (int i = 0; i < pairs.size(); i++) {
          EncodedPair p = pairs.get(i);
          EvalResult.PairScore s = r.pairs().get(i);
          int k = 0;
          for (int[] response : List.of(p.chosenIds(), p.rejectedIds())) {
            double[] plain = plain(lm, a, p.promptIds(), response);
            double policy = k == 0 ? s.policyChosenLogps() : s.policyRejectedLogps();
            double reference = k == 0 ? s.referenceChosenLogps() : s.referenceRejectedLogps();
            double tol = logpTolerance(lm.config(), p.promptIds().length + response.length);
            assertThat(policy).isCloseTo(plain[0], within(2 * tol * Math.abs(plain[0])));
            assertThat(reference).isCloseTo(plain[1], within(2 * tol * Math.abs(plain[1])));
            klTotal += plain[2];
            positions += response.length;
            k++;
          }
        }
        double kl = klTotal / positions;
        assertThat(kl).as("the adapter moved the distribution").isGreaterThan(1e-4);
        // KL = sum_v p (log p - log q): each log-prob within tol * |log p| of exact, so the sum is
        // within 2 * tol * (the positions' mean of sum_v p |log p| + |log q|) <= 2 tol * 2 ln V'
        // where ln V' bounds the entropy-like sums (random weights: near-uniform distributions)
        double tol = logpTolerance(lm.config(), 32) * 4 * 2 * Math.log(lm.config().vocabSize());
        assertThat(r.metrics().get(MetricNames.KL)).isCloseTo(kl, within(tol));
      }
    }
  }

  private void compareEveryLoss(CausalLm lm, List<EncodedPair> pairs) throws Exception {
    for (String loss : List.of("sigmoid", "ld", "simpo", "ipo")) {
      Recipe recipe = recipe(loss);
      Step plain = step(lm, recipe, pairs, true);
      Step fast = step(lm, recipe, pairs, false);
      double tol = gradientTolerance(lm.config(), pairs);
      // loss: sigmoid-family losses have |d loss / d z| <= beta (ipo: 2 beta |z - 1/(2 beta)|)
      // for z a signed sum of four (per-token averaged for simpo and ipo) sequence log-probs, each
      // within tol of its size
      double slope =
          loss.equals("ipo")
              ? 2 * recipe.loss().beta() * (Math.abs(plain.z) + 1 / (2 * recipe.loss().beta()))
              : recipe.loss().beta();
      assertThat(fast.result.loss())
          .as(loss + " loss")
          .isCloseTo(plain.result.loss(), within(2 * slope * tol * plain.logpScale + 1e-7));
      assertThat(fast.result.applied()).isTrue();
      for (int i = 0; i < plain.grads.size(); i++) {
        float[] want = plain.grads.get(i);
        float[] got = fast.grads.get(i);
        double diff = 0;
        double ref = 0;
        for (int k = 0; k < want.length; k++) {
          diff += (got[k] - (double) want[k]) * (got[k] - (double) want[k]);
          ref += (double) want[k] * want[k];
        }
        assertThat(ref).as(loss + " gradient " + i + " is not zero").isGreaterThan(0);
        // each within tol of the exact gradient (GoldenTrainTest#gradientTolerance): 2 tol apart
        assertThat(Math.sqrt(diff / ref))
            .as(loss + " gradient " + i + " relative difference")
            .isLessThanOrEqualTo(2 * tol);
        // AdamW's first step moves w by lr * g / (|g| + eps) (plus the same decay): a function of g
        // with slope at most 1 / (|g| + eps) and range 2, so the weights may differ by lr times
        // that much, plus twice (two computations) the first step's float32 rounding that
        // GoldenTrainTest#adamTolerance derives: u (3 |w| + 14 lr)
        double lr = recipe.train().learningRate();
        double eps = recipe.train().eps();
        float[] wantW = plain.weights.get(i);
        float[] gotW = fast.weights.get(i);
        for (int k = 0; k < wantW.length; k++) {
          double dg = Math.abs(got[k] - (double) want[k]);
          double slack = Math.min(2, dg / (Math.min(Math.abs(got[k]), Math.abs(want[k])) + eps));
          double wTol = lr * slack + 2 * U * (3 * Math.abs(wantW[k]) + 14 * lr);
          assertThat((double) gotW[k])
              .as(loss + " weight " + i + "[" + k + "]")
              .isCloseTo(wantW[k], within(wTol));
        }
      }
    }
  }

  /** What one step did: its result, the gradients AdamW got, the weights after it. */
  private record Step(
      StepResult result, List<float[]> grads, List<float[]> weights, double logpScale, double z) {}

  private Step step(CausalLm lm, Recipe recipe, List<EncodedPair> pairs, boolean plain) {
    List<float[]> grads = new ArrayList<>();
    try (LoraAdapter a = LoraAdapter.init(lm, recipe.lora(), 3)) {
      randomize(a, 17);
      EvalResult before = Scorer.evaluate(lm, a.adapter(), recipe.loss(), pairs, 8);
      double scale = 0;
      double z = 0;
      for (EvalResult.PairScore s : before.pairs()) {
        scale +=
            Math.abs(s.policyChosenLogps())
                + Math.abs(s.policyRejectedLogps())
                + Math.abs(s.referenceChosenLogps())
                + Math.abs(s.referenceRejectedLogps());
        z =
            Math.max(
                z,
                Math.abs(
                    s.policyChosenLogps()
                        - s.policyRejectedLogps()
                        - s.referenceChosenLogps()
                        + s.referenceRejectedLogps()));
      }
      try (DpoTrainer t = new DpoTrainer(lm, a, recipe.train()).usePlainStep(plain)) {
        t.beforeUpdate(gs -> gs.forEach(g -> grads.add(g.toFloatArray())));
        StepResult r = t.step(pairs);
        List<float[]> weights = a.parameters().stream().map(NDArray::toFloatArray).toList();
        return new Step(r, grads, weights, scale / pairs.size(), z);
      }
    }
  }

  /** LoRA B starts at zero, which would leave every A gradient zero: random A and B instead. */
  private static void randomize(LoraAdapter a, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    for (NDArray p : a.parameters()) {
      float[] v = new float[(int) p.size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = (float) (rng.nextGaussian() * 0.1);
      }
      p.set(v);
    }
  }

  private static Recipe recipe(String loss) {
    List<Object> kv =
        new ArrayList<>(
            List.of(
                Recipe.LOSS_CONFIG,
                loss.equals("ld") ? "sigmoid" : loss,
                Recipe.LR_CONFIG,
                0.01,
                Recipe.MAX_GRAD_NORM_CONFIG,
                0.0,
                Recipe.LORA_R_CONFIG,
                4,
                Recipe.LORA_ALPHA_CONFIG,
                8,
                Recipe.LORA_DROPOUT_CONFIG,
                0.0,
                Recipe.LORA_TARGET_MODULES_CONFIG,
                "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"));
    if (loss.equals("ld")) {
      kv.addAll(List.of(Recipe.LD_ALPHA_CONFIG, 0.5));
    }
    return Recipe.of(kv.toArray());
  }

  /** Random pairs: prompts of 1-12 tokens, responses of 1-10, all lengths different. */
  private static List<EncodedPair> pairs(int n, int vocab, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    List<EncodedPair> pairs = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      pairs.add(
          new EncodedPair(
              rng.ints(rng.nextInt(1, 13), 0, vocab).toArray(),
              rng.ints(rng.nextInt(1, 11), 0, vocab).toArray(),
              rng.ints(rng.nextInt(1, 11), 0, vocab).toArray()));
    }
    return pairs;
  }

  /**
   * Relative error bound of a float32 gradient, as {@code GoldenTrainTest#gradientTolerance}
   * derives it (Higham and Mary's probabilistic bound, lambda = 4, over D sequential stages of at
   * most K-term sums): 4 sqrt(D K) u with D = 2 (17 layers + 5), here with 3 more stages per layer
   * for the LoRA updates of k, v and gate, and K the longest sum.
   */
  static double gradientTolerance(ModelConfig c, List<EncodedPair> batch) {
    int depth = 2 * (20 * c.numLayers() + 5);
    int longest = 0;
    for (EncodedPair p : batch) {
      longest =
          Math.max(
              longest,
              p.promptIds().length + Math.max(p.chosenIds().length, p.rejectedIds().length));
    }
    int terms = Math.max(Math.max(c.hiddenSize(), c.intermediateSize()), c.vocabSize());
    terms = Math.max(terms, 2 * batch.size() * longest);
    return 4 * Math.sqrt((double) depth * terms) * U;
  }

  /** The same bound for a forward alone (half the stages): a sequence log-prob's relative error. */
  static double logpTolerance(ModelConfig c, int tokens) {
    int depth = 20 * c.numLayers() + 5;
    int terms = Math.max(Math.max(c.hiddenSize(), c.intermediateSize()), c.vocabSize());
    return 4 * Math.sqrt((double) depth * Math.max(terms, tokens)) * U;
  }

  /**
   * The plain forward of prompt + response: the summed response log-probs of policy and reference
   * and the summed per-position KL(policy || reference), from full (1, T, V) logits.
   */
  private static double[] plain(CausalLm lm, LoraAdapter a, int[] prompt, int[] response) {
    long[] ids = new long[prompt.length + response.length];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = i < prompt.length ? prompt[i] : response[i - prompt.length];
    }
    try (NDManager m = lm.manager().newSubManager()) {
      NDArray x = m.create(ids, new Shape(1, ids.length));
      NDArray logP = lm.logits(x, a.adapter()).logSoftmax(2); // (1, T, V)
      NDArray logQ = lm.logits(x, null).logSoftmax(2);
      String span = ":, " + (prompt.length - 1) + ":" + (ids.length - 1);
      NDArray targets = x.get(":, " + prompt.length + ":").expandDims(-1);
      double policy = logP.get(span).gather(targets, 2).sum().getFloat();
      double reference = logQ.get(span).gather(targets, 2).sum().getFloat();
      double kl = logP.exp().mul(logP.sub(logQ)).sum(new int[] {2}).get(span).sum().getFloat();
      return new double[] {policy, reference, kl};
    }
  }
}
