package dev.prefstream.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The model directory, the preference file and the token budget, shared by train and eval. */
public final class DataOptions {

  @Option(names = "--model", required = true, description = "Hugging Face model directory.")
  Path model;

  @Option(names = "--pairs", required = true, description = "Preference file (JSON lines).")
  Path pairs;

  @Option(
      names = "--max-length",
      defaultValue = "1024",
      description = "Tokens per prompt+response (default: ${DEFAULT-VALUE}).")
  int maxLength;
}
