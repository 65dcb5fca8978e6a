package dev.prefstream.publisher;

import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.BaseModel;
import dev.prefstream.schemas.avro.OffsetRange;
import dev.prefstream.schemas.avro.TrainingBatch;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Ed25519 signatures over a manifest's canonical encoding, shared by the signers (trainer, {@code
 * adapters rollback}) and the verifiers (sink, audits).
 *
 * <p>The canonical encoding (version 1) is a fixed sequence of fields, each written as
 * DataOutputStream does (big-endian longs and ints; strings as a 4-byte length then UTF-8 bytes; an
 * absent optional as a 0 byte, a present one as a 1 byte then the value), in this order: the tag
 * {@code prefstream-manifest-v1}, model id, version, parent version, origin, rollback_of, sha256,
 * every file (count, then name, size, sha256, chunks each, in manifest order), base model name and
 * sha256, lineage ranges, batches (step, ranges, pairs, status), pairs, seed, config hash, trainer
 * id, metrics (sorted by name; value as IEEE-754 bits), created_at (epoch millis), the signing key
 * id, and the audit fields (state_snapshot as one byte, forget_of, excluded pair ids as a count
 * then each id), and pair_occurred_at (a count, then epoch millis each). Everything but {@code
 * signature} itself is covered, so no field can be changed without breaking the signature. Avro's
 * own binary encoding is not used because a manifest written with another schema version re-encodes
 * differently.
 */
public final class ManifestSignature {
  private static final String TAG = "prefstream-manifest-v1";

  private ManifestSignature() {}

  /** The bytes that are signed. */
  public static byte[] canonical(AdapterManifest m) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(512);
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      string(out, TAG);
      string(out, m.getModelId());
      out.writeLong(m.getVersion());
      optionalLong(out, m.getParentVersion());
      string(out, m.getOrigin().name());
      optionalLong(out, m.getRollbackOf());
      string(out, m.getSha256());
      out.writeInt(m.getFiles().size());
      for (AdapterFile f : m.getFiles()) {
        string(out, f.getName());
        out.writeLong(f.getSize());
        string(out, f.getSha256());
        out.writeInt(f.getChunks());
      }
      BaseModel base = m.getBaseModel();
      string(out, base.getName());
      string(out, base.getSha256());
      ranges(out, m.getLineage());
      out.writeInt(m.getBatches().size());
      for (TrainingBatch b : m.getBatches()) {
        out.writeLong(b.getStep());
        ranges(out, b.getRanges());
        out.writeInt(b.getPairs());
        string(out, b.getStatus().name());
      }
      out.writeInt(m.getPairs());
      out.writeLong(m.getSeed());
      string(out, m.getConfigHash());
      string(out, m.getTrainerId());
      Map<String, Double> metrics = new TreeMap<>(m.getMetrics());
      out.writeInt(metrics.size());
      for (Map.Entry<String, Double> e : metrics.entrySet()) {
        string(out, e.getKey());
        out.writeLong(Double.doubleToLongBits(e.getValue()));
      }
      out.writeLong(m.getCreatedAt().toEpochMilli());
      optionalString(out, m.getSigningKeyId());
      // what audit replay and forget rely on: a snapshot to start from, and the pairs a FORGET
      // version left out on purpose (forging the exclusions would change what replay rebuilds)
      out.writeBoolean(m.getStateSnapshot());
      optionalLong(out, m.getForgetOf());
      out.writeInt(m.getExcludedPairIds().size());
      for (String pairId : m.getExcludedPairIds()) {
        string(out, pairId);
      }
      out.writeInt(m.getPairOccurredAt().size());
      for (java.time.Instant occurred : m.getPairOccurredAt()) {
        out.writeLong(occurred.toEpochMilli());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  /** {@code manifest} with its key id and signature set. */
  public static AdapterManifest sign(AdapterManifest manifest, PrivateKey key, String keyId) {
    AdapterManifest withId =
        AdapterManifest.newBuilder(manifest).setSigningKeyId(keyId).setSignature(null).build();
    try {
      Signature signer = Signature.getInstance(SigningKeys.ALGORITHM);
      signer.initSign(key);
      signer.update(canonical(withId));
      withId.setSignature(ByteBuffer.wrap(signer.sign()));
      return withId;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot sign " + manifest.getModelId() + ": " + e, e);
    }
  }

  /** Whether {@code manifest}'s signature is {@code key}'s over its canonical encoding. */
  public static boolean verify(AdapterManifest manifest, PublicKey key) {
    ByteBuffer signature = manifest.getSignature();
    if (signature == null) {
      return false;
    }
    ByteBuffer copy = signature.duplicate();
    byte[] sig = new byte[copy.remaining()];
    copy.get(sig);
    try {
      Signature verifier = Signature.getInstance(SigningKeys.ALGORITHM);
      verifier.initVerify(key);
      verifier.update(canonical(manifest));
      return verifier.verify(sig);
    } catch (GeneralSecurityException | RuntimeException e) {
      return false;
    }
  }

  private static void ranges(DataOutputStream out, List<OffsetRange> ranges) throws IOException {
    out.writeInt(ranges.size());
    for (OffsetRange r : ranges) {
      string(out, r.getTopic());
      out.writeInt(r.getPartition());
      out.writeLong(r.getFromOffset());
      out.writeLong(r.getToOffset());
    }
  }

  private static void string(DataOutputStream out, String s) throws IOException {
    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(utf8.length);
    out.write(utf8);
  }

  private static void optionalLong(DataOutputStream out, Long value) throws IOException {
    out.writeBoolean(value != null);
    if (value != null) {
      out.writeLong(value);
    }
  }

  private static void optionalString(DataOutputStream out, String value) throws IOException {
    out.writeBoolean(value != null);
    if (value != null) {
      string(out, value);
    }
  }
}
