package dev.prefstream.trainer.offline;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.DpoTrainer;
import dev.prefstream.trainer.StepResult;
import dev.prefstream.trainer.lora.LoraAdapter;
import dev.prefstream.trainer.model.CausalLm;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.tokenize.PairEncoder;
import java.io.IOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Offline DPO-family training on a preference file, the way LLaMA-Factory users run it: encode the
 * file, take {@code steps} minibatch steps over seeded epoch shuffles, write a PEFT adapter
 * directory (plus training_log.jsonl with every step's metrics).
 */
public final class OfflineTrainer {

  /**
   * @param initAdapter a PEFT adapter to start from, or null for a fresh one from the recipe's LoRA
   *     settings
   * @param recipe loss, optimizer, LoRA, batch size, steps (0: one epoch), max length, device
   */
  public record Options(
      Path modelDir, Path dataFile, Path outDir, Path initAdapter, Recipe recipe) {}

  /** Called after every step. */
  public interface Progress {
    void onStep(int step, int total, StepResult result);
  }

  /** What a run did. */
  public record Result(
      int steps, int skipped, Map<String, Double> lastMetrics, String adapterSha256) {}

  private OfflineTrainer() {}

  public static Result run(Options o, Progress progress) throws IOException {
    boolean unpaired = o.recipe().train().loss().type().unpaired();
    try (CausalLm lm = CausalLm.load(o.modelDir(), o.recipe().device());
        PairEncoder enc =
            PairEncoder.load(
                o.modelDir(), o.recipe().maxLength(), o.recipe().chatTemplateKwargs())) {
      Dataset data = Dataset.encode(PreferenceFile.read(o.dataFile()), enc, unpaired);
      int perEpoch = (data.size() + o.recipe().batchSize() - 1) / o.recipe().batchSize();
      int total = o.recipe().steps() == 0 ? perEpoch : o.recipe().steps();
      try (LoraAdapter adapter =
              o.initAdapter() == null
                  ? LoraAdapter.init(lm, o.recipe().lora(), o.recipe().train().seed())
                  : LoraAdapter.load(lm, o.initAdapter());
          DpoTrainer trainer = new DpoTrainer(lm, adapter, o.recipe().train());
          Writer log = open(o.outDir())) {
        ObjectMapper json = new ObjectMapper();
        int skipped = 0;
        Map<String, Double> last = Map.of();
        int[] order = new int[0];
        for (int s = 0; s < total; s++) {
          int epoch = s / perEpoch;
          if (s % perEpoch == 0) {
            order = Dataset.order(data.size(), o.recipe().train().seed(), epoch);
          }
          int from = (s % perEpoch) * o.recipe().batchSize();
          int to = Math.min(data.size(), from + o.recipe().batchSize());
          StepResult r =
              unpaired
                  ? trainer.stepUnpaired(pick(data.examples(), order, from, to))
                  : trainer.step(pick(data.pairs(), order, from, to));
          skipped += r.applied() ? 0 : 1;
          last = r.metrics();
          Map<String, Object> line = new LinkedHashMap<>();
          line.put("step", s + 1);
          line.put("epoch", epoch);
          line.put("applied", r.applied());
          line.put("grad_norm", r.gradNorm());
          line.putAll(r.metrics());
          log.write(json.writeValueAsString(line) + "\n");
          progress.onStep(s + 1, total, r);
        }
        adapter.writePeftDir(o.outDir(), lm.name());
        return new Result(total, skipped, last, adapter.sha256());
      }
    }
  }

  private static Writer open(Path outDir) throws IOException {
    Files.createDirectories(outDir);
    return Files.newBufferedWriter(outDir.resolve("training_log.jsonl"));
  }

  private static <T> List<T> pick(List<T> all, int[] order, int from, int to) {
    List<T> out = new ArrayList<>();
    for (int i = from; i < to; i++) {
      out.add(all.get(order[i]));
    }
    return out;
  }
}
