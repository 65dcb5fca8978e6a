package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** No file of the tree keeps the conflict markers of a merge (one reached the docs once). */
class MergeMarkersTest {
  private static final Pattern MARKER = Pattern.compile("^(<{7} |>{7} |={7}$)");
  private static final Set<String> SKIPPED = Set.of(".git", "target", "node_modules");

  @Test
  void noConflictMarkers() throws IOException {
    Path root = Path.of("..").toAbsolutePath().normalize();
    List<String> found = new ArrayList<>();
    try (Stream<Path> files = Files.walk(root)) {
      files
          .filter(p -> stream(root.relativize(p)).noneMatch(SKIPPED::contains))
          .filter(Files::isRegularFile)
          .filter(p -> p.toString().matches(".*\\.(java|md|xml|yml|yaml|json|properties|sh|py)$"))
          .forEach(p -> scan(root, p, found));
    }
    assertThat(found).as("merge conflict markers").isEmpty();
  }

  private static Stream<String> stream(Path relative) {
    List<String> parts = new ArrayList<>();
    relative.forEach(part -> parts.add(part.toString()));
    return parts.stream();
  }

  private static void scan(Path root, Path file, List<String> found) {
    try {
      List<String> lines =
          List.of(new String(Files.readAllBytes(file), StandardCharsets.UTF_8).split("\n", -1));
      for (int i = 0; i < lines.size(); i++) {
        if (MARKER.matcher(lines.get(i)).find()) {
          found.add(root.relativize(file) + ":" + (i + 1) + ": " + lines.get(i));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
