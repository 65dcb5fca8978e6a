package dev.prefstream.publisher;

import dev.prefstream.schemas.avro.AdapterManifest;
import java.nio.file.Path;
import java.security.PublicKey;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Checks manifests against a set of trusted public keys. The outcome names why a manifest is not
 * trusted: no signature, a key id nobody trusts, or a signature that does not match (tampered, or
 * forged under a trusted key's id).
 */
public final class ManifestVerifier {
  /** Reason codes of refusals. */
  public static final String UNSIGNED = "unsigned";

  public static final String UNKNOWN_KEY = "unknown_key";
  public static final String BAD_SIGNATURE = "bad_signature";

  private final Map<String, PublicKey> trusted;
  private final boolean allowUnsigned;

  private ManifestVerifier(Map<String, PublicKey> trusted, boolean allowUnsigned) {
    this.trusted = trusted;
    this.allowUnsigned = allowUnsigned;
  }

  public static ManifestVerifier of(Collection<PublicKey> keys) {
    Map<String, PublicKey> byId = new LinkedHashMap<>();
    keys.forEach(k -> byId.put(SigningKeys.keyId(k), k));
    return new ManifestVerifier(byId, false);
  }

  /** Trusts the public keys in {@code files} (X.509 PEM, as {@code keys generate} writes). */
  public static ManifestVerifier fromFiles(List<Path> files) {
    return of(files.stream().map(SigningKeys::readPublic).toList());
  }

  /** Accepts every manifest, signed or not (a sink run with {@code --allow-unsigned}). */
  public static ManifestVerifier acceptingUnsigned(Collection<PublicKey> keys) {
    return new ManifestVerifier(of(keys).trusted, true);
  }

  /** This verifier plus {@code other}'s keys. */
  public ManifestVerifier and(ManifestVerifier other) {
    Map<String, PublicKey> merged = new LinkedHashMap<>(trusted);
    merged.putAll(other.trusted);
    return new ManifestVerifier(merged, allowUnsigned || other.allowUnsigned);
  }

  /** Why {@code manifest} is not trusted, or null when it is. */
  public String problem(AdapterManifest manifest) {
    if (manifest.getSignature() == null) {
      return allowUnsigned ? null : UNSIGNED;
    }
    PublicKey key = trusted.get(manifest.getSigningKeyId());
    if (key == null) {
      return allowUnsigned ? null : UNKNOWN_KEY;
    }
    return ManifestSignature.verify(manifest, key) ? null : BAD_SIGNATURE;
  }

  public boolean trustsAnyKey() {
    return !trusted.isEmpty();
  }

  public boolean allowsUnsigned() {
    return allowUnsigned;
  }

  /** Key ids trusted, for the start-up log. */
  public List<String> keyIds() {
    return List.copyOf(trusted.keySet());
  }
}
