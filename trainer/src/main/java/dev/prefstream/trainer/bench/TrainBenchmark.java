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
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Throughput of a DPO step (reference forward, policy forward and backward, AdamW), the plain step
 * (TRL's concatenated forward) and the shared-prompt step on the same pairs in one run, on a bench
 * preset, with each step's FLOP efficiency: the plain step's matmul FLOPs divided by the step's
 * time and by the same libtorch's sgemm peak measured in the same run (so a step that skips work
 * can exceed 100%). All are best-of measurements (the fastest step, the fastest sgemm taken before
 * and between the steps): on a shared machine other work only ever slows a run down, and both meet
 * the same neighbours. The plain step's FLOPs are counted analytically: every base matmul in the
 * reference and policy forwards, their input gradients in the backward (none for layer 0's q/k/v,
 * whose input needs no gradient), the full T x T attention products (forward once per pass, twice
 * as many in the backward), and the LoRA matmuls (forward, and both gradients).
 */
public final class TrainBenchmark {

  /** A model shape and the default run length for it. */
  public record Preset(
      String name,
      String arch,
      int hiddenSize,
      int layers,
      int heads,
      int kvHeads,
      int intermediateSize,
      int vocabSize,
      boolean tieEmbeddings,
      int seqLen,
      int pairs) {

    /** Today's bench shape: hidden 512, 8 layers, 8 heads, the byte vocabulary; 4 pairs of 512. */
    public static final Preset DEFAULT =
        new Preset("default", "llama", 512, 8, 8, 8, 1408, ModelInit.TOKENIZER_SIZE, false, 512, 4);

    /**
     * Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 kv heads, intermediate 4864,
     * vocabulary 151936, tied embeddings) with random weights; 1 pair of 1024.
     */
    public static final Preset QWEN25_05B =
        new Preset("qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, true, 1024, 1);

    public static final List<Preset> ALL = List.of(DEFAULT, QWEN25_05B);

    public static Preset named(String name) {
      for (Preset p : ALL) {
        if (p.name().equals(name)) {
          return p;
        }
      }
      throw new IllegalArgumentException(
          "unknown shape '" + name + "'; known: " + ALL.stream().map(Preset::name).toList());
    }

    ModelInit.Spec spec(int maxPositions) {
      return ModelInit.Spec.builder(arch)
          .optSeed(1)
          .optHiddenSize(hiddenSize)
          .optLayers(layers)
          .optHeads(heads)
          .optKvHeads(kvHeads)
          .optIntermediateSize(intermediateSize)
          .optVocabSize(vocabSize)
          .optTieEmbeddings(tieEmbeddings)
          .optMaxPositions(maxPositions)
          .build();
    }
  }

  /**
   * One run: the preset, the sequence length (prompt and response of seqLen/2 each), pairs per
   * step, LoRA rank (q/k/v/o), warm-up and timed steps per kind, and which kinds to run.
   */
  public record Options(
      Preset preset,
      int seqLen,
      int pairs,
      int loraR,
      int warmupSteps,
      int steps,
      boolean plain,
      boolean fast,
      Device device) {

    public Options {
      if (seqLen < 2 || pairs < 1 || loraR < 1 || warmupSteps < 0 || steps < 1) {
        throw new IllegalArgumentException(
            "bench needs seq-len >= 2, pairs >= 1, lora-r >= 1, warmup >= 0, steps >= 1; got "
                + seqLen
                + ", "
                + pairs
                + ", "
                + loraR
                + ", "
                + warmupSteps
                + ", "
                + steps);
      }
      if (!plain && !fast) {
        throw new IllegalArgumentException("bench needs the plain step, the fast step or both");
      }
    }

    public static Options preset(Preset p) {
      return new Options(p, p.seqLen(), p.pairs(), 16, 1, 3, true, true, CausalLm.defaultDevice());
    }

    /** Tokens per step as the sequences count them: 2 rows (chosen, rejected) of seqLen a pair. */
    public long tokensPerStep() {
      return 2L * pairs * seqLen;
    }
  }

  /** One step kind's measurement; null fields of a {@link Result} mean that kind did not run. */
  public record StepTiming(
      double secondsPerStep, double tokensPerSecond, double flopEfficiency, long peakRssBytes) {}

  /** What one run measured. */
  public record Result(
      String preset,
      int seq,
      int pairs,
      double sgemmGflops,
      long peakRssBytes,
      Double speedup,
      double plainFlopPerStep,
      StepTiming plain,
      StepTiming fast,
      int threads,
      String device) {

    /** Seconds per step of the default (fast) step, or of the plain one when only it ran. */
    public double secondsPerStep() {
      return (fast != null ? fast : plain).secondsPerStep();
    }

    /** The JSON object of {@code prefstream bench train --output json}, field names fixed. */
    public Map<String, Object> json() {
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("preset", preset);
      o.put("seq", seq);
      o.put("pairs", pairs);
      o.put("sgemm_gflops", sgemmGflops);
      o.put("peak_rss_bytes", peakRssBytes);
      o.put("speedup", speedup);
      o.put("plain", timing(plain));
      o.put("fast", timing(fast));
      o.put("plain_gflop_per_step", plainFlopPerStep / 1e9);
      o.put("threads", threads);
      o.put("device", device);
      return o;
    }

    private static Map<String, Object> timing(StepTiming t) {
      if (t == null) {
        return null;
      }
      Map<String, Object> o = new LinkedHashMap<>();
      o.put("seconds_per_step", t.secondsPerStep());
      o.put("tokens_per_second", t.tokensPerSecond());
      o.put("flop_efficiency", t.flopEfficiency());
      o.put("peak_rss_bytes", t.peakRssBytes());
      return o;
    }

    public String describe() {
      StringBuilder s = new StringBuilder();
      s.append(
          String.format(
              Locale.ROOT,
              "%s, seq %d, %d pair(s): plain step %.1f GFLOP; sgemm peak %.1f GFLOP/s (%d"
                  + " thread(s), %s)%n",
              preset,
              seq,
              pairs,
              plainFlopPerStep / 1e9,
              sgemmGflops,
              threads,
              device));
      for (Map.Entry<String, StepTiming> e : kinds().entrySet()) {
        StepTiming t = e.getValue();
        s.append(
            String.format(
                Locale.ROOT,
                "%-5s step: %.3f s, %.0f tokens/s, efficiency %.0f%% (plain FLOPs / time / peak),"
                    + " peak RSS %.2f GB%n",
                e.getKey(),
                t.secondsPerStep(),
                t.tokensPerSecond(),
                100 * t.flopEfficiency(),
                t.peakRssBytes() / 1e9));
      }
      if (speedup != null) {
        s.append(String.format(Locale.ROOT, "speedup (plain / fast): %.2fx%n", speedup));
      }
      s.append(String.format(Locale.ROOT, "peak RSS of the run: %.2f GB", peakRssBytes / 1e9));
      return s.toString();
    }

    private Map<String, StepTiming> kinds() {
      Map<String, StepTiming> m = new LinkedHashMap<>();
      if (plain != null) {
        m.put("plain", plain);
      }
      if (fast != null) {
        m.put("fast", fast);
      }
      return m;
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
      log.accept("writing a random " + o.preset().name() + " model");
      ModelInit.write(dir, o.preset().spec(Math.max(2048, o.seqLen())));
      try (CausalLm lm = CausalLm.load(dir, o.device())) {
        LoraConfig lora =
            Recipe.of(Recipe.LORA_R_CONFIG, o.loraR(), Recipe.LORA_ALPHA_CONFIG, 2.0 * o.loraR())
                .lora();
        List<EncodedPair> batch = batch(o, lm.config().vocabSize());
        double[] peak = {sgemmPeak(lm.manager(), log)};
        double flop = stepFlop(lm.config(), lora, 2 * o.pairs(), o.seqLen());
        StepTiming plain = null;
        StepTiming fast = null;
        if (o.plain()) {
          plain = time("plain", true, lm, lora, batch, o, flop, peak, log, afterEachStep);
        }
        if (o.fast()) {
          fast = time("fast", false, lm, lora, batch, o, flop, peak, log, afterEachStep);
        }
        // efficiencies against the best peak of the whole run
        plain = plain == null ? null : rescale(plain, flop, peak[0]);
        fast = fast == null ? null : rescale(fast, flop, peak[0]);
        int threads =
            Integer.getInteger(
                "ai.djl.pytorch.num_threads", Runtime.getRuntime().availableProcessors());
        return new Result(
            o.preset().name(),
            o.seqLen(),
            o.pairs(),
            peak[0],
            PeakMemory.processPeakBytes(),
            plain != null && fast != null ? plain.secondsPerStep() / fast.secondsPerStep() : null,
            flop,
            plain,
            fast,
            threads,
            lm.device().toString());
      }
    } finally {
      try (var files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static StepTiming time(
      String kind,
      boolean usePlain,
      CausalLm lm,
      LoraConfig lora,
      List<EncodedPair> batch,
      Options o,
      double flop,
      double[] peak,
      Consumer<String> log,
      Runnable afterEachStep) {
    PeakMemory.resetPeak();
    try (LoraAdapter adapter = LoraAdapter.init(lm, lora, 1);
        DpoTrainer trainer =
            new DpoTrainer(lm, adapter, Recipe.defaults().train()).usePlainStep(usePlain)) {
      for (int i = 0; i < o.warmupSteps(); i++) {
        long t0 = System.nanoTime();
        trainer.step(batch);
        log.accept(
            String.format(
                Locale.ROOT, "%s warm-up step: %.3f s", kind, (System.nanoTime() - t0) / 1e9));
      }
      double[] s = new double[o.steps()];
      for (int i = 0; i < o.steps(); i++) {
        long t0 = System.nanoTime();
        trainer.step(batch);
        afterEachStep.run();
        s[i] = (System.nanoTime() - t0) / 1e9;
        log.accept(String.format(Locale.ROOT, "%s step %d: %.3f s", kind, i + 1, s[i]));
        // sgemm between steps too: on a shared machine both see the same neighbours
        peak[0] = Math.max(peak[0], sgemmPeak(lm.manager(), log));
      }
      long rss = PeakMemory.peakBytes();
      Arrays.sort(s);
      log.accept(
          String.format(
              Locale.ROOT,
              "%s steps: best %.3f s, median %.3f s, peak RSS %.2f GB",
              kind,
              s[0],
              s[s.length / 2],
              rss / 1e9));
      return new StepTiming(s[0], o.tokensPerStep() / s[0], flop / s[0] / 1e9 / peak[0], rss);
    }
  }

  private static StepTiming rescale(StepTiming t, double flop, double peak) {
    return new StepTiming(
        t.secondsPerStep(),
        t.tokensPerSecond(),
        flop / t.secondsPerStep() / 1e9 / peak,
        t.peakRssBytes());
  }

  /**
   * {@code pairs} pairs of a seqLen/2-token prompt and seqLen/2-token responses (prompt and
   * response of equal length): every plain row is seqLen long. Token ids uniform over the
   * vocabulary.
   */
  static List<EncodedPair> batch(Options o, int vocab) {
    SplittableRandom rng = new SplittableRandom(7);
    List<EncodedPair> pairs = new ArrayList<>();
    int prompt = o.seqLen() / 2;
    int response = o.seqLen() - prompt;
    for (int i = 0; i < o.pairs(); i++) {
      pairs.add(
          new EncodedPair(
              rng.ints(prompt, 0, vocab).toArray(),
              rng.ints(response, 0, vocab).toArray(),
              rng.ints(response, 0, vocab).toArray()));
    }
    return pairs;
  }

  /** Matmul FLOPs of one plain DPO step over {@code rows} sequences of length {@code t}. */
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
    Result r = run(Options.preset(Preset.DEFAULT), System.out::println);
    System.out.println(r.describe());
  }
}
