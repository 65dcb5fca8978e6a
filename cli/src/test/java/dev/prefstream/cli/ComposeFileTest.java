package dev.prefstream.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.prefstream.ingest.IngestConfig;
import dev.prefstream.publisher.SinkConfig;
import dev.prefstream.schemas.config.ConfigFiles;
import dev.prefstream.trainer.stream.TrainerConfig;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;
import picocli.CommandLine;

/**
 * No Docker engine runs here, so the deployment files are reviewed against the code instead: every
 * prefstream command line in {@code compose/docker-compose.yml} parses with the real CLI and makes
 * a valid configuration, every {@code -D} key and every key of the mounted properties file
 * (commented examples included) is one the code declares or a Kafka client setting, every
 * environment key is read by the entrypoint or by DJL, images are pinned (Kafka and Apicurio to the
 * versions the code is built and tested with), what the Dockerfile copies exists, Prometheus
 * scrapes every metrics port, Grafana's provisioning points at the dashboard, and vLLM sees
 * adapters where the sink writes them. SnakeYAML comes with jackson-dataformat-yaml (via jinjava)
 * and resolves the file's anchors.
 */
class ComposeFileTest {
  private static final String KEYS_MOUNT = "/keys/";

  /** A real key pair standing in for the compose `keys` volume. */
  @org.junit.jupiter.api.io.TempDir static Path keyDir;

  @BeforeAll
  static void keyPair() throws IOException {
    dev.prefstream.publisher.SigningKeys.write(
        dev.prefstream.publisher.SigningKeys.generate(), keyDir);
  }

  private static final Path ROOT = repositoryRoot();
  private static final Path COMPOSE = ROOT.resolve("compose");
  private static Map<String, Map<String, Object>> services;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void load() throws IOException {
    Map<String, Object> file =
        new Yaml().load(Files.readString(COMPOSE.resolve("docker-compose.yml")));
    services = (Map<String, Map<String, Object>>) file.get("services");
    assertThat(services).containsKeys("kafka", "registry", "ingest", "trainer", "sink");
  }

  /** The prefstream services: those built from compose/Dockerfile. */
  private static Map<String, Map<String, Object>> prefstream() {
    Map<String, Map<String, Object>> ours = new LinkedHashMap<>();
    services.forEach(
        (name, s) -> {
          // the services; the one-shot `keys` step is checked on its own
          if (String.valueOf(s.get("image")).startsWith("prefstream:")
              && !command(s).get(0).equals("keys")) {
            ours.put(name, s);
          }
        });
    return ours;
  }

  @SuppressWarnings("unchecked")
  private static List<String> command(Map<String, Object> service) {
    return (List<String>) service.get("command");
  }

  @Test
  void everyPrefstreamCommandLineParsesAndMakesAValidConfiguration() {
    assertThat(prefstream()).containsKeys("ingest", "trainer", "trainer-gpu", "sink", "sink-vllm");
    Map<String, Function<Map<String, Object>, AbstractConfig>> configs =
        Map.of("ingest", IngestConfig::new, "trainer", TrainerConfig::new, "sink", SinkConfig::new);
    prefstream()
        .forEach(
            (name, service) -> {
              // the key files live in the `keys` volume: a real pair stands in for it here
              List<String> args =
                  command(service).stream()
                      .map(
                          a ->
                              a.startsWith(KEYS_MOUNT)
                                  ? keyDir.resolve(a.substring(KEYS_MOUNT.length())).toString()
                                  : a)
                      .toList();
              CommandLine cli = PrefstreamCli.commandLine();
              CommandLine.ParseResult parsed;
              try {
                // unknown flags, missing values and unmatched arguments fail here
                parsed = cli.parseArgs(args.toArray(String[]::new));
              } catch (CommandLine.ParameterException e) {
                throw new AssertionError(name + ": " + args + " does not parse: " + e.getMessage());
              }
              CommandLine.ParseResult sub = parsed.subcommand();
              assertThat(sub).as(name + " runs a subcommand").isNotNull();
              String subcommand = sub.commandSpec().name();
              assertThat(configs).as(name + " runs a service command").containsKey(subcommand);
              KafkaOptions options =
                  (KafkaOptions) sub.commandSpec().mixins().get("kafka").userObject();
              // --config names the path inside the container: read the file mounted there
              assertThat(options.configFile).as(name + " reads a --config file").isNotNull();
              String source = sourceOf(service, options.configFile.toString());
              options.configFile = COMPOSE.resolve(source);
              Map<String, Object> settings = options.settings(Map.of());
              for (String key : dashDKeys(args)) {
                assertThat(isReadByCode(subcommand, key))
                    .as(name + ": -D " + key + " is a key " + subcommand + " reads")
                    .isTrue();
              }
              // validators run: a bad value (a device name, a number) fails here
              configs.get(subcommand).apply(settings);
            });
  }

