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

  @Test
  void theJsonListsEveryKeyOnceWithTheCommandsThatReadIt() {
    var keys = ConfigDocs.json();
    java.util.Set<String> names = new java.util.HashSet<>();
    for (var key : keys) {
      assertThat(names.add(key.get("name").asText())).as(key.get("name").asText()).isTrue();
      for (String field :
          java.util.List.of("name", "type", "default", "valid", "doc", "commands")) {
        assertThat(key.has(field)).as(key.get("name") + " has " + field).isTrue();
      }
      assertThat(key.get("commands")).as(key.get("name") + " is read somewhere").isNotEmpty();
    }
    assertThat(names)
        .containsAll(dev.prefstream.trainer.stream.TrainerConfig.CONFIG.names())
        .containsAll(dev.prefstream.ingest.IngestConfig.CONFIG.names())
        .containsAll(dev.prefstream.publisher.SinkConfig.CONFIG.names());
    var labelSmoothing =
        java.util.stream.StreamSupport.stream(keys.spliterator(), false)
            .filter(k -> k.get("name").asText().equals("train.label.smoothing"))
            .findFirst()
            .orElseThrow();
    assertThat(labelSmoothing.get("commands").toString())
        .contains("\"train\"", "\"eval\"", "\"trainer\"", "\"demo\"");
  }
}
