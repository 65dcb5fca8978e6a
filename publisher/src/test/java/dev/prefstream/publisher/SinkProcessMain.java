package dev.prefstream.publisher;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

/**
 * A sink in a process of its own, for tests that kill it with SIGKILL: {@code SinkProcessMain
 * <properties file>}. Prints {@code MATERIALIZED <model> <version>} for each version written.
 */
public final class SinkProcessMain {
  private SinkProcessMain() {}

  public static void main(String[] args) throws IOException {
    Properties props = new Properties();
    try (InputStream in = new FileInputStream(args[0])) {
      props.load(in);
    }
    Map<String, Object> settings = new HashMap<>();
    props.forEach((k, v) -> settings.put((String) k, v));
    SinkConfig config = new SinkConfig(settings);
    AdapterSink sink =
        new AdapterSink(
            config,
            config.schemaRegistry(),
            m -> {
              System.out.println("MATERIALIZED " + m.modelId() + " " + m.version());
              System.out.flush();
            });
    sink.run();
  }
}