  @Test
  void oneKeyPairIsMadeOnceAndEveryVersionIsSignedWithTheKeyTheSinksTrust() {
    Map<String, Object> step = services.get("keys");
    assertThat(step).as("a `keys` one-shot service").isNotNull();
    List<String> args = command(step);
    assertThat(args).containsExactly("keys", "generate", "--if-missing", "--out", "/keys");
    PrefstreamCli.commandLine().parseArgs(args.toArray(String[]::new));
    assertThat(String.valueOf(step.get("restart"))).isEqualTo("no");
    prefstream()
        .forEach(
            (name, service) -> {
              List<String> a = command(service);
              String mounts = String.valueOf(service.get("volumes"));
              String after = String.valueOf(service.get("depends_on"));
              if (a.get(0).equals("trainer")) {
                assertThat(a)
                    .as(name)
                    .containsSubsequence("--signing-key", KEYS_MOUNT + "signing.key");
              }
              if (a.get(0).equals("sink")) {
                assertThat(a)
                    .as(name)
                    .containsSubsequence("--trusted-key", KEYS_MOUNT + "signing.pub");
              }
              if (a.get(0).equals("trainer") || a.get(0).equals("sink")) {
                assertThat(mounts).as(name + " mounts the keys").contains("keys:/keys:ro");
                assertThat(after).as(name + " starts after the keys exist").contains("keys");
              }
            });
  }

  @Test
  void everyKeyOfTheMountedPropertiesFileIsReadIncludingCommentedExamples() throws IOException {
    Path file = COMPOSE.resolve("prefstream.properties");
    Properties active = new Properties();
    Properties examples = new Properties();
    StringBuilder uncommented = new StringBuilder();
    for (String line : Files.readAllLines(file)) {
      if (line.startsWith("#") && line.contains("=") && !line.startsWith("# ")) {
        uncommented.append(line.substring(1)).append('\n');
      }
    }
    try (InputStream in = Files.newInputStream(file)) {
      active.load(in);
    }
    examples.load(new java.io.StringReader(uncommented.toString()));
    assertThat(examples.stringPropertyNames())
        .as("the file shows the security settings")
        .contains("security.protocol", "sasl.jaas.config", "basic.auth.user.info");
    Set<String> keys = new TreeSet<>(active.stringPropertyNames());
    keys.addAll(examples.stringPropertyNames());
    for (String key : keys) {
      boolean read =
          List.of("ingest", "trainer", "sink").stream().anyMatch(c -> isReadByCode(c, key));
      assertThat(read).as(key + " in " + file + " is read by some service").isTrue();
    }
    // the active settings make a valid configuration for every service
    Map<String, Object> settings = new java.util.HashMap<>(ConfigFiles.load(file, Map.of()));
    new IngestConfig(settings);
    // the sinks add their trusted key on their command lines
    settings.put(SinkConfig.TRUSTED_KEYS_CONFIG, keyDir.resolve("signing.pub").toString());
    new SinkConfig(settings);
  }

  @Test
  void everyEnvironmentKeyOfAPrefstreamServiceIsReadByTheEntrypointOrByDjl() throws Exception {
    String entrypoint = Files.readString(COMPOSE.resolve("entrypoint.sh"));
    Set<String> keys = new TreeSet<>();
    prefstream().values().forEach(s -> keys.addAll(environment(s).keySet()));
    keys.addAll(dockerfileEnv());
    assertThat(keys).contains("OPT_OUT_TRACKING", "PYTORCH_LIBRARY_PATH", "PYTORCH_FLAVOR");
    Set<String> djlStrings = djlStringConstants(keys);
    for (String key : keys) {
      boolean read = entrypoint.contains("${" + key) || djlStrings.contains(key);
      assertThat(read).as(key + " is read by entrypoint.sh or a DJL class").isTrue();
    }
  }

  @Test
  void imagesArePinnedAndKafkaAndTheRegistryAreTheVersionsTheCodeIsTestedWith() throws Exception {
    services.forEach(
        (name, s) -> {
          String image = String.valueOf(s.get("image"));
          assertThat(image)
              .as(name + " pins a tag")
              .matches("[^:]+:[^:]+")
              .doesNotEndWith(":latest");
        });
    String pom = Files.readString(ROOT.resolve("pom.xml"));
    Matcher kafka = Pattern.compile("<kafka.version>([^<]+)<").matcher(pom);
    assertThat(kafka.find()).isTrue();
    assertThat(services.get("kafka").get("image")).isEqualTo("apache/kafka:" + kafka.group(1));
    Matcher apicurio = Pattern.compile("<apicurio.version>([^<]+)<").matcher(pom);
    assertThat(apicurio.find()).isTrue();
    assertThat(String.valueOf(services.get("registry").get("image")))
        .endsWith(":" + apicurio.group(1));
  }

