package dev.prefstream.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
    name = "config",
    description =
        "Prints every configuration key with its type, default, valid values, meaning and the"
            + " commands that read it.")
final class ConfigCommand implements Callable<Integer> {
  @Mixin HelpOption help;

  @Option(
      names = "--readme",
      paramLabel = "README.md",
      description = "Rewrite the configuration table of this README in place instead.")
  Path readme;

  @Option(
      names = "--output",
      defaultValue = "markdown",
      paramLabel = "markdown|json",
      description =
          "markdown (the README table) or json: one object per key with name, type, default,"
              + " valid, doc and the commands that read it.")
  String output;

  @Override
  public Integer call() throws IOException {
    if (!output.equals("markdown") && !output.equals("json")) {
      throw new picocli.CommandLine.ParameterException(
          new picocli.CommandLine(this), "--output must be markdown or json, got " + output);
    }
    if (output.equals("json")) {
      System.out.println(
          new com.fasterxml.jackson.databind.ObjectMapper()
              .writerWithDefaultPrettyPrinter()
              .writeValueAsString(ConfigDocs.json()));
    } else if (readme != null) {
      ConfigDocs.rewrite(readme);
      System.out.println("updated the configuration table in " + readme);
    } else {
      System.out.print(ConfigDocs.markdown());
    }
    return 0;
  }
}
