package dev.prefstream.trainer.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.prefstream.trainer.DpoTrainer;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.lora.LoraConfig;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.model.ModelConfig;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.model.Projection;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Throughput of a DPO step (reference forward, policy forward and backward, AdamW) on a bench
 * preset, and its FLOP efficiency against the same libtorch's sgemm peak measured in the same run.
 * Both are best-of measurements (the fastest step, the fastest sgemm taken before and between the
 * steps): on a shared machine other work only ever slows a run down, and both meet the same
 * neighbours. FLOPs are the matrix multiplications the step performs, counted analytically: every
 * base matmul in the reference and policy forwards, their input gradients in the backward (none for
 * layer 0's q/k/v, whose input needs no gradient), the full T x T attention products (forward once
 * per pass, twice as many in the backward), and the LoRA matmuls (forward, and both gradients).
 */
public final class TrainBenchmark {

  /** The bench preset and run length. */
  public record Options(
      int hiddenSize,
      int layers,
      int heads,
      int kvHeads,
      int intermediateSize,
      int seqLen,
      int pairs,
      int loraR,
      int warmupSteps,
      int steps,
      Device device) {

    /** hidden 512, 8 layers, 8 heads, sequence 512, 4 pairs, LoRA r 16 on q/k/v/o. */
    public static Options preset() {
      return new Options(512, 8, 8, 8, 1408, 512, 4, 16, 1, 3, CausalLm.defaultDevice());
    }
  }

  /** What one run measured. */
  public record Result(
      double msPerStep,
      double tokensPerSecond,
      double flopPerStep,
      double achievedGflops,
      double peakGflops,
      double efficiency,
      int threads,
      String device) {

    public String describe() {
      return String.format(
          Locale.ROOT,
          "DPO step: %.0f ms, %.0f tokens/s, %.1f GFLOP/step, %.1f GFLOP/s achieved; sgemm peak"
              + " %.1f GFLOP/s (%d thread(s), %s): efficiency %.0f%%",
          msPerStep,
          tokensPerSecond,
          flopPerStep / 1e9,
          achievedGflops,
          peakGflops,
          threads,
          device,
          100 * efficiency);
    }
  }

  private TrainBenchmark() {}

  public static Result run(Options o, Consumer<String> log) throws IOException {
    return run(o, log, () -> {});
  }

