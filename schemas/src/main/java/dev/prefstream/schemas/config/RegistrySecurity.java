package dev.prefstream.schemas.config;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Base64;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.types.Password;

/**
 * How the registry client authenticates and which TLS material it uses, under the names Confluent's
 * clients use ({@code basic.auth.credentials.source}, {@code basic.auth.user.info}, {@code
 * bearer.auth.token}, {@code schema.registry.ssl.*}), so that one properties file serves
 * Confluent's serializers and prefstream alike. Secrets are {@link Type#PASSWORD}: printed as
 * {@code [hidden]}, never in a message.
 */
public final class RegistrySecurity {
  public static final String BASIC_AUTH_SOURCE_CONFIG = "basic.auth.credentials.source";
  private static final String BASIC_AUTH_SOURCE_DOC =
      "Where the registry's basic-auth credentials come from: URL (user:password@ in"
          + " schema.registry.url; none when the URL has none), USER_INFO (basic.auth.user.info),"
          + " SASL_INHERIT (username and password of the Kafka sasl.jaas.config).";

  public static final String BASIC_AUTH_USER_INFO_CONFIG = "basic.auth.user.info";
  private static final String BASIC_AUTH_USER_INFO_DOC =
      "user:password for the registry when basic.auth.credentials.source=USER_INFO.";

  public static final String BEARER_AUTH_TOKEN_CONFIG = "bearer.auth.token";
  private static final String BEARER_AUTH_TOKEN_DOC =
      "A static bearer token sent to the registry (Authorization: Bearer); excludes basic auth.";

  private static final String SSL = "schema.registry.ssl.";
  public static final String TRUSTSTORE_LOCATION_CONFIG = SSL + "truststore.location";
  public static final String TRUSTSTORE_PASSWORD_CONFIG = SSL + "truststore.password";
  public static final String TRUSTSTORE_TYPE_CONFIG = SSL + "truststore.type";
  public static final String KEYSTORE_LOCATION_CONFIG = SSL + "keystore.location";
  public static final String KEYSTORE_PASSWORD_CONFIG = SSL + "keystore.password";
  public static final String KEYSTORE_TYPE_CONFIG = SSL + "keystore.type";
  public static final String KEY_PASSWORD_CONFIG = SSL + "key.password";
  public static final String PROTOCOL_CONFIG = SSL + "protocol";

  static final String SOURCE_URL = "URL";
  static final String SOURCE_USER_INFO = "USER_INFO";
  static final String SOURCE_SASL_INHERIT = "SASL_INHERIT";

  private static final Pattern JAAS_USER = Pattern.compile("username\\s*=\\s*\"([^\"]*)\"");
  private static final Pattern JAAS_PASSWORD = Pattern.compile("password\\s*=\\s*\"([^\"]*)\"");

  private RegistrySecurity() {}