  @Test
  void whatTheDockerfileCopiesExistsAndTheEntrypointRunsTheCli() throws IOException {
    List<String> lines = Files.readAllLines(COMPOSE.resolve("Dockerfile"));
    int copies = 0;
    for (String line : lines) {
      if (line.startsWith("COPY ") && !line.contains("--from=")) {
        String[] parts = line.substring(5).trim().split("\\s+");
        for (int i = 0; i < parts.length - 1; i++) {
          assertThat(ROOT.resolve(parts[i])).as("COPY " + parts[i]).exists();
          copies++;
        }
      }
    }
    assertThat(copies).isGreaterThan(10);
    // the build's outputs the runtime stage copies are where the cli module puts them
    assertThat(lines).contains("COPY --from=build /src/cli/target/lib /opt/prefstream/lib");
    assertThat(Files.readString(ROOT.resolve("cli/pom.xml")))
        .contains("<outputDirectory>${project.build.directory}/lib</outputDirectory>");
    Path entrypoint = COMPOSE.resolve("entrypoint.sh");
    assertThat(Files.isExecutable(entrypoint)).isTrue();
    assertThat(Files.readString(entrypoint))
        .contains(PrefstreamCli.class.getName())
        .contains("-Dai.djl.offline=true");
  }

  @Test
  @SuppressWarnings("unchecked")
  void prometheusScrapesEveryMetricsPortAndGrafanaLoadsTheDashboard() throws IOException {
    Map<String, Object> prometheus =
        new Yaml().load(Files.readString(COMPOSE.resolve("prometheus/prometheus.yml")));
    Set<String> scraped = new HashSet<>();
    for (Map<String, Object> job : (List<Map<String, Object>>) prometheus.get("scrape_configs")) {
      for (Map<String, Object> sd :
          (List<Map<String, Object>>) job.getOrDefault("dns_sd_configs", List.of())) {
        for (String host : (List<String>) sd.get("names")) {
          scraped.add(host + ":" + sd.get("port") + job.getOrDefault("metrics_path", "/metrics"));
        }
      }
    }
    prefstream()
        .forEach(
            (name, s) -> {
              List<String> args = command(s);
              int at = args.indexOf("--metrics-port");
              assertThat(at).as(name + " serves metrics").isPositive();
              assertThat(args)
                  .as(name + " listens beyond loopback")
                  .contains("metrics.address=0.0.0.0");
              assertThat(scraped).contains(name + ":" + args.get(at + 1) + "/metrics");
            });

    Map<String, Object> provider =
        ((List<Map<String, Object>>)
                new Yaml()
                    .<Map<String, Object>>load(
                        Files.readString(
                            COMPOSE.resolve("grafana/provisioning/dashboards/prefstream.yml")))
                    .get("providers"))
            .get(0);
    String dashboards = (String) ((Map<String, Object>) provider.get("options")).get("path");
    assertThat(volumes(services.get("grafana")))
        .containsEntry("./grafana/dashboards", dashboards)
        .containsEntry("./grafana/provisioning", "/etc/grafana/provisioning");
    Path dashboard = COMPOSE.resolve("grafana/dashboards/prefstream.json");
    assertThat(dashboard).as("the metrics work's dashboard").exists();
    JsonNode json = new ObjectMapper().readTree(dashboard.toFile());
    List<String> uids = json.findValuesAsText("uid");
    for (JsonNode ds : json.findValues("datasource")) {
      if (ds.isObject() && ds.has("uid")) {
        assertThat(ds.get("uid").asText())
            .as("panels use the provisioned data source (uid prometheus) or a variable")
            .matches("prometheus|\\$\\{?\\w+}?");
      }
    }
    assertThat(uids).isNotEmpty();
  }

