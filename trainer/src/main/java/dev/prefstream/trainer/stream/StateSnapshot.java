package dev.prefstream.trainer.stream;

import dev.prefstream.schemas.avro.TrainerState;
import java.util.Map;

/**
 * The trainer state that commits with a version or refusal: the state record (model id, version and
 * file list are filled in when it is written) and the files it lists (adapter weights, optimizer
 * moments), chunked on the trainer-state topic under keys {@code <model>/<file>/<index>}.
 */
record StateSnapshot(TrainerState.Builder state, Map<String, byte[]> files) {}
