package dev.prefstream.cli;

import dev.prefstream.embedded.EmbeddedStack;
import dev.prefstream.schemas.TopicAdmin;
import dev.prefstream.schemas.Topics;
import dev.prefstream.schemas.config.CommonConfig;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(
    name = "stack",
    description =
        "Runs only the embedded Kafka broker and schema registry (state in --data-dir) until"
            + " stopped, and prints their addresses for the other commands.")
final class StackCommand implements Callable<Integer> {
  @Mixin HelpOption help;

  @Option(names = "--data-dir", defaultValue = ".prefstream", description = "State directory.")
  Path dataDir;

  @Option(
      names = "--partitions",
      defaultValue = "2",
      description = "Partitions of the topics created now.")
  int partitions;

  @Override
  public Integer call() {
    EmbeddedStack stack = EmbeddedStack.start(dataDir);
    try (Admin admin =
        Admin.create(Map.of(CommonConfig.BOOTSTRAP_SERVERS_CONFIG, stack.bootstrapServers()))) {
      TopicAdmin.ensure(admin, Topics.withDefaultPrefix().all(partitions), (short) -1);
    }
    System.out.println("bootstrap.servers=" + stack.bootstrapServers());
    System.out.println("schema.registry.url=" + stack.registryUrl());
    System.out.flush();
    Until.stopped(stack);
    return 0;
  }
}
