package dev.prefstream.trainer;

import java.lang.ref.PhantomReference;
import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;

/** Forces what the JVM otherwise does at moments nobody chooses. */
public final class GarbageCollection {

  private GarbageCollection() {}

  /**
   * A full collection, then waits until the Reference Handler has processed what it found (it frees
   * the memory of unreachable direct buffers as it goes) and a little longer.
   */
  public static void full() {
    ReferenceQueue<Object> queue = new ReferenceQueue<>();
    PhantomReference<Object> sentinel = new PhantomReference<>(new Object(), queue);
    System.gc();
    try {
      queue.remove(2000);
      Thread.sleep(5);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
    Reference.reachabilityFence(sentinel);
  }
}
