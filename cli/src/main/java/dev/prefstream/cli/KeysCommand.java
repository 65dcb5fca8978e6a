package dev.prefstream.cli;

import dev.prefstream.publisher.SigningKeys;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
    name = "keys",
    description = "Ed25519 keys that sign adapter versions.",
    subcommands = {KeysCommand.Generate.class})
final class KeysCommand {
  @Mixin HelpOption help;

  @Command(
      name = "generate",
      description =
          "Writes DIR/signing.key (PKCS#8 PEM, mode 600: give it to the trainer and adapters"
              + " rollback as --signing-key) and DIR/signing.pub (give it to sinks as"
              + " --trusted-key).")
  static final class Generate implements Callable<Integer> {
    @Mixin HelpOption help;

    @Option(names = "--out", required = true, paramLabel = "DIR")
    Path out;

    @Option(
        names = "--if-missing",
        description =
            "Keep a key pair that DIR holds already (exit 0) instead of refusing: a deployment's"
                + " one-shot key step can run at every start.")
    boolean ifMissing;

    @Override
    public Integer call() throws IOException {
      if (ifMissing && Files.exists(out.resolve(SigningKeys.PRIVATE_FILE))) {
        java.security.PublicKey existing =
            SigningKeys.readPublic(out.resolve(SigningKeys.PUBLIC_FILE));
        System.out.println(
            "key id " + SigningKeys.keyId(existing) + ": keeping the key pair in " + out);
        return 0;
      }
      if (Files.exists(out.resolve(SigningKeys.PRIVATE_FILE))) {
        throw new IllegalArgumentException(
            out.resolve(SigningKeys.PRIVATE_FILE)
                + " exists already; not overwriting a signing key (choose another --out)");
      }
      KeyPair pair = SigningKeys.generate();
      SigningKeys.write(pair, out);
      System.out.println(
          "key id "
              + SigningKeys.keyId(pair.getPublic())
              + ": "
              + out.resolve(SigningKeys.PRIVATE_FILE)
              + " (private), "
              + out.resolve(SigningKeys.PUBLIC_FILE)
              + " (public)");
      return 0;
    }
  }
}
