package dev.prefstream.cli;

import dev.prefstream.trainer.tokenize.TemplateException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Turns bad option values into usage errors, and invalid settings, unusable chat templates or
 * conversations, conditions met at run time (an IllegalStateException, e.g. a benchmark with too
 * few events to measure) and I/O failures into one-line messages.
 */
final class Cli {

  private Cli() {}

  /**
   * Runs {@code body}; an IllegalArgumentException becomes a ParameterException (exit 2, with the
   * usage), an IllegalStateException one line on stderr (exit 1).
   */
  static int run(CommandSpec spec, Callable<Integer> body) {
    try {
      return body.call();
    } catch (ConfigException e) {
      // a setting, named with its value: not a usage error, so no option list
      return oneLine(spec, e, 2);
    } catch (IllegalArgumentException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage(), e);
    } catch (TemplateException | IllegalStateException | IOException | UncheckedIOException e) {
      // the model's chat template, the data, a condition met at run time, I/O: not the options'
      // fault, and the usage would only bury the message
      return oneLine(spec, e, 1);
    } catch (Exception e) {
      throw new CommandLine.ExecutionException(spec.commandLine(), e.toString(), e);
    }
  }

  /** Prints {@code e}'s message as one line on stderr, after the command's name. */
  private static int oneLine(CommandSpec spec, Exception e, int exitCode) {
    spec.commandLine().getErr().println(commandName(spec) + ": " + e.getMessage());
    return exitCode;
  }

  /** "prefstream bench ingest" for bench's ingest command: the words a user typed. */
  private static String commandName(CommandSpec spec) {
    String qualified = spec.qualifiedName();
    return qualified.startsWith("prefstream") ? qualified : "prefstream " + qualified;
  }
}
