package dev.prefstream.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The model directory and the preference file, shared by train and eval. */
public final class DataOptions {

  @Option(names = "--model", required = true, description = "Hugging Face model directory.")
  Path model;

  @Option(names = "--pairs", required = true, description = "Preference file (JSON lines).")
  Path pairs;
}
