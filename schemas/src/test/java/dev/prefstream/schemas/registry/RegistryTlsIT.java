package dev.prefstream.schemas.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.embedded.EmbeddedRegistry;
import dev.prefstream.embedded.RegistryAuthProxy;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.config.CommonConfig;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The registry client over TLS with basic auth, configured with Confluent's keys, against the real
 * registry (Apicurio) behind an https proxy whose certificate is made here with the JDK's keytool
 * for 127.0.0.1 and trusted only through {@code schema.registry.ssl.truststore.*}.
 */
class RegistryTlsIT {
  private static final String STORE_PASSWORD = "store-pw-71Kd";
  private static final String TRUST_PASSWORD = "trust-pw-09Lm";
  private static final String USER = "svc";
  private static final String PASSWORD = "svc-pw-Rt55";

  @TempDir static Path dir;
  static EmbeddedRegistry registry;
  static RegistryAuthProxy proxy;
  static String url;

  @BeforeAll
  static void start() throws Exception {
    Path server = dir.resolve("server.p12");
    Path cert = dir.resolve("server.pem");
    keytool(
        "-genkeypair",
        "-alias",
        "registry",
        "-keyalg",
        "EC",
        "-groupname",
        "secp256r1",
        "-dname",
        "CN=127.0.0.1",
        "-ext",
        "SAN=ip:127.0.0.1",
        "-validity",
        "2",
        "-storetype",
        "PKCS12",
        "-keystore",
        server.toString(),
        "-storepass",
        STORE_PASSWORD,
        "-keypass",
        STORE_PASSWORD);
    keytool(
        "-exportcert",
        "-alias",
        "registry",
        "-rfc",
        "-file",
        cert.toString(),
        "-keystore",
        server.toString(),
        "-storepass",
        STORE_PASSWORD);
    keytool(
        "-importcert",
        "-noprompt",
        "-alias",
        "registry",
        "-file",
        cert.toString(),
        "-storetype",
        "PKCS12",
        "-keystore",
        dir.resolve("trust.p12").toString(),
        "-storepass",
        TRUST_PASSWORD);

    registry = EmbeddedRegistry.start(dir.resolve("registry"), freePort());
    URI upstream = URI.create(registry.url());
    proxy =
        new RegistryAuthProxy(
            upstream.getScheme() + "://" + upstream.getAuthority(),
            USER,
            PASSWORD,
            Optional.of(serverContext(server)));
    url = proxy.base() + upstream.getPath();
    assertThat(url).startsWith("https://127.0.0.1:");
  }

  @AfterAll
  static void stop() {
    if (proxy != null) {
      proxy.close();
    }
    if (registry != null) {
      registry.close();
    }
  }

  private static Map<String, Object> settings() {
    Map<String, Object> s = new HashMap<>();
    s.put("schema.registry.url", url);
    s.put("schema.registry.retry.ms", 0L);
    s.put("basic.auth.credentials.source", "USER_INFO");
    s.put("basic.auth.user.info", USER + ":" + PASSWORD);
    s.put("schema.registry.ssl.truststore.location", dir.resolve("trust.p12").toString());
    s.put("schema.registry.ssl.truststore.password", TRUST_PASSWORD);
    s.put("schema.registry.ssl.truststore.type", "PKCS12");
    return s;
  }

  @Test
  void trustedAndAuthenticatedTheClientRegistersAndReadsBack() {
    SchemaRegistry client = new CommonConfig(settings()).schemaRegistry();
    int id = client.register("tls-feedback-value", FeedbackEvent.getClassSchema());
    assertThat(new CommonConfig(settings()).schemaRegistry().schemaById(id))
        .isEqualTo(FeedbackEvent.getClassSchema());
    assertThat(proxy.forwarded()).isGreaterThanOrEqualTo(2);
  }

  @Test
  void withoutTheTrustStoreTheHandshakeFailsAndNothingIsSent() {
    Map<String, Object> untrusted = settings();
    untrusted.remove("schema.registry.ssl.truststore.location");
    int before = proxy.forwarded() + proxy.refused();
    assertThatThrownBy(() -> new CommonConfig(untrusted).schemaRegistry().versions("anything"))
        .isInstanceOf(SchemaRegistryException.class)
        .hasMessageContaining("unreachable")
        .hasMessageNotContaining(PASSWORD);
    assertThat(proxy.forwarded() + proxy.refused()).isEqualTo(before);
  }

  @Test
  void credentialsInTheUrlAreUsedAndNeverShown() {
    Map<String, Object> inUrl = settings();
    inUrl.remove("basic.auth.credentials.source");
    inUrl.remove("basic.auth.user.info");
    inUrl.put("schema.registry.url", url.replace("https://", "https://" + USER + ":wrong-pw@"));
    assertThatThrownBy(() -> new CommonConfig(inUrl).schemaRegistry().versions("anything"))
        .isInstanceOf(SchemaRegistryException.class)
        .hasMessageContaining("401")
        .hasMessageNotContaining("wrong-pw");
    inUrl.put(
        "schema.registry.url", url.replace("https://", "https://" + USER + ":" + PASSWORD + "@"));
    SchemaRegistry client = new CommonConfig(inUrl).schemaRegistry();
    client.register("tls-url-value", FeedbackEvent.getClassSchema());
    assertThat(client.versions("tls-url-value")).containsExactly(1);
  }

  private static SSLContext serverContext(Path keyStore) throws Exception {
    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(keyStore)) {
      keys.load(in, STORE_PASSWORD.toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, STORE_PASSWORD.toCharArray());
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(kmf.getKeyManagers(), null, null);
    return context;
  }

  private static void keytool(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("keytool " + String.join(" ", args) + ": " + output).isZero();
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }
}
