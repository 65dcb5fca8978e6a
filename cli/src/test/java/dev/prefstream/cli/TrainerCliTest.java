package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.trainer.recipe.Recipe;
import dev.prefstream.trainer.stream.TrainerConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** model init, train and eval as a user runs them, on a learnable synthetic preference. */
class TrainerCliTest {

  @TempDir static Path dir;
  static final ObjectMapper JSON = new ObjectMapper();

  record Run(int code, String out, String err) {}

  static Run run(Object command, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(command);
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int code = cl.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  /** Chosen answers end with "!!", rejected ones with "??"; prompts are chat or plain. */
  static void writePairs(Path file, long seed, int n) throws Exception {
    SplittableRandom rng = new SplittableRandom(seed);
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String q = word(rng);
      String prompt =
          i % 2 == 0
              ? JSON.writeValueAsString("Q: " + q + "\nA:")
              : "[{\"role\": \"user\", \"content\": " + JSON.writeValueAsString(q) + "}]";
      lines.add(
          "{\"prompt\": "
              + prompt
              + ", \"chosen\": \" "
              + word(rng)
              + "!!\", \"rejected\": \" "
              + word(rng)
              + "??\"}");
    }
    Files.write(file, lines);
  }

  static String word(SplittableRandom rng) {
    StringBuilder sb = new StringBuilder();
    for (int i = rng.nextInt(2, 7); i > 0; i--) {
      sb.append((char) ('a' + rng.nextInt(26)));
    }
    return sb.toString();
  }

  @BeforeAll
  static void model() throws Exception {
    Run r =
        run(
            new ModelCommand(),
            "init",
            "--arch",
            "qwen2",
            "--seed",
            "3",
            "--out",
            dir.resolve("model").toString(),
            "--hidden-size",
            "48",
            "--heads",
            "4",
            "--kv-heads",
            "2",
            "--tie-embeddings");
    assertThat(r.code()).as(r.err()).isZero();
    writePairs(dir.resolve("train.jsonl"), 1, 64);
    writePairs(dir.resolve("heldout.jsonl"), 2, 24);
  }

