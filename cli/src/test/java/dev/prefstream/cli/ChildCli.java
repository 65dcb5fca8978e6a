package dev.prefstream.cli;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * {@code prefstream} commands in child JVMs, for the ITs that kill a process, expect an exit status
 * or read what it printed: started with the DJL settings every JVM here needs, the test class path,
 * and stdout and stderr together in one file.
 */
final class ChildCli {
  private ChildCli() {}

  /** Starts {@code prefstream args...} writing its output to {@code output}. */
  static Process start(Path output, List<String> jvmOptions, List<String> args) throws Exception {
    return builder(jvmOptions, args).redirectOutput(output.toFile()).start();
  }

  /**
   * {@code prefstream args...} in a child JVM, stdout and stderr together, for a caller that
   * chooses where the output goes.
   */
  static ProcessBuilder builder(List<String> jvmOptions, List<String> args) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Dai.djl.offline=true");
    command.add("-Dai.djl.default_engine=PyTorch");
    command.add("-Dai.djl.pytorch.num_threads=1");
    command.add("-Dai.djl.pytorch.num_interop_threads=1");
    String registryHome = System.getProperty("prefstream.registry.home");
    if (registryHome != null) {
      command.add("-Dprefstream.registry.home=" + registryHome);
    }
    command.addAll(jvmOptions);
    command.add("-cp");
    command.add(
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")));
    command.add(PrefstreamCli.class.getName());
    command.addAll(args);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().put("OPT_OUT_TRACKING", "true");
    return builder;
  }

  static Process start(Path output, List<String> args) throws Exception {
    return start(output, List.of(), args);
  }

  /** Runs {@code prefstream args...} to its end; fails when it runs longer than {@code limit}. */
  static int run(Path output, Duration limit, List<String> args) throws Exception {
    Process process = start(output, args);
    if (!process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
      String dump = threadDump(process);
      process.destroyForcibly().waitFor();
      throw new AssertionError(
          "prefstream " + args + " ran longer than " + limit + ":\n" + tail(output) + "\n" + dump);
    }
    return process.exitValue();
  }

  /** Waits until {@code process} printed a line starting with {@code prefix}. */
  static void awaitLine(Process process, Path output, String prefix, Duration limit)
      throws Exception {
    long deadline = System.nanoTime() + limit.toNanos();
    while (System.nanoTime() < deadline) {
      if (Files.readAllLines(output).stream().anyMatch(l -> l.startsWith(prefix))) {
        return;
      }
      if (!process.isAlive()) {
        throw new AssertionError(
            "the process exited ("
                + process.exitValue()
                + ") before printing '"
                + prefix
                + "':\n"
                + tail(output));
      }
      Thread.sleep(100);
    }
    throw new AssertionError(
        "no line '" + prefix + "' within " + limit + ":\n" + tail(output) + threadDump(process));
  }

  /**
   * Waits until {@code condition} holds, checking every {@code pause}; fails, with the process's
   * output and threads, when the process exits first or {@code limit} passes.
   */
  static void awaitCondition(
      Process process,
      Path output,
      BooleanSupplier condition,
      String what,
      Duration limit,
      Duration pause)
      throws Exception {
    long deadline = System.nanoTime() + limit.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new AssertionError(
            "the process exited ("
                + process.exitValue()
                + ") waiting for: "
                + what
                + "\n"
                + tail(output));
      }
      if (condition.getAsBoolean()) {
        return;
      }
      Thread.sleep(pause.toMillis());
    }
    throw new AssertionError("never happened: " + what + "\n" + tail(output) + threadDump(process));
  }

  /** The last 80 lines of {@code output}. */
  static String tail(Path output) {
    try {
      List<String> lines = Files.readAllLines(output);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 80), lines.size()));
    } catch (java.io.IOException e) {
      return "(unreadable " + output + ": " + e + ")";
    }
  }

  /** jstack of {@code process} while it runs, for a failure message. */
  static String threadDump(Process process) {
    if (!process.isAlive()) {
      return "";
    }
    try {
      Process jstack =
          new ProcessBuilder(
                  Path.of(System.getProperty("java.home"), "bin", "jstack").toString(),
                  Long.toString(process.pid()))
              .redirectErrorStream(true)
              .start();
      String dump = new String(jstack.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      jstack.waitFor(30, TimeUnit.SECONDS);
      return "\nits threads:\n" + dump;
    } catch (Exception e) {
      return "\nno thread dump: " + e;
    }
  }
}
