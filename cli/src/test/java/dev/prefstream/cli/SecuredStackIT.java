package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.prefstream.embedded.EmbeddedKafka;
import dev.prefstream.embedded.EmbeddedRegistry;
import dev.prefstream.embedded.RegistryAuthProxy;
import dev.prefstream.publisher.AdapterLog;
import dev.prefstream.publisher.SigningKeys;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.config.CommonConfig;
import dev.prefstream.schemas.registry.RestSchemaRegistry;
import dev.prefstream.schemas.registry.SchemaRegistryException;
import dev.prefstream.schemas.serde.ConfluentAvro;
import dev.prefstream.trainer.model.ModelInit;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Production security end to end: a broker whose only client listener wants SASL/SCRAM and
 * authorizes with ACLs (StandardAuthorizer, {@code allow.everyone.if.no.acl.found=false}), a
 * registry behind basic auth, and {@code prefstream ingest | trainer | sink} as separate processes
 * with their credentials in a {@code --config} file and exactly the ACLs the README lists for them.
 * Feedback goes in, a PEFT adapter comes out; a client without credentials, a wrong password, a
 * registry client without credentials and a principal without write access to the adapters topic
 * are all refused; no secret shows up in any process's output.
 */
class SecuredStackIT {
  private static final String PREFIX = "sec.";
  private static final String MODEL = "m1";
  private static final String MECHANISM = "SCRAM-SHA-256";
  private static final String ADMIN_PASSWORD = "admin-pw-5Jq2";
  private static final String REGISTRY_USER = "registry-user";
  private static final String REGISTRY_PASSWORD = "registry-pw-Xc81";
  private static final String TRAINER_ID = "prefstream-trainer";
  private static final String INGEST_APP = "prefstream-ingest";
  private static final String SINK_GROUP = "prefstream-sink";
  private static final Topics TOPICS = new Topics(PREFIX);

  /** Service principals and their passwords (each password is searched for in the logs). */
  private static final Map<String, String> USERS =
      Map.of(
          "ingest", "ingest-pw-9Hd3",
          "trainer", "trainer-pw-Lm47",
          "sink", "sink-pw-Qa06",
          "product", "product-pw-Tz58",
          "intruder", "intruder-pw-Vb12");

  @TempDir(cleanup = CleanupMode.ON_SUCCESS)
  static Path dir;

  static EmbeddedKafka kafka;
  static EmbeddedRegistry registry;
  static RegistryAuthProxy proxy;
  static String registryUrl;
  static final List<Process> services = new ArrayList<>();
  static final Map<String, Path> outputs = new LinkedHashMap<>();

