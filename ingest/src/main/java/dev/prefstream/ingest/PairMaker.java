package dev.prefstream.ingest;

import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.PreferencePair;
import java.util.List;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;

/**
 * The last step: the kinds that need no state (PAIRWISE, RANKED, EDIT) become pairs. By now BINARY
 * and SERVED_CHOICE feedback and impressions have been consumed by their own steps; only outcomes
 * pass through.
 */
final class PairMaker implements FixedKeyProcessor<String, Staged, Staged> {
  private final IngestConfig.RankedPairs rankedPairs;
  private FixedKeyProcessorContext<String, Staged> context;

  PairMaker(IngestConfig.RankedPairs rankedPairs) {
    this.rankedPairs = rankedPairs;
  }

  @Override
  public void init(FixedKeyProcessorContext<String, Staged> context) {
    this.context = context;
  }

  @Override
  public void process(FixedKeyRecord<String, Staged> record) {
    if (record.value() instanceof Staged.Feedback feedback) {
      for (PreferencePair pair : pairs(feedback.event())) {
        context.forward(record.withValue(new Staged.Pair(pair)));
      }
    } else if (record.value() instanceof Staged.Impression) {
      throw new IllegalStateException("an impression reached " + getClass().getSimpleName());
    } else {
      context.forward(record);
    }
  }

  private List<PreferencePair> pairs(FeedbackEvent event) {
    return switch (event.getKind()) {
      case PAIRWISE -> Preferences.pairwise(event);
      case RANKED -> Preferences.ranked(event, rankedPairs);
      case EDIT -> Preferences.edit(event);
      case BINARY, SERVED_CHOICE ->
          throw new IllegalStateException(
              event.getKind() + " feedback reached " + getClass().getSimpleName());
    };
  }
}
