package dev.prefstream.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/** Turns bad option values into usage errors and I/O failures into one-line messages. */
final class Cli {

  private Cli() {}

  /** Runs {@code body}; an IllegalArgumentException becomes a ParameterException (exit 2). */
  static int run(CommandSpec spec, Callable<Integer> body) {
    try {
      return body.call();
    } catch (IllegalArgumentException | IllegalStateException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
    } catch (IOException | UncheckedIOException e) {
      spec.commandLine().getErr().println("prefstream " + spec.name() + ": " + e.getMessage());
      return 1;
    } catch (Exception e) {
      throw new CommandLine.ExecutionException(spec.commandLine(), e.toString(), e);
    }
  }
}
