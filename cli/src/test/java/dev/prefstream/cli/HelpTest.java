package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** `--help` of every command and subcommand, as a new user types it first. */
class HelpTest {

  @Test
  void everyCommandPrintsItsHelp() {
    List<List<String>> paths = new ArrayList<>();
    collect(PrefstreamCli.commandLine(), new ArrayList<>(), paths);
    assertThat(paths).hasSizeGreaterThan(20);
    for (List<String> path : paths) {
      StringWriter out = new StringWriter();
      StringWriter err = new StringWriter();
      CommandLine cli = PrefstreamCli.commandLine();
      cli.setOut(new PrintWriter(out));
      cli.setErr(new PrintWriter(err));
      List<String> args = new ArrayList<>(path);
      args.add("--help");
      int code = cli.execute(args.toArray(String[]::new));
      assertThat(code).as("prefstream %s --help: %s", path, err).isZero();
      assertThat(out.toString()).as("prefstream %s --help", path).contains("Usage:");
      // every flag the command declares is described
      CommandLine sub = cli;
      for (String name : path) {
        sub = sub.getSubcommands().get(name);
      }
      for (CommandLine.Model.OptionSpec option : sub.getCommandSpec().options()) {
        assertThat(out.toString()).as("prefstream %s --help", path).contains(option.longestName());
      }
    }
  }

  private static void collect(CommandLine cli, List<String> path, List<List<String>> into) {
    for (var entry : cli.getSubcommands().entrySet()) {
      if (entry.getKey().equals("help")) {
        continue;
      }
      List<String> sub = new ArrayList<>(path);
      sub.add(entry.getKey());
      into.add(sub);
      collect(entry.getValue(), sub, into);
    }
  }
}
