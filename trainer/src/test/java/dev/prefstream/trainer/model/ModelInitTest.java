package dev.prefstream.trainer.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SortedMap;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ModelInit streams model.safetensors: the same bytes the in-memory writer makes of its tensors.
 */
class ModelInitTest {

  @TempDir Path tmp;

  @Test
  void streamedWeightsAreWhatSafetensorsWriteMakesOfThem() throws Exception {
    ModelInit.Spec spec =
        ModelInit.Spec.builder("qwen2").optSeed(5).optLayers(3).optVocabSize(400).build();
    Path dir = tmp.resolve("m");
    ModelInit.write(dir, spec);
    Path file = dir.resolve("model.safetensors");
    Safetensors st = Safetensors.open(file);
    SortedMap<String, Safetensors.Tensor> tensors = new TreeMap<>();
    for (Safetensors.Entry e : st.entries().values()) {
      tensors.put(e.name(), new Safetensors.Tensor(e.shape(), st.floats(e.name())));
    }
    assertThat(tensors).containsKeys("model.layers.2.self_attn.q_proj.bias", "lm_head.weight");
    assertThat(Files.readAllBytes(file)).isEqualTo(Safetensors.write(tensors));

    // values are drawn in module order from the seed: the embedding first, whatever the layout
    SplittableRandom rng = new SplittableRandom(5);
    float[] embed = tensors.get("model.embed_tokens.weight").data();
    for (int i = 0; i < 3; i++) {
      assertThat(embed[i]).isEqualTo((float) (rng.nextGaussian() * spec.initializerRange()));
    }
    assertThat(tensors.get("model.norm.weight").data()).containsOnly(1f);

    // a second write (over the first: truncated, not appended) gives the same file
    byte[] first = Files.readAllBytes(file);
    ModelInit.write(dir, spec);
    assertThat(Files.readAllBytes(file)).isEqualTo(first);
  }
}