  @Test
  void vllmLoadsAdaptersAtRuntimeFromWhereTheSinkWritesThem() {
    Map<String, Object> vllm = services.get("vllm");
    assertThat(profiles(vllm)).containsExactly("serving");
    assertThat(environment(vllm)).containsEntry("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "True");
    assertThat(command(vllm)).contains("--enable-lora", "--max-lora-rank");
    List<String> sink = command(services.get("sink-vllm"));
    assertThat(sink).contains("--vllm-url");
    String dir = sink.get(sink.indexOf("--dir") + 1);
    // the sink tells vLLM a path: it must mean the same directory inside both containers
    assertThat(volumes(services.get("sink-vllm"))).containsEntry("adapters", dir);
    assertThat(volumes(vllm)).containsEntry("adapters", dir);
    assertThat(profiles(services.get("trainer-gpu"))).containsExactly("gpu");
  }

  @Test
  void debiansDockerComposeAcceptsTheFile() throws Exception {
    Path tool = Path.of("/usr/bin/docker-compose");
    Assumptions.assumeTrue(Files.isExecutable(tool), "docker-compose is not installed");
    Process p =
        new ProcessBuilder(tool.toString(), "-f", "compose/docker-compose.yml", "config", "-q")
            .directory(ROOT.toFile())
            .redirectErrorStream(true)
            .start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(output).isZero();
  }

  // --- helpers

  /** A key a subcommand reads: declared by its config, or a setting of a Kafka client. */
  private static boolean isReadByCode(String subcommand, String key) {
    Set<String> declared = ConfigDocs.readers().get(subcommand);
    if (declared != null && declared.contains(key)) {
      return true;
    }
    return ProducerConfig.configNames().contains(key)
        || ConsumerConfig.configNames().contains(key)
        || AdminClientConfig.configNames().contains(key)
        || StreamsConfig.configDef().names().contains(key);
  }

  private static List<String> dashDKeys(List<String> args) {
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < args.size() - 1; i++) {
      if (args.get(i).equals("-D")) {
        keys.add(args.get(i + 1).split("=", 2)[0]);
      }
    }
    return keys;
  }

  /** The host path (relative to compose/) mounted at {@code target} in {@code service}. */
  private static String sourceOf(Map<String, Object> service, String target) {
    return volumes(service).entrySet().stream()
        .filter(e -> e.getValue().equals(target))
        .map(Map.Entry::getKey)
        .findFirst()
        .orElseThrow(() -> new AssertionError(target + " is not mounted"));
  }

  @SuppressWarnings("unchecked")
  private static Map<String, String> environment(Map<String, Object> service) {
    Map<String, String> env = new LinkedHashMap<>();
    Object raw = service.get("environment");
    if (raw instanceof Map<?, ?> m) {
      m.forEach((k, v) -> env.put(String.valueOf(k), String.valueOf(v)));
    } else if (raw instanceof List<?> l) {
      for (Object entry : l) {
        String[] kv = String.valueOf(entry).split("=", 2);
        env.put(kv[0], kv.length > 1 ? kv[1] : "");
      }
    }
    return env;
  }

  @SuppressWarnings("unchecked")
  private static List<String> profiles(Map<String, Object> service) {
    return (List<String>) service.getOrDefault("profiles", List.of());
  }

  /** Volume source -> target. */
  @SuppressWarnings("unchecked")
  private static Map<String, String> volumes(Map<String, Object> service) {
    Map<String, String> volumes = new LinkedHashMap<>();
    for (String v : (List<String>) service.getOrDefault("volumes", List.of())) {
      String[] parts = v.split(":");
      volumes.put(parts[0], parts[1]);
    }
    return volumes;
  }

  private static Set<String> dockerfileEnv() throws IOException {
    Set<String> keys = new TreeSet<>();
    boolean inEnv = false;
    for (String line : Files.readAllLines(COMPOSE.resolve("Dockerfile"))) {
      if (line.startsWith("ENV ") || inEnv) {
        Matcher m = Pattern.compile("([A-Z_][A-Z0-9_]*)=").matcher(line);
        while (m.find()) {
          keys.add(m.group(1));
        }
        inEnv = line.endsWith("\\");
      }
    }
    return keys;
  }

  /**
   * Those of {@code candidates} that occur as string constants in DJL's classes on this class path
   * (DJL reads its environment variables by literal name).
   */
  private static Set<String> djlStringConstants(Set<String> candidates)
      throws IOException, URISyntaxException {
    Set<String> found = new HashSet<>();
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    for (String entry : classPath.split(java.io.File.pathSeparator)) {
      if (!entry.endsWith(".jar") || !entry.contains("djl")) {
        continue;
      }
      try (ZipFile jar = new ZipFile(entry)) {
        for (ZipEntry e : java.util.Collections.list(jar.entries())) {
          if (!e.getName().startsWith("ai/djl/") || !e.getName().endsWith(".class")) {
            continue;
          }
          String bytes;
          try (InputStream in = jar.getInputStream(e)) {
            bytes = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
          }
          for (String c : candidates) {
            if (bytes.contains(c)) {
              found.add(c);
            }
          }
        }
      }
    }
    if (found.isEmpty()) {
      fail("no DJL jar on the class path " + classPath);
    }
    return found;
  }

  private static Path repositoryRoot() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.exists(dir.resolve("compose/docker-compose.yml"))) {
      dir = dir.getParent();
    }
    if (dir == null) {
      throw new IllegalStateException("no compose/docker-compose.yml above the working directory");
    }
    return dir;
  }
}
