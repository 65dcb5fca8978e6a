#!/bin/sh
# The container's `prefstream`: the launcher's JVM flags without its build step.
#   JAVA_OPTS               extra JVM flags (heap: -Xmx...)
#   PREFSTREAM_TORCH_THREADS libtorch intra-op threads (default: 1, as the launcher)
#   PYTORCH_LIBRARY_PATH, PYTORCH_VERSION, PYTORCH_FLAVOR: a CUDA libtorch (read by DJL)
set -eu
# locale pinned as in ./prefstream (same logs everywhere, cheaper String.format in Kafka Streams)
exec java \
  -Duser.language=en -Duser.country=US \
  ${JAVA_OPTS:-} \
  -XX:+UseParallelGC \
  -Dai.djl.offline=true \
  -Dai.djl.default_engine=PyTorch \
  -Dai.djl.pytorch.num_threads="${PREFSTREAM_TORCH_THREADS:-1}" \
  -Dai.djl.pytorch.num_interop_threads=1 \
  -cp "/opt/prefstream/classes:/opt/prefstream/lib/*" \
  dev.prefstream.cli.PrefstreamCli "$@"
