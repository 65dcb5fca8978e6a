package dev.prefstream.trainer.model;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps glibc's malloc from returning activation memory to the kernel between operations. A step
 * allocates and frees gigabytes in blocks of a few megabytes; with glibc's defaults, freed memory
 * at the top of the heap is trimmed and blocks over the (dynamic) mmap threshold are mapped afresh,
 * so every use pays page faults: measured 40% of a CPU step's time on the bench preset. Raising the
 * trim threshold and pinning the mmap threshold at its maximum (32 MB; CausalLm keeps its arrays
 * below it) keeps the memory mapped, at the price of holding the peak resident. Equivalent to
 * MALLOC_TRIM_THRESHOLD_/MALLOC_MMAP_THRESHOLD_/MALLOC_TOP_PAD_ in the environment. Set
 * -Dprefstream.malloc.tune=false to leave malloc alone.
 */
public final class NativeMemory {

  private static final Logger LOG = LoggerFactory.getLogger(NativeMemory.class);
  private static final int M_TRIM_THRESHOLD = -1;
  private static final int M_TOP_PAD = -2;
  private static final int M_MMAP_THRESHOLD = -3;
  private static boolean done;

  private NativeMemory() {}

  /** The libc function we call (glibc's mallopt). */
  interface C extends Library {
    int mallopt(int param, int value);
  }

  /** Tunes malloc once per process on Linux; a no-op elsewhere or when disabled. */
  public static synchronized void tuneMalloc() {
    if (done) {
      return;
    }
    done = true;
    if (!Platform.isLinux()
        || !Boolean.parseBoolean(System.getProperty("prefstream.malloc.tune", "true"))) {
      return;
    }
    try {
      C c = Native.load("c", C.class);
      boolean ok =
          c.mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
              && c.mallopt(M_TRIM_THRESHOLD, Integer.MAX_VALUE) == 1
              && c.mallopt(M_TOP_PAD, 64 << 20) == 1;
      LOG.debug("glibc malloc tuned for tensor workloads: {}", ok);
    } catch (LinkageError e) {
      LOG.debug("could not tune malloc: {}", e.toString());
    }
  }
}