  /**
   * As above, running {@code afterEachStep} inside each timed step (what a service does after a
   * step, e.g. recording metrics), so its cost shows in the step time.
   */
  public static Result run(Options o, Consumer<String> log, Runnable afterEachStep)
      throws IOException {
    Path dir = Files.createTempDirectory("prefstream-bench");
    try {
      ModelInit.write(
          dir,
          ModelInit.Spec.builder("llama")
              .optSeed(1)
              .optHiddenSize(o.hiddenSize())
              .optLayers(o.layers())
              .optHeads(o.heads())
              .optKvHeads(o.kvHeads())
              .optIntermediateSize(o.intermediateSize())
              .build());
      try (CausalLm lm = CausalLm.load(dir, o.device())) {
        LoraConfig lora =
            Recipe.of(Recipe.LORA_R_CONFIG, o.loraR(), Recipe.LORA_ALPHA_CONFIG, 2.0 * o.loraR())
                .lora();
        List<EncodedPair> batch = batch(o);
        double peak = sgemmPeak(lm.manager(), log);
        try (LoraAdapter adapter = LoraAdapter.init(lm, lora, 1);
            DpoTrainer trainer = new DpoTrainer(lm, adapter, Recipe.defaults().train())) {
          for (int i = 0; i < o.warmupSteps(); i++) {
            trainer.step(batch);
          }
          double[] ms = new double[o.steps()];
          for (int i = 0; i < o.steps(); i++) {
            long t0 = System.nanoTime();
            trainer.step(batch);
            afterEachStep.run();
            ms[i] = (System.nanoTime() - t0) / 1e6;
            log.accept(String.format(Locale.ROOT, "step %d: %.0f ms", i + 1, ms[i]));
            // sgemm between steps too: on a shared machine both see the same neighbours
            peak = Math.max(peak, sgemmPeak(lm.manager(), log));
          }
          Arrays.sort(ms);
          double best = ms[0];
          double flop = stepFlop(lm.config(), lora, 2 * o.pairs(), o.seqLen());
          double achieved = flop / (best / 1e3) / 1e9;
          int threads =
              Integer.getInteger(
                  "ai.djl.pytorch.num_threads", Runtime.getRuntime().availableProcessors());
          log.accept(
              String.format(
                  Locale.ROOT, "steps: best %.0f ms, median %.0f ms", best, ms[ms.length / 2]));
          return new Result(
              best,
              2.0 * o.pairs() * o.seqLen() / (best / 1e3),
              flop,
              achieved,
              peak,
              achieved / peak,
              threads,
              lm.device().toString());
        }
      }
    } finally {
      try (var files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  /** Four pairs of a 256-token prompt and 256-token responses: every row is seqLen long. */
  static List<EncodedPair> batch(Options o) {
    SplittableRandom rng = new SplittableRandom(7);
    List<EncodedPair> pairs = new ArrayList<>();
    int prompt = o.seqLen() / 2;
    int response = o.seqLen() - prompt;
    for (int i = 0; i < o.pairs(); i++) {
      pairs.add(
          new EncodedPair(
              rng.ints(prompt, 0, 256).toArray(),
              rng.ints(response, 0, 256).toArray(),
              rng.ints(response, 0, 256).toArray()));
    }
    return pairs;
  }

  /** Matmul FLOPs of one DPO step over {@code rows} sequences of length {@code t}. */
  public static double stepFlop(ModelConfig c, LoraConfig lora, int rows, int t) {
    double tokens = (double) rows * t;
    double hidden = c.hiddenSize();
    double q = (double) c.numHeads() * c.headDim();
    double kv = (double) c.numKvHeads() * c.headDim();
    double qkv = hidden * (q + 2 * kv);
    double perLayer = qkv + q * hidden + 3 * hidden * c.intermediateSize();
    double head = hidden * c.vocabSize();
    double base = 2 * tokens * (c.numLayers() * perLayer + head);
    double attention = 2 * 2 * rows * c.numHeads() * (double) t * t * c.headDim() * c.numLayers();
    double loraFwd = 0;
    for (Projection p : lora.targets()) {
      loraFwd += 2 * tokens * lora.r() * (p.inFeatures(c) + p.outFeatures(c)) * c.numLayers();
    }
    double baseBackward = base - 2 * tokens * qkv;
    return 2 * (base + attention) + loraFwd + baseBackward + 2 * attention + 2 * loraFwd;
  }

  /**
   * The best of a few 2048^3 sgemm runs through the same engine, in GFLOP/s (the best, because on
   * shared machines other work only ever slows a run down).
   */
  static double sgemmPeak(NDManager parent, Consumer<String> log) {
    int n = 2048;
    double best = 0;
    try (NDManager m = parent.newSubManager()) {
      NDArray a = m.randomUniform(-1, 1, new Shape(n, n));
      NDArray b = m.randomUniform(-1, 1, new Shape(n, n));
      for (int i = 0; i < 3; i++) {
        long t0 = System.nanoTime();
        try (NDArray c = a.matMul(b)) {
          c.getFloat(0, 0); // wait for the result
        }
        double s = (System.nanoTime() - t0) / 1e9;
        best = Math.max(best, 2.0 * n * n * n / s / 1e9);
      }
    }
    log.accept(
        String.format(
            Locale.ROOT,
            "sgemm %d^3 peak: %.1f GFLOP/s (%s)",
            n,
            best,
            Engine.getEngine("PyTorch").getVersion()));
    return best;
  }

  public static void main(String[] args) throws IOException {
    Result r = run(Options.preset(), System.out::println);
    System.out.println(r.describe());
  }
}
