package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.prefstream.publisher.ManifestSigner;
import dev.prefstream.publisher.ManifestVerifier;
import dev.prefstream.publisher.SinkConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class KeysAndSinkCliTest {
  @TempDir Path dir;

  record Run(int code, String out, String err) {}

  static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = PrefstreamCli.commandLine();
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int code = cl.execute(args);
    return new Run(code, out.toString(), err.toString());
  }

  @Test
  void keysGenerateWritesAPairThatSignsAndVerifiesAndNeverOverwrites() throws Exception {
    Path keys = dir.resolve("keys");
    assertThat(run("keys", "generate", "--out", keys.toString()).code()).isZero();
    assertThat(
            PosixFilePermissions.toString(
                Files.getPosixFilePermissions(keys.resolve("signing.key"))))
        .isEqualTo("rw-------");
    ManifestSigner signer = ManifestSigner.fromFile(keys.resolve("signing.key"));
    ManifestVerifier verifier = ManifestVerifier.fromFiles(List.of(keys.resolve("signing.pub")));
    assertThat(verifier.keyIds()).containsExactly(signer.keyId());
    byte[] before = Files.readAllBytes(keys.resolve("signing.key"));
    Run again = run("keys", "generate", "--out", keys.toString());
    assertThat(again.code()).isEqualTo(1);
    assertThat(again.err()).contains("exists already");
    assertThat(Files.readAllBytes(keys.resolve("signing.key"))).isEqualTo(before);
    // --if-missing: a deployment's key step at every start keeps the pair (exit 0)
    Run kept = run("keys", "generate", "--if-missing", "--out", keys.toString());
    assertThat(kept.code()).isZero();
    assertThat(Files.readAllBytes(keys.resolve("signing.key"))).isEqualTo(before);
    assertThat(
            run("keys", "generate", "--if-missing", "--out", dir.resolve("fresh").toString())
                .code())
        .isZero();
    assertThat(dir.resolve("fresh/signing.pub")).exists();
  }

  @Test
  void aSinkWithoutATrustedKeyRefusesToStartNamingTheKey() {
    Run r = run("sink", "--bootstrap-servers", "127.0.0.1:1", "--dir", dir.resolve("s").toString());
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("sink.trusted.keys").contains("--allow-unsigned");
    Run missing =
        run(
            "sink",
            "--bootstrap-servers",
            "127.0.0.1:1",
            "--trusted-key",
            dir.resolve("nope.pub").toString());
    assertThat(missing.code()).isEqualTo(1);
    assertThat(missing.err()).contains("sink.trusted.keys").contains("nope.pub");
    Run badUrl =
        run(
            "sink",
            "--bootstrap-servers",
            "127.0.0.1:1",
            "--allow-unsigned",
            "--vllm-url",
            "ftp://x");
    assertThat(badUrl.code()).isEqualTo(1);
    assertThat(badUrl.err()).contains("sink.vllm.urls").contains("http://");
  }

  @Test
  void listFlagsRepeatAndAlsoTakeCommas() throws Exception {
    run("keys", "generate", "--out", dir.resolve("a").toString());
    run("keys", "generate", "--out", dir.resolve("b").toString());
    SinkCommand command = new SinkCommand();
    CommandLine cl = new CommandLine(command);
    cl.parseArgs(
        "--trusted-key",
        dir.resolve("a/signing.pub").toString(),
        "--trusted-key",
        dir.resolve("b/signing.pub").toString(),
        "--vllm-url",
        "http://127.0.0.1:8000,http://127.0.0.1:8001");
    Map<String, Object> settings = command.kafka.settings();
    settings.put("bootstrap.servers", "127.0.0.1:1");
    SinkConfig config = new SinkConfig(settings);
    assertThat(config.verifier().keyIds()).hasSize(2);
    assertThat(config.vllmUrls()).containsExactly("http://127.0.0.1:8000", "http://127.0.0.1:8001");
  }
}
