package dev.prefstream.cli;

import java.util.concurrent.CountDownLatch;

/** Blocks a long-running command until the JVM is asked to stop (Ctrl-C, SIGTERM). */
final class Until {
  private Until() {}

  /**
   * Starts {@code work} on its own thread; if it dies with an exception, the process exits with
   * status 1 (shutdown hooks still stop everything else).
   */
  static Thread worker(String name, Runnable work) {
    Thread thread = new Thread(work, name);
    thread.setUncaughtExceptionHandler(
        (t, e) -> {
          System.err.println("error: " + name + " stopped: " + e);
          if (Boolean.getBoolean("prefstream.stacktraces")) {
            e.printStackTrace();
          }
          System.exit(1);
        });
    thread.start();
    return thread;
  }

  /**
   * Registers {@code onStop} to run at shutdown and waits for it to have run. Closing happens on
   * the shutdown hook's thread, so Ctrl-C stops everything before the JVM exits.
   */
  static void stopped(AutoCloseable onStop) {
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    onStop.close();
                  } catch (Exception e) {
                    System.err.println("error while stopping: " + e);
                  } finally {
                    done.countDown();
                  }
                },
                "prefstream-shutdown"));
    try {
      done.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
