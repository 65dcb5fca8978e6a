package dev.prefstream.publisher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.schemas.avro.AdapterFile;
import dev.prefstream.schemas.avro.AdapterManifest;
import dev.prefstream.schemas.avro.AdapterOrigin;
import dev.prefstream.schemas.avro.BaseModel;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ManifestSignatureTest {
  @TempDir Path dir;

  @Test
  void keyFilesArePemWithAPrivateFileOnlyTheOwnerCanRead() throws Exception {
    KeyPair pair = SigningKeys.generate();
    SigningKeys.write(pair, dir);
    assertThat(Files.readString(dir.resolve("signing.key")))
        .startsWith("-----BEGIN PRIVATE KEY-----");
    assertThat(Files.readString(dir.resolve("signing.pub")))
        .startsWith("-----BEGIN PUBLIC KEY-----");
    assertThat(
            PosixFilePermissions.toString(
                Files.getPosixFilePermissions(dir.resolve("signing.key"))))
        .isEqualTo("rw-------");
    assertThat(SigningKeys.readPrivate(dir.resolve("signing.key")).getEncoded())
        .isEqualTo(pair.getPrivate().getEncoded());
    assertThat(SigningKeys.readPublic(dir.resolve("signing.pub")).getEncoded())
        .isEqualTo(pair.getPublic().getEncoded());
    assertThat(SigningKeys.publicOf(pair.getPrivate()).getEncoded())
        .isEqualTo(pair.getPublic().getEncoded());
    assertThatThrownBy(() -> SigningKeys.write(SigningKeys.generate(), dir))
        .as("an existing private key is never overwritten")
        .isInstanceOf(java.nio.file.FileAlreadyExistsException.class);
    assertThatThrownBy(() -> SigningKeys.readPublic(dir.resolve("signing.key")))
        .hasMessageContaining("signing.key");
  }

  @Test
  void aSignedManifestVerifiesAndAnyChangedFieldBreaksIt() throws Exception {
    SigningKeys.write(SigningKeys.generate(), dir);
    ManifestSigner signer = ManifestSigner.fromFile(dir.resolve("signing.key"));
    ManifestVerifier verifier = ManifestVerifier.fromFiles(List.of(dir.resolve("signing.pub")));
    AdapterManifest signed =
        signer.sign(TestManifests.complete("m", 3, TestManifests.files(100, 1)));
    assertThat(signed.getSigningKeyId()).isEqualTo(signer.keyId()).hasSize(32);
    assertThat(verifier.problem(signed)).isNull();

    Map<String, UnaryOperator<AdapterManifest.Builder>> tampering = new HashMap<>();
    tampering.put("model", b -> b.setModelId("other"));
    tampering.put("version", b -> b.setVersion(4));
    tampering.put("parent", b -> b.setParentVersion(1L));
    tampering.put("origin", b -> b.setOrigin(AdapterOrigin.ROLLBACK));
    tampering.put("rollback_of", b -> b.setRollbackOf(1L));
    tampering.put("sha256", b -> b.setSha256("00".repeat(32)));
    tampering.put(
        "file size",
        b -> {
          List<AdapterFile> files = new ArrayList<>(b.getFiles());
          AdapterFile f = files.get(0);
          files.set(0, new AdapterFile(f.getName(), f.getSize() + 1, f.getSha256(), f.getChunks()));
          return b.setFiles(files);
        });
    tampering.put(
        "file name",
        b -> {
          List<AdapterFile> files = new ArrayList<>(b.getFiles());
          AdapterFile f = files.get(0);
          files.set(0, new AdapterFile("x.json", f.getSize(), f.getSha256(), f.getChunks()));
          return b.setFiles(files);
        });
    tampering.put("base model", b -> b.setBaseModel(new BaseModel("other", "ab".repeat(32))));
    tampering.put("lineage", b -> b.setLineage(List.of()));
    tampering.put("config hash", b -> b.setConfigHash("ef".repeat(32)));
    tampering.put("metrics", b -> b.setMetrics(Map.of("loss", 0.1)));
    tampering.put("key id", b -> b.setSigningKeyId("00".repeat(16)));
    tampering.put("state snapshot", b -> b.setStateSnapshot(!b.getStateSnapshot()));
    tampering.put("forget_of", b -> b.setForgetOf(2L));
    tampering.put("excluded pairs", b -> b.setExcludedPairIds(List.of("pair-1")));
    tampering.put(
        "pair occurred at", b -> b.setPairOccurredAt(List.of(java.time.Instant.ofEpochMilli(1))));
    for (Map.Entry<String, UnaryOperator<AdapterManifest.Builder>> t : tampering.entrySet()) {
      AdapterManifest changed = t.getValue().apply(AdapterManifest.newBuilder(signed)).build();
      assertThat(verifier.problem(changed))
          .as("changing the %s must break the signature", t.getKey())
          .isIn(ManifestVerifier.BAD_SIGNATURE, ManifestVerifier.UNKNOWN_KEY);
    }
    AdapterManifest unsigned = AdapterManifest.newBuilder(signed).setSignature(null).build();
    assertThat(verifier.problem(unsigned)).isEqualTo(ManifestVerifier.UNSIGNED);

    SigningKeys.write(SigningKeys.generate(), dir.resolve("other"));
    AdapterManifest byOther =
        ManifestSigner.fromFile(dir.resolve("other/signing.key")).sign(unsigned);
    assertThat(verifier.problem(byOther)).isEqualTo(ManifestVerifier.UNKNOWN_KEY);
    AdapterManifest otherUnderTrustedId =
        AdapterManifest.newBuilder(byOther).setSigningKeyId(signer.keyId()).build();
    assertThat(verifier.problem(otherUnderTrustedId)).isEqualTo(ManifestVerifier.BAD_SIGNATURE);
    AdapterManifest garbageSignature =
        AdapterManifest.newBuilder(signed).setSignature(ByteBuffer.wrap(new byte[3])).build();
    assertThat(verifier.problem(garbageSignature)).isEqualTo(ManifestVerifier.BAD_SIGNATURE);
  }

  /** OpenSSL, an independent Ed25519 implementation, verifies our signature over our files. */
  @Test
  void openSslVerifiesTheSignatureWithThePublicKeyFile() throws Exception {
    Assumptions.assumeTrue(
        Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl is not installed");
    SigningKeys.write(SigningKeys.generate(), dir);
    AdapterManifest signed =
        ManifestSigner.fromFile(dir.resolve("signing.key"))
            .sign(TestManifests.complete("m", 1, TestManifests.files(64, 2)));
    Files.write(dir.resolve("data"), ManifestSignature.canonical(signed));
    ByteBuffer sig = signed.getSignature().duplicate();
    byte[] bytes = new byte[sig.remaining()];
    sig.get(bytes);
    Files.write(dir.resolve("sig"), bytes);
    Process p =
        new ProcessBuilder(
                "/usr/bin/openssl",
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                dir.resolve("signing.pub").toString(),
                "-rawin",
                "-in",
                dir.resolve("data").toString(),
                "-sigfile",
                dir.resolve("sig").toString())
            .redirectErrorStream(true)
            .start();
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    String out = new String(p.getInputStream().readAllBytes());
    Assumptions.assumeFalse(
        out.contains("-rawin"), "this openssl cannot verify raw Ed25519: " + out);
    assertThat(out).contains("Signature Verified Successfully");
    assertThat(p.exitValue()).isZero();
  }
}
