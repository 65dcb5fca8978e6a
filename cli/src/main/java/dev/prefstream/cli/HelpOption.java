package dev.prefstream.cli;

import picocli.CommandLine.Option;

/**
 * {@code -h/--help} for a command. Not picocli's standard help mixin: that one adds {@code
 * -V/--version} too, and several commands take a {@code --version N} of their own.
 */
final class HelpOption {
  @Option(
      names = {"-h", "--help"},
      usageHelp = true,
      description = "Show this help message and exit.")
  boolean help;
}
