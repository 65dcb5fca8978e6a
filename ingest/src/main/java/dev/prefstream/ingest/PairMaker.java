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
 * pass through. Each outcome goes to the named child for its kind (pairs, unpaired feedback, dead
 * letters), not through split branches: fewer nodes per record.
 */
final class PairMaker implements FixedKeyProcessor<String, Staged, Staged> {
  private final IngestConfig.RankedPairs rankedPairs;
  private final String pairsChild;
  private final String unpairedChild;
  private final String rejectedChild;
  private FixedKeyProcessorContext<String, Staged> context;

  /**
   * @param pairsChild the child that receives {@link Staged.Pair}s
   * @param unpairedChild the child that receives {@link Staged.Unpaired} feedback
   * @param rejectedChild the child that receives {@link Staged.Rejected} records
   */
  PairMaker(
      IngestConfig.RankedPairs rankedPairs,
      String pairsChild,
      String unpairedChild,
      String rejectedChild) {
    this.rankedPairs = rankedPairs;
    this.pairsChild = pairsChild;
    this.unpairedChild = unpairedChild;
    this.rejectedChild = rejectedChild;
  }

  @Override
  public void init(FixedKeyProcessorContext<String, Staged> context) {
    this.context = context;
  }

  @Override
  public void process(FixedKeyRecord<String, Staged> record) {
    Staged staged = record.value();
    if (staged instanceof Staged.Feedback feedback) {
      for (PreferencePair pair : pairs(feedback.event())) {
        context.forward(record.withValue(new Staged.Pair(pair)), pairsChild);
      }
    } else if (staged instanceof Staged.Pair) {
      context.forward(record, pairsChild);
    } else if (staged instanceof Staged.Unpaired) {
      context.forward(record, unpairedChild);
    } else if (staged instanceof Staged.Rejected) {
      context.forward(record, rejectedChild);
    } else {
      throw new IllegalStateException(
          staged.getClass().getSimpleName() + " reached " + getClass().getSimpleName());
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
