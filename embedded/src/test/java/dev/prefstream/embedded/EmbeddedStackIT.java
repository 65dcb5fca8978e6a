package dev.prefstream.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedStackIT {
  @TempDir Path dataDir;

  @Test
  void topicsAndSchemasSurviveARestartAndTheRegistryDiesWithItsOwner() throws Exception {
    String schema =
        "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"R\\\",\\\"fields\\\":[]}\"}";
    long registryPid;
    try (EmbeddedStack stack = EmbeddedStack.start(dataDir)) {
      try (Admin admin = admin(stack)) {
        admin.createTopics(List.of(new NewTopic("kept", 2, (short) 1))).all().get();
      }
      HttpResponse<String> registered =
          http(stack.registryUrl() + "/subjects/kept-value/versions", schema);
      assertThat(registered.statusCode()).isEqualTo(200);
      registryPid = registryPid(stack);
    }
    assertThat(ProcessHandle.of(registryPid).map(ProcessHandle::isAlive))
        .isNotEqualTo(java.util.Optional.of(true));

    try (EmbeddedStack again = EmbeddedStack.start(dataDir)) {
      try (Admin admin = admin(again)) {
        Set<String> names = admin.listTopics().names().get();
        assertThat(names).contains("kept");
      }
      HttpResponse<String> subjects = get(again.registryUrl() + "/subjects");
      assertThat(subjects.body()).contains("kept-value");
    }
  }

  private static long registryPid(EmbeddedStack stack) throws Exception {
    return Long.parseLong(
        java.nio.file.Files.readString(stack.dataDir().resolve("registry/registry.pid")).trim());
  }

  private static Admin admin(EmbeddedStack stack) {
    return Admin.create(
        Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers()));
  }

  private static HttpResponse<String> http(String url, String body) throws Exception {
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/vnd.schemaregistry.v1+json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build(),
            HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> get(String url) throws Exception {
    return HttpClient.newHttpClient()
        .send(
            HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
            HttpResponse.BodyHandlers.ofString());
  }
}
