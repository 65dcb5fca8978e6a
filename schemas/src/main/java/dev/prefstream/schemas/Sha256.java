package dev.prefstream.schemas;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Hex sha-256, the digest prefstream uses everywhere an identity is needed: adapter files, pair
 * ids, config hashes, base models.
 */
public final class Sha256 {
  /** One digest per thread for {@link #hex}: looking a provider up per call cost ingest 1%. */
  private static final ThreadLocal<MessageDigest> PER_THREAD =
      ThreadLocal.withInitial(Sha256::digest);

  private Sha256() {}

  /** A fresh digest; every JVM has SHA-256. */
  public static MessageDigest digest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }

  /** Lower-case hex of the sha-256 of {@code bytes}. */
  public static String hex(byte[] bytes) {
    return HexFormat.of().formatHex(PER_THREAD.get().digest(bytes)); // digest() resets it
  }

  /** Lower-case hex of the sha-256 of the UTF-8 bytes of {@code text}. */
  public static String hex(String text) {
    return hex(text.getBytes(StandardCharsets.UTF_8));
  }
}
