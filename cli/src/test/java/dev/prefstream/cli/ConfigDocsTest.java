package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ConfigDocsTest {
  @Test
  void theReadmeTableIsGeneratedFromTheDeclarations() throws Exception {
    Path readme = Path.of("..", "README.md");
    String text = Files.readString(readme, StandardCharsets.UTF_8);
    assertThat(ConfigDocs.withTable(text))
        .as("README.md's configuration table is stale: run ./prefstream config --readme README.md")
        .isEqualTo(text);
  }

  @Test
  void everyKeyHasADescriptionAndEveryRequiredKeyIsMarked() {
    String table = ConfigDocs.markdown();
    assertThat(table).contains("`bootstrap.servers`", "`trainer.batch.size`", "`sink.dir`");
    assertThat(table.lines().filter(l -> l.startsWith("| `")))
        .allSatisfy(row -> assertThat(row).doesNotEndWith("|  |"));
  }
}
