package dev.prefstream.ingest;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.schemas.DeadLetterReason;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The README's dead-letter table lists every reason code, as the code describes it. */
class ReasonCodesDocumentedTest {
  @Test
  void everyReasonCodeIsInTheReadme() throws Exception {
    String readme = Files.readString(Path.of("..", "README.md"), StandardCharsets.UTF_8);
    for (DeadLetterReason reason : DeadLetterReason.values()) {
      assertThat(readme)
          .as("README.md's dead-letter table row for " + reason.code())
          .contains(
              "| `" + reason.code() + "` | " + reason.description().replace("|", "\\|") + " |");
    }
  }
}
