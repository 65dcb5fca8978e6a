package dev.prefstream.publisher;

import dev.prefstream.schemas.Sha256;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;

/**
 * Ed25519 key pairs (the JDK's provider) as files: the private key as PKCS#8 PEM ({@code BEGIN
 * PRIVATE KEY}, mode 600), the public key as X.509 SubjectPublicKeyInfo PEM ({@code BEGIN PUBLIC
 * KEY}), the formats {@code openssl genpkey -algorithm ed25519} and {@code openssl pkey -pubout}
 * write. A key's id is the hex of the first 16 bytes of the sha-256 of its X.509 encoding.
 */
public final class SigningKeys {
  public static final String ALGORITHM = "Ed25519";
  public static final String PRIVATE_FILE = "signing.key";
  public static final String PUBLIC_FILE = "signing.pub";

  private static final String PRIVATE_LABEL = "PRIVATE KEY";
  private static final String PUBLIC_LABEL = "PUBLIC KEY";

  private SigningKeys() {}

  public static KeyPair generate() {
    try {
      return KeyPairGenerator.getInstance(ALGORITHM).generateKeyPair();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("this JDK has no " + ALGORITHM, e);
    }
  }

  /**
   * Writes {@code dir/signing.key} (mode 600, created that way so it is never readable by others)
   * and {@code dir/signing.pub}. Refuses to overwrite an existing private key.
   */
  public static void write(KeyPair pair, Path dir) throws IOException {
    Files.createDirectories(dir);
    Path privateFile = dir.resolve(PRIVATE_FILE);
    byte[] privatePem =
        pem(PRIVATE_LABEL, pair.getPrivate().getEncoded()).getBytes(StandardCharsets.US_ASCII);
    if (dir.getFileSystem().supportedFileAttributeViews().contains("posix")) {
      Files.createFile(
          privateFile,
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      Files.write(privateFile, privatePem, StandardOpenOption.TRUNCATE_EXISTING);
    } else {
      Files.write(privateFile, privatePem, StandardOpenOption.CREATE_NEW);
    }
    Files.writeString(
        dir.resolve(PUBLIC_FILE),
        pem(PUBLIC_LABEL, pair.getPublic().getEncoded()),
        StandardCharsets.US_ASCII);
  }

  /** Generates a pair into {@code dir} unless {@code dir/signing.key} exists already. */
  public static void ensure(Path dir) throws IOException {
    if (!Files.exists(dir.resolve(PRIVATE_FILE))) {
      write(generate(), dir);
    }
  }

  public static PrivateKey readPrivate(Path file) {
    try {
      return KeyFactory.getInstance(ALGORITHM)
          .generatePrivate(new PKCS8EncodedKeySpec(unpem(file, PRIVATE_LABEL)));
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(
          file + " is not an " + ALGORITHM + " private key (PKCS#8 PEM): " + e.getMessage(), e);
    }
  }

  public static PublicKey readPublic(Path file) {
    try {
      return KeyFactory.getInstance(ALGORITHM)
          .generatePublic(new X509EncodedKeySpec(unpem(file, PUBLIC_LABEL)));
    } catch (GeneralSecurityException e) {
      throw new IllegalArgumentException(
          file + " is not an " + ALGORITHM + " public key (X.509 PEM): " + e.getMessage(), e);
    }
  }

  /** The public half of a private key written by {@link #write}, derived from it. */
  public static PublicKey publicOf(PrivateKey key) {
    // RFC 8410: an Ed25519 PKCS#8 key holds the 32-byte seed; the JDK derives the public key
    // when it signs, but has no API for it, so sign-and-compare is not possible. Re-derive via a
    // KeyPairGenerator seeded with the private bytes instead.
    byte[] seed =
        Arrays.copyOfRange(key.getEncoded(), key.getEncoded().length - 32, key.getEncoded().length);
    try {
      KeyPairGenerator generator = KeyPairGenerator.getInstance(ALGORITHM);
      generator.initialize(255, new FixedSeed(seed));
      return generator.generateKeyPair().getPublic();
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The id a manifest records for {@code key}. */
  public static String keyId(PublicKey key) {
    return HexFormat.of().formatHex(Arrays.copyOf(Sha256.digest().digest(key.getEncoded()), 16));
  }

  private static String pem(String label, byte[] der) {
    return "-----BEGIN "
        + label
        + "-----\n"
        + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
        + "\n-----END "
        + label
        + "-----\n";
  }

  private static byte[] unpem(Path file, String label) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.US_ASCII);
    } catch (IOException e) {
      throw new IllegalArgumentException("cannot read key file " + file + ": " + e, e);
    }
    String begin = "-----BEGIN " + label + "-----";
    String end = "-----END " + label + "-----";
    int from = text.indexOf(begin);
    int to = text.indexOf(end);
    if (from < 0 || to < from) {
      throw new IllegalArgumentException(file + " is not a PEM file with a '" + begin + "' block");
    }
    try {
      return Base64.getMimeDecoder().decode(text.substring(from + begin.length(), to));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(file + ": bad base64 in the PEM block", e);
    }
  }

  /**
   * A SecureRandom that yields one fixed seed: how the JDK's generator takes a known private key.
   */
  private static final class FixedSeed extends java.security.SecureRandom {
    private static final long serialVersionUID = 1L;
    private final byte[] seed;

    FixedSeed(byte[] seed) {
      this.seed = seed.clone();
    }

    @Override
    public void nextBytes(byte[] bytes) {
      System.arraycopy(seed, 0, bytes, 0, Math.min(seed.length, bytes.length));
    }
  }
}
