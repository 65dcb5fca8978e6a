package dev.prefstream.ingest;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.processor.StreamPartitioner;
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

  /**
   * Sends each decoded record to one named child: a rejection to the dead letters (keyed null: the
   * dead letter keeps the original key), a record of a model this task owns on (keyed by model id),
   * any other to the by-model topic as it arrived.
   */
  static final class Placement {
    private final int partitions;
    private final String rejectedChild;
    private final String localChild;
    private final String elsewhereChild;

    /**
     * @param rejectedChild the child that receives rejections
     * @param localChild the child that receives records of this task's models
     * @param elsewhereChild the child that receives records of other tasks' models, as {@link
     *     Sourced}
     */
    Placement(int partitions, String rejectedChild, String localChild, String elsewhereChild) {
      this.partitions = partitions;
      this.rejectedChild = rejectedChild;
      this.localChild = localChild;
      this.elsewhereChild = elsewhereChild;
    }

    /** Forwards {@code staged}, read from {@code record}, to its child. */
    void forward(
        ProcessorContext<String, Object> context,
        Record<?, ?> record,
        Staged staged,
        long timestamp) {
      Headers headers = record.headers();
      if (staged instanceof Staged.Rejected) {
        context.forward(new Record<>(null, staged, timestamp, headers), rejectedChild);
        return;
      }
      String modelId = modelIdOf(staged);
      if (partition(modelId, partitions) == context.taskId().partition()) {
        context.forward(new Record<>(modelId, staged, timestamp, headers), localChild);
      } else {
        context.forward(
            new Record<>(modelId, sourceOf(staged), timestamp, headers), elsewhereChild);
      }
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
