package dev.prefstream.trainer.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Peak resident memory of this process (Linux: VmHWM in /proc/self/status). {@link #resetPeak}
 * starts a new peak by writing 5 to /proc/self/clear_refs (Linux 4.0+); where that is refused,
 * peaks are since the process started. -1 where /proc is absent.
 */
final class PeakMemory {

  private static long runMax = -1;

  private PeakMemory() {}

  /** Starts measuring a new peak; the peak so far still counts for {@link #processPeakBytes}. */
  static synchronized void resetPeak() {
    runMax = Math.max(runMax, highWaterMark());
    try {
      Files.writeString(Path.of("/proc/self/clear_refs"), "5");
    } catch (IOException | RuntimeException e) {
      // not Linux, or not allowed: peaks count from the process start
    }
  }

  /** The peak since the last {@link #resetPeak}. */
  static synchronized long peakBytes() {
    long now = highWaterMark();
    runMax = Math.max(runMax, now);
    return now;
  }

  /** The peak over the whole process, resets notwithstanding. */
  static synchronized long processPeakBytes() {
    return Math.max(runMax, highWaterMark());
  }

  private static long highWaterMark() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) {
          String kb = line.substring("VmHWM:".length()).trim().split("\\s+")[0];
          return Long.parseLong(kb) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }
}
