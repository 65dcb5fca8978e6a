package dev.prefstream.ingest;

import dev.prefstream.schemas.avro.FeedbackEvent;
import dev.prefstream.schemas.avro.PreferencePair;
import java.util.List;
import org.apache.kafka.streams.processor.api.ProcessingContext;

/**
 * The last step: the kinds that need no state (PAIRWISE, RANKED, EDIT) become pairs. By now BINARY
 * and SERVED_CHOICE feedback and impressions have been consumed by their own steps; only outcomes
 * pass through, to {@link PerModel}, which sends each to its topic.
 */
final class PairMaker implements Step {
  private final IngestConfig.RankedPairs rankedPairs;
  private Next next;

  PairMaker(IngestConfig.RankedPairs rankedPairs) {
    this.rankedPairs = rankedPairs;
  }

  @Override
  public void init(ProcessingContext context, Next next) {
    this.next = next;
  }

  @Override
  public void process(String key, Staged value, long timestamp) {
    if (value instanceof Staged.Feedback feedback) {
      for (PreferencePair pair : pairs(feedback.event())) {
        next.accept(key, new Staged.Pair(pair), timestamp);
      }
    } else {
      next.accept(key, value, timestamp);
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
