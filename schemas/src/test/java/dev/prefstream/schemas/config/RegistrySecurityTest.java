package dev.prefstream.schemas.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The registry client's authentication and TLS settings, resolved without a server. */
class RegistrySecurityTest {
  private static final String URL = "http://127.0.0.1:8081/apis/ccompat/v7";

  private static RegistrySecurity.Settings resolve(Map<String, Object> settings) {
    Map<String, Object> all = new HashMap<>(settings);
    all.putIfAbsent("schema.registry.url", URL);
    CommonConfig config = new CommonConfig(all);
    return RegistrySecurity.resolve(config, config.getString("schema.registry.url"));
  }

  private static String basic(String userInfo) {
    return "Basic " + Base64.getEncoder().encodeToString(userInfo.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void noCredentialsMeansNoAuthorizationHeader() {
    RegistrySecurity.Settings s = resolve(Map.of());
    assertThat(s.url()).isEqualTo(URL);
    assertThat(s.authorization()).isEmpty();
    assertThat(s.ssl()).isEmpty();
  }

  @Test
  void userInfoSourceSendsBasicAuthAndHidesIt() {
    RegistrySecurity.Settings s =
        resolve(
            Map.of(
                "basic.auth.credentials.source", "USER_INFO",
                "basic.auth.user.info", "svc:s3cr3t:with-colon"));
    assertThat(s.authorization()).contains(basic("svc:s3cr3t:with-colon"));
    assertThat(s.toString())
        .doesNotContain("s3cr3t")
        .doesNotContain(basic("svc:s3cr3t:with-colon"));
  }

  @Test
  void urlSourceTakesUserInfoOutOfTheUrl() {
    RegistrySecurity.Settings s =
        resolve(
            Map.of(
                "schema.registry.url", "https://svc:p%40ss@registry.example:8443/apis/ccompat/v7"));
    assertThat(s.url()).isEqualTo("https://registry.example:8443/apis/ccompat/v7");
    assertThat(s.authorization()).contains(basic("svc:p@ss"));
  }

  @Test
  void saslInheritTakesTheKafkaLogin() {
    RegistrySecurity.Settings s =
        resolve(
            Map.of(
                "basic.auth.credentials.source",
                "SASL_INHERIT",
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required"
                    + " username=\"trainer\" password=\"tr-pw\";"));
    assertThat(s.authorization()).contains(basic("trainer:tr-pw"));
  }

  @Test
  void bearerTokenIsSentAsIs() {
    assertThat(resolve(Map.of("bearer.auth.token", "tok.en")).authorization())
        .contains("Bearer tok.en");
  }

  @Test
  void badSettingsFailNamingTheKeyButNotTheSecret() {
    assertThatThrownBy(() -> resolve(Map.of("basic.auth.credentials.source", "USER_INFO")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("basic.auth.user.info");
    assertThatThrownBy(
            () ->
                resolve(
                    Map.of(
                        "basic.auth.credentials.source", "USER_INFO",
                        "basic.auth.user.info", "no-colon-secret")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("user:password")
        .hasMessageNotContaining("no-colon-secret");
    assertThatThrownBy(
            () ->
                resolve(
                    Map.of(
                        "basic.auth.credentials.source", "USER_INFO",
                        "basic.auth.user.info", "a:pw-secret",
                        "bearer.auth.token", "tok-secret")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("bearer.auth.token")
        .hasMessageNotContaining("pw-secret")
        .hasMessageNotContaining("tok-secret");
    assertThatThrownBy(() -> resolve(Map.of("basic.auth.credentials.source", "KERBEROS")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("basic.auth.credentials.source");
    assertThatThrownBy(() -> resolve(Map.of("basic.auth.credentials.source", "SASL_INHERIT")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("sasl.jaas.config");
  }

  @Test
  void aMissingOrWrongTrustStoreFailsAtStartUpNamingTheKey(@TempDir Path dir) throws Exception {
    assertThatThrownBy(
            () ->
                resolve(
                    Map.of(
                        "schema.registry.ssl.truststore.location",
                        dir.resolve("missing.p12").toString())))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("schema.registry.ssl.truststore.location");
    Path garbage = Files.writeString(dir.resolve("garbage.jks"), "not a key store");
    assertThatThrownBy(
            () ->
                resolve(
                    Map.of(
                        "schema.registry.ssl.truststore.location",
                        garbage.toString(),
                        "schema.registry.ssl.truststore.password",
                        "store-secret")))
        .isInstanceOf(ConfigException.class)
        .hasMessageNotContaining("store-secret");
  }

  @Test
  void registrySettingsNeverReachKafkaClientsButKafkaSecuritySettingsDo() {
    Map<String, Object> settings = new HashMap<>();
    settings.put("bootstrap.servers", "127.0.0.1:9092");
    settings.put("schema.registry.url", URL);
    settings.put("basic.auth.credentials.source", "USER_INFO");
    settings.put("basic.auth.user.info", "u:p");
    settings.put("bearer.auth.token", "t");
    settings.put("schema.registry.ssl.truststore.location", "/x");
    settings.put("schema.registry.ssl.cipher.suites", "TLS_AES_128_GCM_SHA256");
    settings.put("security.protocol", "SASL_SSL");
    settings.put("sasl.mechanism", "SCRAM-SHA-512");
    settings.put("sasl.jaas.config", "x");
    settings.put("ssl.truststore.location", "/kafka.p12");
    Map<String, Object> kafka = new CommonConfig(settings).kafkaClientProperties();
    assertThat(kafka)
        .containsOnlyKeys(
            "bootstrap.servers",
            "security.protocol",
            "sasl.mechanism",
            "sasl.jaas.config",
            "ssl.truststore.location");
  }
}
