package dev.prefstream.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code prefstream} command line. */
@Command(
    name = "prefstream",
    mixinStandardHelpOptions = true,
    version = "prefstream 0.1.0",
    description = "Continuous preference learning: Kafka feedback in, LoRA adapter versions out.",
    subcommands = {
      DemoCommand.class,
      StackCommand.class,
      IngestCommand.class,
      DeadLettersCommand.class,
      TrainerCommand.class,
      SinkCommand.class,
      EmitCommand.class,
      AdaptersCommand.class,
      KeysCommand.class,
      AuditCommand.class,
      ModelCommand.class,
      TrainCommand.class,
      EvalCommand.class,
      BenchCommand.class,
      ConfigCommand.class,
      CommandLine.HelpCommand.class
    })
public final class PrefstreamCli {
  private PrefstreamCli() {}

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  /** The configured command line, for tests and for main. */
  static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new PrefstreamCli());
    cli.setExecutionExceptionHandler(
        (e, commandLine, parseResult) -> {
          commandLine
              .getErr()
              .println(commandLine.getColorScheme().errorText("error: " + e.getMessage()));
          if (Boolean.getBoolean("prefstream.stacktraces")) {
            e.printStackTrace(commandLine.getErr());
          }
          return 1;
        });
    return cli;
  }
}
