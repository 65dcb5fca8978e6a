package dev.prefstream.embedded;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.util.Arrays;

/**
 * The main class of a child process that must never outlive its parent: it runs another main class
 * and exits as soon as its standard input reaches end-of-file.
 *
 * <p>The parent keeps the write end of the child's stdin pipe open. When the parent exits for any
 * reason, SIGKILL included, the kernel closes that pipe and the child sees EOF. Java offers no
 * {@code prctl(PR_SET_PDEATHSIG)}; this is the portable equivalent.
 *
 * <p>Usage: {@code java -cp ours:theirs dev.prefstream.embedded.ParentWatchdog their.Main args...}
 */
public final class ParentWatchdog {
  /** How long a graceful exit may take before the process halts. */
  private static final long EXIT_GRACE_MS = 5_000;

  private ParentWatchdog() {}

  public static void main(String[] args) throws Exception {
    if (args.length == 0) {
      System.err.println("usage: ParentWatchdog <main class> [args...]");
      System.exit(2);
    }
    Thread watcher = new Thread(ParentWatchdog::exitAtEndOfInput, "parent-watchdog");
    watcher.setDaemon(true);
    watcher.start();
    Method main = Class.forName(args[0]).getMethod("main", String[].class);
    main.invoke(null, (Object) Arrays.copyOfRange(args, 1, args.length));
  }

  private static void exitAtEndOfInput() {
    InputStream in = System.in;
    byte[] buffer = new byte[256];
    try {
      while (in.read(buffer) >= 0) {
        // the parent never writes; anything it does write is ignored
      }
    } catch (IOException e) {
      // a broken pipe means the same as EOF: the parent is gone
    }
    Thread halter =
        new Thread(
            () -> {
              try {
                Thread.sleep(EXIT_GRACE_MS);
              } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
              }
              Runtime.getRuntime().halt(0);
            },
            "parent-watchdog-halt");
    halter.setDaemon(true);
    halter.start();
    System.exit(0);
  }
}
