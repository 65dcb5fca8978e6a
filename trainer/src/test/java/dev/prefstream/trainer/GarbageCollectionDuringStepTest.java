package dev.prefstream.trainer;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import dev.prefstream.schemas.Sha256;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.loss.LossType;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.model.ModelInit;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.EncodedExample;
import dev.prefstream.trainer.tokenize.EncodedPair;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A garbage collection while libtorch's autograd graph is alive must not change a step. Between the
 * policy forward and backward the graph holds the tensors it saved for backward; if any of them
 * lives in memory that the JVM owns and frees (a DJL array made from Java data whose wrapper is
 * closed or unreachable, such as the scalar that {@code NDArray.mul(Number)} creates and closes),
 * backward reads freed memory: garbage gradients, skipped steps, or silently wrong updates that
 * break bit-identical resume and audit replay. Every step here forces a collection at that point
 * and must match an undisturbed run bit for bit, for every loss.
 */
class GarbageCollectionDuringStepTest {

  @TempDir static Path dir;
  static CausalLm lm;
  static final List<EncodedPair> PAIRS = Fixtures.bangPreference(3, 12);
  static final int STEPS = 3;

  @BeforeAll
  static void load() throws Exception {
    ModelInit.write(dir, ModelInit.Spec.builder("llama").optSeed(7).build());
    lm = CausalLm.load(dir, Device.cpu());
  }

  @AfterAll
  static void close() {
    lm.close();
  }

  static Stream<Arguments> losses() {
    List<Arguments> all = new ArrayList<>();
    for (LossType t : LossType.values()) {
      all.add(Arguments.of(t.trlName(), recipe(Recipe.LOSS_CONFIG, t.trlName())));
    }
    all.add(
        Arguments.of(
            "sigmoid + label smoothing, ld_alpha, pref_ftx",
            recipe(
                Recipe.LABEL_SMOOTHING_CONFIG, 0.1,
                Recipe.LD_ALPHA_CONFIG, 0.5,
                Recipe.PREF_FTX_CONFIG, 0.2)));
    all.add(
        Arguments.of(
            "robust + label smoothing",
            recipe(Recipe.LOSS_CONFIG, "robust", Recipe.LABEL_SMOOTHING_CONFIG, 0.1)));
    return all.stream();
  }

  /** lr 5e-3 and seed 5 with {@code keyValues} on top. */
  private static TrainConfig recipe(Object... keyValues) {
    List<Object> all = new ArrayList<>(List.of(Recipe.LR_CONFIG, 5e-3, Recipe.SEED_CONFIG, 5));
    all.addAll(List.of(keyValues));
    return Recipe.of(all.toArray()).train();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("losses")
  void aCollectionBetweenForwardAndBackwardChangesNothing(String name, TrainConfig cfg)
      throws Exception {
    List<String> undisturbed = train(cfg, false);
    List<String> collected = train(cfg, true);
    assertThat(collected).as(name).isEqualTo(undisturbed);
  }

  /** Per step "applied loss gradNorm" (exact bits), then the adapter's and optimizer's sha-256. */
  private static List<String> train(TrainConfig cfg, boolean collect) throws Exception {
    List<String> trace = new ArrayList<>();
    try (LoraAdapter a = LoraAdapter.init(lm, DpoTrainerTest.allTargets(0.1), 3);
        DpoTrainer t = new DpoTrainer(lm, a, cfg)) {
      if (collect) {
        t.beforeBackward(GarbageCollection::full);
      }
      for (int s = 0; s < STEPS; s++) {
        List<EncodedPair> batch = PAIRS.subList(4 * s, 4 * s + 4);
        StepResult r =
            cfg.loss().type().unpaired() ? t.stepUnpaired(unpaired(batch)) : t.step(batch);
        assertThat(r.applied()).as("step %d applied (gradNorm %s)", s, r.gradNorm()).isTrue();
        trace.add(
            r.applied()
                + " "
                + Double.doubleToRawLongBits(r.loss())
                + " "
                + Double.doubleToRawLongBits(r.gradNorm()));
      }
      trace.add(a.sha256());
      trace.add(Sha256.hex(t.optimizerState()));
    }
    return trace;
  }

  private static List<EncodedExample> unpaired(List<EncodedPair> pairs) {
    List<EncodedExample> out = new ArrayList<>();
    for (EncodedPair p : pairs) {
      out.add(new EncodedExample(p.promptIds(), p.chosenIds(), true));
      out.add(new EncodedExample(p.promptIds(), p.rejectedIds(), false));
    }
    return out;
  }
}
