package dev.prefstream.publisher;

import dev.prefstream.schemas.avro.AdapterManifest;
import java.nio.file.Path;
import java.security.PrivateKey;

/**
 * Signs manifests with one private key (the trainer's, or the one {@code adapters rollback} uses).
 */
public final class ManifestSigner {
  private final PrivateKey key;
  private final String keyId;

  public ManifestSigner(PrivateKey key) {
    this.key = key;
    this.keyId = SigningKeys.keyId(SigningKeys.publicOf(key));
  }

  /** The signer of a PKCS#8 PEM file such as {@code keys generate} writes. */
  public static ManifestSigner fromFile(Path privateKeyFile) {
    return new ManifestSigner(SigningKeys.readPrivate(privateKeyFile));
  }

  /**
   * The signer named by configuration key {@code key} set to {@code file}, or null when it is blank
   * (unsigned publishing).
   *
   * @throws org.apache.kafka.common.config.ConfigException naming the key and file when the file is
   *     not a readable Ed25519 private key
   */
  public static ManifestSigner fromConfig(String key, String file) {
    if (file == null || file.isBlank()) {
      return null;
    }
    try {
      return fromFile(Path.of(file));
    } catch (IllegalArgumentException e) {
      throw new org.apache.kafka.common.config.ConfigException(key, file, e.getMessage());
    }
  }

  public AdapterManifest sign(AdapterManifest manifest) {
    return ManifestSignature.sign(manifest, key, keyId);
  }

  public String keyId() {
    return keyId;
  }

  /** A verifier that trusts this signer's own public key. */
  public ManifestVerifier ownVerifier() {
    return ManifestVerifier.of(java.util.List.of(SigningKeys.publicOf(key)));
  }
}