  @BeforeAll
  static void start() throws Exception {
    int brokerPort = freePort();
    int controllerPort = freePort();
    kafka =
        EmbeddedKafka.start(
            dir.resolve("kafka"),
            brokerPort,
            controllerPort,
            secured(brokerPort, controllerPort),
            List.of(MECHANISM + "=[name=admin,password=" + ADMIN_PASSWORD + "]"));
    registry = EmbeddedRegistry.start(dir.resolve("registry"), freePort());
    URI upstream = URI.create(registry.url());
    proxy =
        new RegistryAuthProxy(
            upstream.getScheme() + "://" + upstream.getAuthority(),
            REGISTRY_USER,
            REGISTRY_PASSWORD,
            Optional.empty());
    registryUrl = proxy.base() + upstream.getPath();
    try (Admin admin = Admin.create(client("admin", ADMIN_PASSWORD))) {
      List<UserScramCredentialUpsertion> users = new ArrayList<>();
      USERS.forEach(
          (user, password) ->
              users.add(
                  new UserScramCredentialUpsertion(
                      user,
                      new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192),
                      password)));
      admin.alterUserScramCredentials(List.copyOf(users)).all().get(30, TimeUnit.SECONDS);
      admin.createAcls(acls()).all().get(30, TimeUnit.SECONDS);
    }
  }

  @AfterAll
  static void stop() throws Exception {
    for (Process p : services) {
      p.destroy();
    }
    for (Process p : services) {
      if (!p.waitFor(30, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor();
      }
    }
    if (proxy != null) {
      proxy.close();
    }
    if (registry != null) {
      registry.close();
    }
    if (kafka != null) {
      kafka.close();
    }
  }

  @Test
  void servicesRunWithTheirOwnCredentialsAndEveryoneElseIsRefused() throws Exception {
    // ingest creates the topics (it holds CREATE on the prefix), so it goes first
    Process ingest = service("ingest", List.of("ingest", "--data-dir", dir.resolve("ingest") + ""));
    awaitLine(ingest, "ingest running");
    Path modelDir = dir.resolve("model");
    ModelInit.write(
        modelDir, ModelInit.Spec.builder("llama").optSeed(5).optMaxPositions(128).build());
    // signed versions, as in production: the sink serves only what the trainer's key signed
    Path keys = dir.resolve("keys");
    SigningKeys.write(SigningKeys.generate(), keys);
    service(
        "trainer",
        List.of(
            "trainer",
            "--model-dir",
            modelDir.toString(),
            "--signing-key",
            keys.resolve(SigningKeys.PRIVATE_FILE).toString(),
            "--batch-size",
            "4",
            "--publish-every-steps",
            "2",
            "--max-length",
            "64",
            "-D",
            "trainer.batch.max.wait.ms=2000"));
    Path sinkDir = dir.resolve("adapters");
    service(
        "sink",
        List.of(
            "sink",
            "--dir",
            sinkDir.toString(),
            "--trusted-key",
            keys.resolve(SigningKeys.PUBLIC_FILE).toString()));

    produceFeedback(24);
    Path v1 = sinkDir.resolve(MODEL).resolve("v1");
    awaitFile(v1.resolve("adapter_model.safetensors"));
    assertThat(v1.resolve("adapter_config.json")).exists();
    assertThat(proxy.forwarded()).as("schemas went through the authenticating proxy").isPositive();

    assertUnauthenticatedClientRefused();
    assertWrongPasswordRefused();
    assertRegistryWithoutCredentialsRefusedAtOnce();
    assertNoWriteOnAdaptersMeansNoVersion();
    assertNoSecretInAnyOutput();
  }

  private static void assertUnauthenticatedClientRefused() {
    Map<String, Object> plaintext = new HashMap<>();
    plaintext.put("bootstrap.servers", kafka.bootstrapServers());
    plaintext.put("default.api.timeout.ms", 4_000);
    plaintext.put("request.timeout.ms", 2_000);
    try (Admin anonymous = Admin.create(plaintext)) {
      assertThatThrownBy(() -> anonymous.listTopics().names().get(10, TimeUnit.SECONDS))
          .as("a client that does not speak SASL gets nothing from the SASL listener")
          .isInstanceOf(ExecutionException.class)
          .hasCauseInstanceOf(org.apache.kafka.common.errors.TimeoutException.class);
    }
  }

  private static void assertWrongPasswordRefused() {
    try (Admin impostor = Admin.create(client("trainer", "not-the-password"))) {
      assertThatThrownBy(() -> impostor.listTopics().names().get(30, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class)
          .hasCauseInstanceOf(SaslAuthenticationException.class);
    }
  }

  private static void assertRegistryWithoutCredentialsRefusedAtOnce() {
    int refusedBefore = proxy.refused();
    RestSchemaRegistry anonymous = new RestSchemaRegistry(registryUrl, Duration.ofSeconds(30));
    assertThatThrownBy(() -> anonymous.versions(ConfluentAvro.subject(TOPICS.feedback(), false)))
        .isInstanceOfSatisfying(
            SchemaRegistryException.class, e -> assertThat(e.isRetriable()).isFalse())
        .hasMessageContaining("401")
        .hasMessageContaining("basic.auth.user.info");
    assertThat(proxy.refused()).as("a 401 is not retried").isEqualTo(refusedBefore + 1);

    // a wrong password configured the way services configure it: refused, and not echoed
    Map<String, Object> wrong = new HashMap<>();
    wrong.put("schema.registry.url", registryUrl);
    wrong.put("basic.auth.credentials.source", "USER_INFO");
    wrong.put("basic.auth.user.info", REGISTRY_USER + ":wrong-registry-pw");
    assertThatThrownBy(
            () ->
                new CommonConfig(wrong)
                    .schemaRegistry()
                    .versions(ConfluentAvro.subject(TOPICS.feedback(), false)))
        .isInstanceOf(SchemaRegistryException.class)
        .hasMessageContaining("401")
        .hasMessageNotContaining("wrong-registry-pw");
  }

  /**
   * The intruder may read the adapters and trainer-state topics and holds transactional ids of its
   * own, but cannot write the adapters topic: a rollback (which publishes a version) fails and no
   * version appears.
   */
  private static void assertNoWriteOnAdaptersMeansNoVersion() throws Exception {
    Path config = configFile("intruder");
    StringWriter err = new StringWriter();
    StringWriter out = new StringWriter();
    var cli = PrefstreamCli.commandLine();
    cli.setErr(new PrintWriter(err, true));
    cli.setOut(new PrintWriter(out, true));
    int exit =
        cli.execute(
            "adapters",
            "rollback",
            "--config",
            config.toString(),
            "--trainer-id",
            "intruder",
            "--model",
            MODEL,
            "--to-version",
            "1");
    assertThat(exit).as(out + "\n" + err).isNotZero();
    assertThat(err.toString())
        .contains("Not authorized to access topics")
        .contains(TOPICS.adapters());
    AdapterLog log =
        AdapterLog.read(
            client("admin", ADMIN_PASSWORD),
            TOPICS,
            new CommonConfig(registryConfig()).schemaRegistry(),
            MODEL,
            null);
    assertThat(log.versions()).isNotEmpty();
    assertThat(log.versions())
        .as("every version on the topic comes from the trainer")
        .allSatisfy(v -> assertThat(v.getTrainerId()).isEqualTo(TRAINER_ID));
  }

  private static void assertNoSecretInAnyOutput() throws IOException {
    List<String> secrets = new ArrayList<>(USERS.values());
    secrets.add(REGISTRY_PASSWORD);
    secrets.add(ADMIN_PASSWORD);
    for (var entry : outputs.entrySet()) {
      String text = Files.readString(entry.getValue());
      assertThat(text).as(entry.getKey() + " ran").isNotEmpty();
      for (String secret : secrets) {
        assertThat(text).as(entry.getKey() + "'s output leaks a secret").doesNotContain(secret);
      }
    }
  }

  /** The broker: SASL/SCRAM for clients and between brokers, PLAIN for the controller. */
  private static Map<String, String> secured(int brokerPort, int controllerPort) {
    Map<String, String> p = new HashMap<>();
    p.put(
        "listeners",
        "SASL_PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
    p.put("advertised.listeners", "SASL_PLAINTEXT://127.0.0.1:" + brokerPort);
    p.put("inter.broker.listener.name", "SASL_PLAINTEXT");
    p.put(
        "listener.security.protocol.map",
        "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT");
    p.put("sasl.enabled.mechanisms", MECHANISM);
    p.put("sasl.mechanism.inter.broker.protocol", MECHANISM);
    p.put(
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config",
        scramJaas("admin", ADMIN_PASSWORD));
    // SCRAM credentials live in the metadata log, which the controller serves: it uses PLAIN
    p.put("sasl.mechanism.controller.protocol", "PLAIN");
    p.put("listener.name.controller.sasl.enabled.mechanisms", "PLAIN");
    p.put(
        "listener.name.controller.plain.sasl.jaas.config",
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\""
            + " password=\""
            + ADMIN_PASSWORD
            + "\" user_admin=\""
            + ADMIN_PASSWORD
            + "\";");
    p.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
    p.put("super.users", "User:admin");
    p.put("allow.everyone.if.no.acl.found", "false");
    return p;
  }

  /** Exactly what the README's "ACLs per service" table lists, nothing more. */
  private static List<AclBinding> acls() {
    List<AclBinding> acls = new ArrayList<>();
    // ingest: creates the catalogue, reads feedback/served, writes pairs/unpaired/dead-letters,
    // owns its Streams application id (internal topics, group, transactional ids)
    allow(acls, "ingest", ResourceType.TOPIC, PREFIX, PatternType.PREFIXED, AclOperation.CREATE);
    allow(acls, "ingest", ResourceType.TOPIC, PREFIX, PatternType.PREFIXED, AclOperation.DESCRIBE);
    for (String t : List.of(TOPICS.feedback(), TOPICS.served())) {
      allow(acls, "ingest", ResourceType.TOPIC, t, PatternType.LITERAL, AclOperation.READ);
    }
    for (String t : List.of(TOPICS.pairs(), TOPICS.unpaired(), TOPICS.deadLetters())) {
      allow(acls, "ingest", ResourceType.TOPIC, t, PatternType.LITERAL, AclOperation.WRITE);
    }
    allow(acls, "ingest", ResourceType.TOPIC, INGEST_APP, PatternType.PREFIXED, AclOperation.ALL);
    allow(acls, "ingest", ResourceType.GROUP, INGEST_APP, PatternType.LITERAL, AclOperation.READ);
    allow(
        acls,
        "ingest",
        ResourceType.TRANSACTIONAL_ID,
        INGEST_APP,
        PatternType.PREFIXED,
        AclOperation.WRITE);
    // trainer: reads pairs, writes versions, its state and dead letters in its transactions
    allow(
        acls,
        "trainer",
        ResourceType.TOPIC,
        TOPICS.pairs(),
        PatternType.LITERAL,
        AclOperation.READ);
    // (trainer-snapshots: each version's state kept for audit replay)
    for (String t :
        List.of(
            TOPICS.adapters(),
            TOPICS.trainerState(),
            TOPICS.trainerSnapshots(),
            TOPICS.deadLetters())) {
      allow(acls, "trainer", ResourceType.TOPIC, t, PatternType.LITERAL, AclOperation.WRITE);
    }
    allow(
        acls,
        "trainer",
        ResourceType.TOPIC,
        TOPICS.trainerState(),
        PatternType.LITERAL,
        AclOperation.READ);
    allow(acls, "trainer", ResourceType.GROUP, TRAINER_ID, PatternType.LITERAL, AclOperation.READ);
    allow(
        acls,
        "trainer",
        ResourceType.TRANSACTIONAL_ID,
        TRAINER_ID + "-",
        PatternType.PREFIXED,
        AclOperation.WRITE);
    // sink: reads adapters in its group
    allow(
        acls,
        "sink",
        ResourceType.TOPIC,
        TOPICS.adapters(),
        PatternType.LITERAL,
        AclOperation.READ);
    allow(acls, "sink", ResourceType.GROUP, SINK_GROUP, PatternType.LITERAL, AclOperation.READ);
    // a product writes feedback and impressions
    for (String t : List.of(TOPICS.feedback(), TOPICS.served())) {
      allow(acls, "product", ResourceType.TOPIC, t, PatternType.LITERAL, AclOperation.WRITE);
    }
    // the intruder reads what a rollback reads and has transactional ids, but no write on adapters
    for (String t : List.of(TOPICS.adapters(), TOPICS.trainerState())) {
      allow(acls, "intruder", ResourceType.TOPIC, t, PatternType.LITERAL, AclOperation.READ);
    }
    allow(
        acls,
        "intruder",
        ResourceType.TRANSACTIONAL_ID,
        "intruder-",
        PatternType.PREFIXED,
        AclOperation.WRITE);
    return acls;
  }

  private static void allow(
      List<AclBinding> acls,
      String user,
      ResourceType type,
      String name,
      PatternType pattern,
      AclOperation operation) {
    acls.add(
        new AclBinding(
            new ResourcePattern(type, name, pattern),
            new AccessControlEntry("User:" + user, "*", operation, AclPermissionType.ALLOW)));
  }

  private static String scramJaas(String user, String password) {
    return "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
        + user
        + "\" password=\""
        + password
        + "\";";
  }

  private static Map<String, Object> client(String user, String password) {
    Map<String, Object> props = new HashMap<>();
    props.put("bootstrap.servers", kafka.bootstrapServers());
    props.put("security.protocol", "SASL_PLAINTEXT");
    props.put("sasl.mechanism", MECHANISM);
    props.put("sasl.jaas.config", scramJaas(user, password));
    return props;
  }

  private static Map<String, Object> registryConfig() {
    Map<String, Object> props = new HashMap<>();
    props.put("schema.registry.url", registryUrl);
    props.put("basic.auth.credentials.source", "USER_INFO");
    props.put("basic.auth.user.info", REGISTRY_USER + ":" + REGISTRY_PASSWORD);
    return props;
  }

  /** What an operator writes for one service: Kafka credentials, registry credentials, names. */
  private static Path configFile(String user) throws IOException {
    StringBuilder text = new StringBuilder();
    Map<String, Object> settings = new LinkedHashMap<>(client(user, USERS.get(user)));
    settings.putAll(registryConfig());
    settings.put("topic.prefix", PREFIX);
    settings.put("topic.partitions", 1);
    if (user.equals("sink")) {
      settings.put("sink.group.id", SINK_GROUP);
    }
    settings.forEach(
        (k, v) ->
            text.append(k)
                .append('=')
                .append(String.valueOf(v).replace("\\", "\\\\"))
                .append('\n'));
    Path file = dir.resolve(user + ".properties");
    Files.writeString(file, text.toString(), StandardCharsets.UTF_8);
    return file;
  }

  /** A service command in its own JVM, logging Kafka's clients at INFO (their configs included). */
  private static Process service(String user, List<String> args) throws IOException {
    Path logback = dir.resolve("logback-info.xml");
    if (!Files.exists(logback)) {
      Files.writeString(
          logback,
          "<configuration><appender name=\"out\" class=\"ch.qos.logback.core.ConsoleAppender\">"
              + "<encoder><pattern>%level %logger{20} - %msg%n</pattern></encoder></appender>"
              + "<logger name=\"org.apache.kafka\" level=\"INFO\"/>"
              + "<root level=\"INFO\"><appender-ref ref=\"out\"/></root></configuration>");
    }
    List<String> command = new ArrayList<>(args);
    command.add("--config");
    command.add(configFile(user).toString());
    Path output = dir.resolve(user + ".log");
    ProcessBuilder builder =
        ChildCli.builder(List.of("-Xmx768m", "-Dlogback.configurationFile=" + logback), command)
            .redirectOutput(output.toFile());
    Process process = builder.start();
    services.add(process);
    outputs.put(user, output);
    return process;
  }

  private static void produceFeedback(int events) throws Exception {
    Map<String, Object> settings = new HashMap<>(registryConfig());
    Map<String, Object> props = new HashMap<>(client("product", USERS.get("product")));
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    ConfluentAvro<FeedbackEvent> codec =
        new ConfluentAvro<>(FeedbackEvent.class, new CommonConfig(settings).schemaRegistry(), true);
    String subject = ConfluentAvro.subject(TOPICS.feedback(), false);
    SyntheticFeedback feedback = new SyntheticFeedback(MODEL, 3);
    try (KafkaProducer<String, byte[]> producer =
        new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < events; i++) {
        FeedbackEvent event = feedback.next();
        producer.send(new ProducerRecord<>(TOPICS.feedback(), MODEL, codec.encode(subject, event)));
      }
      producer.flush();
    }
  }

  private static void awaitLine(Process process, String prefix) throws Exception {
    Path output = outputs.get(nameOf(process));
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(2);
    while (process.isAlive() && System.nanoTime() < deadline) {
      if (Files.readAllLines(output).stream().anyMatch(l -> l.startsWith(prefix))) {
        return;
      }
      Thread.sleep(100);
    }
    throw new AssertionError(
        "no line '"
            + prefix
            + "' (alive: "
            + process.isAlive()
            + "):\n"
            + Files.readString(output));
  }

  private static void awaitFile(Path file) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(4);
    while (System.nanoTime() < deadline) {
      if (Files.exists(file)) {
        return;
      }
      for (Process p : services) {
        if (!p.isAlive()) {
          throw new AssertionError(nameOf(p) + " died:\n" + allOutputs());
        }
      }
      Thread.sleep(250);
    }
    throw new AssertionError(file + " never appeared:\n" + allOutputs());
  }

  private static String nameOf(Process process) {
    return new ArrayList<>(outputs.keySet()).get(services.indexOf(process));
  }

  private static String allOutputs() throws IOException {
    StringBuilder text = new StringBuilder();
    for (var entry : outputs.entrySet()) {
      List<String> lines = Files.readAllLines(entry.getValue());
      text.append("== ").append(entry.getKey()).append('\n');
      lines.stream().skip(Math.max(0, lines.size() - 60)).forEach(l -> text.append(l).append('\n'));
    }
    return text.toString();
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }
}
