package dev.prefstream.ingest;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.processor.StreamPartitioner;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * Where ingest keeps a model's state: the task whose partition number is the model id's hash modulo
 * the partitions of the by-model topic (Kafka's default partitioner on the UTF-8 model id: murmur2,
 * as {@code BuiltInPartitioner.partitionForKey} does). A record already read by that task (a
 * product keyed it by model id, as the docs ask) is processed at once; any other goes through the
 * by-model topic to that task. Both decisions use {@link #partition}, so they always agree.
 */
final class ByModel {
  private ByModel() {}

  /** The partition, and so the task, that owns {@code modelId}'s state. */
  static int partition(String modelId, int partitions) {
    return Utils.toPositive(Utils.murmur2(modelId.getBytes(StandardCharsets.UTF_8))) % partitions;
  }

  /** A valid record, keyed by its model id, and whether this task owns that model. */
  record Placed(boolean local, Staged staged) {}

  /** Keys valid records by model id and says whether they may stay in this task. */
  static final class Placement implements Processor<byte[], Staged, String, Placed> {
    private final int partitions;
    private ProcessorContext<String, Placed> context;

    Placement(int partitions) {
      this.partitions = partitions;
    }

    @Override
    public void init(ProcessorContext<String, Placed> context) {
      this.context = context;
    }

    @Override
    public void process(Record<byte[], Staged> record) {
      String modelId = modelIdOf(record.value());
      boolean local = partition(modelId, partitions) == context.taskId().partition();
      context.forward(record.withKey(modelId).withValue(new Placed(local, record.value())));
    }
  }

  /** Sends a record to the partition of its model; fails if the topic changed its partitions. */
  static final class Partitioner implements StreamPartitioner<String, Sourced> {
    private final int partitions;

    Partitioner(int partitions) {
      this.partitions = partitions;
    }

    @Override
    public Optional<Set<Integer>> partitions(
        String topic, String modelId, Sourced value, int numPartitions) {
      if (numPartitions != partitions) {
        // the placement decided with another count: state of one model would split across tasks
        throw new IllegalStateException(
            "topic "
                + topic
                + " has "
                + numPartitions
                + " partitions, ingest started with "
                + partitions
                + "; restart ingest");
      }
      return Optional.of(Set.of(partition(modelId, partitions)));
    }
  }

  static String modelIdOf(Staged staged) {
    if (staged instanceof Staged.Feedback feedback) {
      return feedback.event().getModelId();
    }
    return ((Staged.Impression) staged).impression().getModelId();
  }

  static Sourced sourceOf(Staged staged) {
    if (staged instanceof Staged.Feedback feedback) {
      return feedback.source();
    }
    return ((Staged.Impression) staged).source();
  }
}