  /** eval on the held-out file with extra options. */
  static Run eval(String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--model",
                dir.resolve("model").toString(),
                "--pairs",
                dir.resolve("heldout.jsonl").toString()));
    args.addAll(List.of(extra));
    return run(new EvalCommand(), args.toArray(String[]::new));
  }

  static List<JsonNode> lines(String out) throws Exception {
    List<JsonNode> nodes = new ArrayList<>();
    for (String line : out.split("\n")) {
      if (!line.isBlank()) {
        nodes.add(JSON.readTree(line));
      }
    }
    return nodes;
  }

  @Test
  void trainRaisesHeldOutRewardAccuracyAndEvalPrintsScoredIds() throws Exception {
    Path adapter = dir.resolve("adapter");
    Run t =
        train(
            adapter,
            "--steps",
            "32",
            "--batch-size",
            "8",
            "--lr",
            "2e-3",
            "--lora-r",
            "4",
            "--lora-alpha",
            "8",
            "--target-modules",
            "q_proj,v_proj,gate_proj,down_proj");
    assertThat(t.code()).as(t.err()).isZero();
    assertThat(t.err()).contains("32/32");
    assertThat(adapter.resolve("adapter_model.safetensors")).exists();
    assertThat(adapter.resolve("adapter_config.json")).exists();

    Run base = eval("--loss", "sigmoid", "--beta", "0.1", "--output", "json");
    Run tuned =
        eval(
            "--adapter",
            adapter.toString(),
            "--loss",
            "sigmoid",
            "--beta",
            "0.1",
            "--output",
            "json");
    assertThat(tuned.code()).as(tuned.err()).isZero();
    List<JsonNode> b = lines(base.out());
    List<JsonNode> a = lines(tuned.out());
    assertThat(a).hasSize(25);
    JsonNode summary = a.get(24).get("summary");
    assertThat(b.get(24).get("summary").get("rewards/accuracies").asDouble()).isZero();
    assertThat(summary.get("rewards/accuracies").asDouble()).isGreaterThanOrEqualTo(0.8);
    for (int i = 0; i < 24; i++) {
      JsonNode p = a.get(i);
      assertThat(p.get("index").asInt()).isEqualTo(i);
      // without an adapter policy and reference are the same model: identical numbers
      assertThat(b.get(i).get("policy_chosen_logps").asDouble())
          .isEqualTo(b.get(i).get("reference_chosen_logps").asDouble());
      assertThat(p.get("reference_chosen_logps").asDouble())
          .isEqualTo(b.get(i).get("reference_chosen_logps").asDouble());
      // chosen responses are " word!!" + EOS: bytes and the EOS id
      JsonNode chosen = p.get("chosen_ids");
      assertThat(chosen.get(chosen.size() - 1).asInt()).isEqualTo(257);
      assertThat(chosen.get(chosen.size() - 2).asInt()).isEqualTo('!');
    }

    Run table = eval("--adapter", adapter.toString(), "--loss", "ipo");
    assertThat(table.out()).contains("pol.chosen").contains("rewards/accuracies");
  }

  @Test
  void badOptionsAreUsageErrorsNamingTheValue() {
    Run r = eval("--loss", "dpo");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("train.loss").contains("dpo").contains("sigmoid").contains("orpo");
    assertThat(r.err()).as("a setting, not a usage error").doesNotContain("--pairs");
    Run missing =
        run(
            new EvalCommand(),
            "--model",
            dir.resolve("nope").toString(),
            "--pairs",
            dir.resolve("heldout.jsonl").toString());
    assertThat(missing.code()).isEqualTo(1);
    assertThat(missing.err()).contains("config.json");
  }

  /** A copy of the model with {@code template} as its chat_template.jinja. */
  static Path modelWithTemplate(String name, String template) throws Exception {
    Path copy = dir.resolve(name);
    Files.createDirectories(copy);
    try (var files = Files.list(dir.resolve("model"))) {
      for (Path f : files.toList()) {
        Files.copy(f, copy.resolve(f.getFileName()));
      }
    }
    Files.writeString(copy.resolve("chat_template.jinja"), template);
    return copy;
  }

  static Run evalWith(Path model, String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--model", model.toString(), "--pairs", dir.resolve("heldout.jsonl").toString()));
    args.addAll(List.of(extra));
    return run(new EvalCommand(), args.toArray(String[]::new));
  }

  @Test
  void chatTemplateFailuresAreOneLineErrorsNamingTheConstructNotUsageErrors() throws Exception {
    Run raised =
        evalWith(modelWithTemplate("raising", "{{ raise_exception('no chats for this model') }}"));
    assertThat(raised.code()).isEqualTo(1);
    assertThat(raised.err())
        .contains("line 2:") // the first chat prompt in heldout.jsonl
        .contains("no chats for this model")
        .doesNotContain("--pairs")
        .doesNotContain("Usage");
    Run unsupported =
        evalWith(modelWithTemplate("including", "{% include 'other.jinja' %}{{ messages }}"));
    assertThat(unsupported.code()).isEqualTo(1);
    assertThat(unsupported.err())
        .contains("chat_template.jinja")
        .contains("{% include %}")
        .doesNotContain("Usage");
  }

  @Test
  void chatTemplateKwargsReachTheTemplate() throws Exception {
    Path model =
        modelWithTemplate(
            "thinking",
            "{% for m in messages %}{{ m.content }}{% endfor %}"
                + "{{ 'N' if enable_thinking is defined and enable_thinking is false else 'Y' }}");
    int off = 'N';
    int on = 'Y';
    for (var c :
        List.of(
            List.of("-D", "trainer.chat.template.kwargs=enable_thinking=false"),
            List.<String>of())) {
      List<String> args = new ArrayList<>(c);
      args.addAll(List.of("--output", "json"));
      Run r = evalWith(model, args.toArray(String[]::new));
      assertThat(r.code()).as(r.err()).isZero();
      JsonNode chatPair = lines(r.out()).get(1); // odd lines are chat prompts
      JsonNode ids = chatPair.get("prompt_ids");
      assertThat(ids.get(ids.size() - 1).asInt()).isEqualTo(c.isEmpty() ? on : off);
    }
    Run bad = evalWith(model, "-D", "trainer.chat.template.kwargs=enable thinking");
    assertThat(bad.code()).isEqualTo(2);
    assertThat(bad.err()).contains("trainer.chat.template.kwargs").contains("enable thinking");
  }

  @Test
  void oneRecipeFileServesTrainAndTrainerWithFlagsOverDOverTheFile() throws Exception {
    Path recipe = dir.resolve("recipe.properties");
    Files.writeString(
        recipe,
        String.join(
            "\n",
            "train.loss=robust",
            "train.label.smoothing=0.1",
            "train.max.grad.norm=0",
            "lora.r=4",
            "lora.alpha=8",
            "lora.use.rslora=true",
            "lora.target.modules=v_proj,up_proj",
            "train.steps=2",
            "trainer.batch.size=4",
            "trainer.id=recipe-test"));
    Path fromFile = dir.resolve("from-file");
    Run t = train(fromFile, "--config", recipe.toString());
    assertThat(t.code()).as(t.err()).isZero();
    JsonNode peft = JSON.readTree(fromFile.resolve("adapter_config.json").toFile());
    assertThat(peft.get("r").asInt()).isEqualTo(4);
    assertThat(peft.get("use_rslora").asBoolean()).isTrue();
    assertThat(peft.get("target_modules").toString()).contains("v_proj").contains("up_proj");

    Path overridden = dir.resolve("overridden");
    Run o = train(overridden, "--config", recipe.toString(), "-D", "lora.r=3", "--lora-alpha", "6");
    assertThat(o.code()).as(o.err()).isZero();
    JsonNode p = JSON.readTree(overridden.resolve("adapter_config.json").toFile());
    assertThat(p.get("r").asInt()).as("-D over the file").isEqualTo(3);
    assertThat(p.get("lora_alpha").asDouble()).as("a flag over the file").isEqualTo(6.0);
    Run both = train(dir.resolve("both"), "--steps", "2", "-D", "lora.r=3", "--lora-r", "2");
    assertThat(both.code()).as(both.err()).isZero();
    assertThat(JSON.readTree(dir.resolve("both/adapter_config.json").toFile()).get("r").asInt())
        .as("a flag over -D")
        .isEqualTo(2);

    // the streaming trainer reads the same file into the same recipe
    Map<String, Object> settings =
        new HashMap<>(
            dev.prefstream.schemas.config.ConfigFiles.load(
                recipe, Map.of("trainer.model.dir", dir.resolve("model").toString())));
    TrainerConfig trainer = new TrainerConfig(settings);
    Recipe offline = new Recipe(dev.prefstream.schemas.config.ConfigFiles.load(recipe, Map.of()));
    assertThat(trainer.recipe().canonical()).isEqualTo(offline.canonical());
    assertThat(trainer.recipe().loss().labelSmoothing()).isEqualTo(0.1);
    assertThat(trainer.recipe().train().clips()).isFalse();
    assertThat(trainer.trainerId()).isEqualTo("recipe-test");
  }

  /** train on the training file into {@code out} with extra options. */
  private static Run train(Path out, String... extra) {
    List<String> args =
        new ArrayList<>(
            List.of(
                "--model",
                dir.resolve("model").toString(),
                "--pairs",
                dir.resolve("train.jsonl").toString(),
                "--out",
                out.toString()));
    args.addAll(List.of(extra));
    return run(new TrainCommand(), args.toArray(String[]::new));
  }
}