  /** Adds the registry client's security keys to {@code def}. */
  static ConfigDef define(ConfigDef def) {
    return def.define(
            BASIC_AUTH_SOURCE_CONFIG,
            Type.STRING,
            SOURCE_URL,
            ConfigDef.ValidString.in(SOURCE_URL, SOURCE_USER_INFO, SOURCE_SASL_INHERIT),
            Importance.MEDIUM,
            BASIC_AUTH_SOURCE_DOC)
        .define(
            BASIC_AUTH_USER_INFO_CONFIG,
            Type.PASSWORD,
            null,
            Importance.MEDIUM,
            BASIC_AUTH_USER_INFO_DOC)
        .define(
            BEARER_AUTH_TOKEN_CONFIG, Type.PASSWORD, null, Importance.MEDIUM, BEARER_AUTH_TOKEN_DOC)
        .define(
            TRUSTSTORE_LOCATION_CONFIG,
            Type.STRING,
            "",
            Importance.MEDIUM,
            "Trust store for an https registry; empty: the JVM's default trust store.")
        .define(
            TRUSTSTORE_PASSWORD_CONFIG,
            Type.PASSWORD,
            null,
            Importance.MEDIUM,
            "Password of schema.registry.ssl.truststore.location.")
        .define(
            TRUSTSTORE_TYPE_CONFIG,
            Type.STRING,
            "JKS",
            Importance.LOW,
            "Format of the trust store: JKS or PKCS12.")
        .define(
            KEYSTORE_LOCATION_CONFIG,
            Type.STRING,
            "",
            Importance.MEDIUM,
            "Key store with this client's certificate, for a registry that wants mutual TLS.")
        .define(
            KEYSTORE_PASSWORD_CONFIG,
            Type.PASSWORD,
            null,
            Importance.MEDIUM,
            "Password of schema.registry.ssl.keystore.location.")
        .define(
            KEYSTORE_TYPE_CONFIG,
            Type.STRING,
            "JKS",
            Importance.LOW,
            "Format of the key store: JKS or PKCS12.")
        .define(
            KEY_PASSWORD_CONFIG,
            Type.PASSWORD,
            null,
            Importance.LOW,
            "Password of the private key in the key store; unset: the key store's password.")
        .define(
            PROTOCOL_CONFIG,
            Type.STRING,
            "TLSv1.3",
            Importance.LOW,
            "TLS protocol of the registry client (SSLContext name, e.g. TLSv1.3, TLSv1.2).");
  }

  /** What the registry client sends and trusts. */
  public record Settings(String url, Optional<String> authorization, Optional<SSLContext> ssl) {
    @Override
    public String toString() {
      // the authorization header is a secret
      return "Settings[url=" + url + ", authorization=" + authorization.map(a -> "[hidden]") + "]";
    }
  }

  /**
   * Resolves the registry URL (user info removed: it never reaches a log line or an error message),
   * the {@code Authorization} header and the TLS context from {@code config}.
   */
  static Settings resolve(CommonConfig config, String configuredUrl) {
    URI uri;
    try {
      uri = URI.create(configuredUrl);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(
          CommonConfig.SCHEMA_REGISTRY_URL_CONFIG, redact(configuredUrl), "not a valid URL");
    }
    String userInfoInUrl = uri.getRawUserInfo();
    String url = userInfoInUrl == null ? configuredUrl : withoutUserInfo(uri);

    Password bearer = config.getPassword(BEARER_AUTH_TOKEN_CONFIG);
    String source = config.getString(BASIC_AUTH_SOURCE_CONFIG);
    Optional<String> basic =
        switch (source) {
          case SOURCE_USER_INFO -> {
            Password info = config.getPassword(BASIC_AUTH_USER_INFO_CONFIG);
            if (info == null || info.value().isEmpty()) {
              throw new ConfigException(
                  BASIC_AUTH_USER_INFO_CONFIG,
                  "[hidden]",
                  "is required (user:password) with " + BASIC_AUTH_SOURCE_CONFIG + "=USER_INFO");
            }
            yield Optional.of(checkedUserInfo(info.value(), BASIC_AUTH_USER_INFO_CONFIG));
          }
          case SOURCE_SASL_INHERIT -> Optional.of(fromJaas(config));
          default ->
              Optional.ofNullable(userInfoInUrl)
                  .map(u -> URLDecoder.decode(u, StandardCharsets.UTF_8))
                  .map(u -> checkedUserInfo(u, CommonConfig.SCHEMA_REGISTRY_URL_CONFIG));
        };
    if (bearer != null && !bearer.value().isEmpty() && basic.isPresent()) {
      throw new ConfigException(
          BEARER_AUTH_TOKEN_CONFIG,
          "[hidden]",
          "set either a bearer token or basic auth ("
              + BASIC_AUTH_SOURCE_CONFIG
              + "="
              + source
              + " found credentials), not both");
    }
    Optional<String> authorization =
        bearer != null && !bearer.value().isEmpty()
            ? Optional.of("Bearer " + bearer.value())
            : basic.map(
                u ->
                    "Basic "
                        + Base64.getEncoder().encodeToString(u.getBytes(StandardCharsets.UTF_8)));
    return new Settings(url, authorization, sslContext(config));
  }

