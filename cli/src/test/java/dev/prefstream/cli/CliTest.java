package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** How {@link Cli#run} reports what a command's body throws. */
class CliTest {

  @Command(name = "probe")
  static final class Probe implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--throw")
    String kind;

    @Override
    public Integer call() {
      return Cli.run(
          spec,
          () -> {
            switch (kind) {
              case "argument" -> throw new IllegalArgumentException("--events must be at least 10");
              case "state" -> throw new IllegalStateException("too few events; run with more");
              default -> {
                return 0;
              }
            }
          });
    }
  }

  private record Run(int code, String err) {}

  private static Run run(String kind) {
    StringWriter err = new StringWriter();
    CommandLine cli = new CommandLine(new Probe());
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute("--throw", kind);
    return new Run(code, err.toString());
  }

  @Test
  void aBadOptionValueIsAUsageErrorWithTheOptions() {
    Run r = run("argument");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err()).contains("--events must be at least 10").contains("Usage: probe");
  }

  @Test
  void aConditionMetAtRunTimeIsOneLineAndExitOne() {
    Run r = run("state");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("prefstream probe: too few events; run with more\n");
  }
}
