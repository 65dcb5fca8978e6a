package dev.prefstream.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
    name = "config",
    description = "Prints every configuration key with its type, default and meaning (Markdown).")
final class ConfigCommand implements Callable<Integer> {
  @Option(
      names = "--readme",
      paramLabel = "README.md",
      description = "Rewrite the configuration table of this README in place instead.")
  Path readme;

  @Override
  public Integer call() throws IOException {
    if (readme != null) {
      ConfigDocs.rewrite(readme);
      System.out.println("updated the configuration table in " + readme);
    } else {
      System.out.print(ConfigDocs.markdown());
    }
    return 0;
  }
}
