package dev.prefstream.ingest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.junit.jupiter.api.Test;

class ByModelTest {

  @Test
  void aModelIsOwnedByThePartitionAProducerKeyingByModelIdWritesTo() {
    // the fast path depends on it: feedback keyed by model id is already where its state is
    for (int partitions : new int[] {1, 2, 3, 6, 12}) {
      for (int i = 0; i < 200; i++) {
        String model = "model-" + i + (i % 3 == 0 ? "-ünï" : "");
        assertThat(ByModel.partition(model, partitions))
            .as(model + " over " + partitions)
            .isEqualTo(
                BuiltInPartitioner.partitionForKey(
                    model.getBytes(StandardCharsets.UTF_8), partitions));
      }
    }
  }

  @Test
  void theByModelSinkSendsToTheOwnerAndRefusesAChangedPartitionCount() {
    ByModel.Partitioner partitioner = new ByModel.Partitioner(4);
    for (int i = 0; i < 50; i++) {
      String model = "m" + i;
      assertThat(partitioner.partitions("t", model, null, 4))
          .isEqualTo(Optional.of(Set.of(ByModel.partition(model, 4))));
    }
    assertThatThrownBy(() -> partitioner.partitions("t", "m", null, 5))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("t has 5 partitions, ingest started with 4");
  }
}