  private static String checkedUserInfo(String userInfo, String key) {
    if (userInfo.indexOf(':') < 1) {
      throw new ConfigException(key, "[hidden]", "credentials must look like user:password");
    }
    return userInfo;
  }

  private static String fromJaas(CommonConfig config) {
    Object jaas = config.originals().get("sasl.jaas.config");
    String text = jaas instanceof Password p ? p.value() : jaas == null ? "" : String.valueOf(jaas);
    Matcher user = JAAS_USER.matcher(text);
    Matcher password = JAAS_PASSWORD.matcher(text);
    if (!user.find() || !password.find()) {
      throw new ConfigException(
          BASIC_AUTH_SOURCE_CONFIG,
          SOURCE_SASL_INHERIT,
          "needs sasl.jaas.config with username=\"...\" and password=\"...\"");
    }
    return user.group(1) + ":" + password.group(1);
  }

  private static Optional<SSLContext> sslContext(CommonConfig config) {
    String trustStore = config.getString(TRUSTSTORE_LOCATION_CONFIG);
    String keyStore = config.getString(KEYSTORE_LOCATION_CONFIG);
    if (trustStore.isBlank() && keyStore.isBlank()) {
      return Optional.empty();
    }
    try {
      TrustManagerFactory tmf = null;
      if (!trustStore.isBlank()) {
        KeyStore trust =
            load(
                TRUSTSTORE_LOCATION_CONFIG,
                trustStore,
                config.getString(TRUSTSTORE_TYPE_CONFIG),
                config.getPassword(TRUSTSTORE_PASSWORD_CONFIG));
        tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
      }
      KeyManagerFactory kmf = null;
      if (!keyStore.isBlank()) {
        Password storePassword = config.getPassword(KEYSTORE_PASSWORD_CONFIG);
        KeyStore keys =
            load(
                KEYSTORE_LOCATION_CONFIG,
                keyStore,
                config.getString(KEYSTORE_TYPE_CONFIG),
                storePassword);
        Password keyPassword = config.getPassword(KEY_PASSWORD_CONFIG);
        Password effective = keyPassword != null ? keyPassword : storePassword;
        kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, effective == null ? new char[0] : effective.value().toCharArray());
      }
      SSLContext context = SSLContext.getInstance(config.getString(PROTOCOL_CONFIG));
      context.init(
          kmf == null ? null : kmf.getKeyManagers(),
          tmf == null ? null : tmf.getTrustManagers(),
          null);
      return Optional.of(context);
    } catch (GeneralSecurityException e) {
      throw new ConfigException(
          SSL + "*",
          "[hidden]",
          "cannot build the registry client's TLS context: " + e.getClass().getSimpleName());
    }
  }

  private static KeyStore load(String key, String location, String type, Password password)
      throws GeneralSecurityException {
    KeyStore store = KeyStore.getInstance(type);
    try (InputStream in = Files.newInputStream(Path.of(location))) {
      store.load(in, password == null ? null : password.value().toCharArray());
      return store;
    } catch (IOException e) {
      // a wrong password shows as an IOException too; the message never includes it
      throw new ConfigException(
          key,
          location,
          "cannot read this "
              + type
              + " store (missing file or wrong password): "
              + e.getClass().getSimpleName());
    }
  }

  private static String withoutUserInfo(URI uri) {
    return uri.getScheme()
        + "://"
        + uri.getHost()
        + (uri.getPort() >= 0 ? ":" + uri.getPort() : "")
        + (uri.getRawPath() == null ? "" : uri.getRawPath())
        + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
  }

  /** A URL as it may be shown: without user info. */
  static String redact(String url) {
    return url == null ? null : url.replaceAll("//[^/@]*@", "//[hidden]@");
  }
}
