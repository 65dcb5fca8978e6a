package dev.prefstream.cli;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** Blocks a long-running command until the JVM is asked to stop (Ctrl-C, SIGTERM). */
final class Until {
  /** How long a fatal error's orderly stop may take before the JVM is halted anyway. */
  static final long FATAL_STOP_SECONDS = 20;

  private static final AtomicBoolean fatal = new AtomicBoolean();

  private Until() {}

  /**
   * Starts {@code work} on its own thread; if it dies with an exception, the cause is reported once
   * and the process exits with status 1: the shutdown hooks stop everything else (the embedded
   * stack, child processes), and a stop that takes longer than {@value #FATAL_STOP_SECONDS} s halts
   * the JVM.
   *
   * <p>The exit runs on a thread of its own: {@code System.exit} blocks its caller until the
   * shutdown hooks finish, and the hook that stops this worker joins this very thread, so calling
   * it from the dying thread would wait forever.
   */
  static Thread worker(String name, Runnable work) {
    Thread thread = new Thread(work, name);
    thread.setUncaughtExceptionHandler((t, e) -> die(name + " stopped", e));
    thread.start();
    return thread;
  }

  /** Reports {@code cause} (the first fatal error only) and exits 1 without blocking the caller. */
  static void die(String what, Throwable cause) {
    if (!fatal.compareAndSet(false, true)) {
      return;
    }
    System.err.println("error: " + what + ": " + cause);
    if (Boolean.getBoolean("prefstream.stacktraces")) {
      cause.printStackTrace();
    }
    Thread watchdog =
        new Thread(
            () -> {
              try {
                TimeUnit.SECONDS.sleep(FATAL_STOP_SECONDS);
              } catch (InterruptedException e) {
                return;
              }
              System.err.println(
                  "error: stopping took longer than " + FATAL_STOP_SECONDS + " s; halting");
              Runtime.getRuntime().halt(1);
            },
            "prefstream-fatal-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    Thread exit = new Thread(() -> System.exit(1), "prefstream-fatal-exit");
    exit.start();
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
