#!/usr/bin/env python3
"""Splits the ingest stream threads' JFR samples into the stages of a record's path.

Usage: jfr_stages.py RECORDING.jfr [LAST_FRACTION]

LAST_FRACTION (e.g. 0.3) keeps only the samples in that last part of the recording's time span:
the steady state of a benchmark whose first rounds are mostly JIT compilation.

Each execution sample of a thread named ...StreamThread-N goes to the first stage (innermost
frame first) whose marker appears in its stack, so a store put is counted as a put even though
it runs inside the deduplicator, and a changelog send as a send. Sends are split into the
pairs sink and the store changelogs. Reads `jfr print` (the JDK's own tool).
"""
import collections
import re
import subprocess
import sys

# (stage, marker): the first marker found from the top of the stack names the stage
MARKERS = [
    ("readyToProcess (Kafka Streams)", "PartitionGroup.readyToProcess"),
    ("consumer poll", "KafkaConsumer.poll"),
    ("commit", "StreamThread.maybeCommit"),
    ("window store put", "MeteredWindowStore.put"),
    ("window store fetch", "MeteredWindowStore.fetch"),
    ("key-value store", "MeteredKeyValueStore"),
    ("send", "RecordCollectorImpl.send"),
    ("Avro decode", "ConfluentAvro.decode"),
    ("feedback rules", "FeedbackRules"),
    ("pair building", "Preferences."),
    ("record reader", "RecordReader."),
    ("deduplicator", "Deduplicator.process"),
    ("rate limiter", "RateLimiter.process"),
    ("served joiner", "ServedJoiner.process"),
    ("binary pairer", "BinaryPairer.process"),
    ("pair maker", "PairMaker.process"),
    ("placement", "ByModel$Placement.process"),
    ("decode processor", "DecodeProcessor.process"),
    ("node forwarding (Kafka Streams)", "ProcessorContextImpl.forward"),
    ("source node", "SourceNode.process"),
    ("task process (Kafka Streams)", "StreamTask.process"),
    ("punctuation", "punctuate"),
    ("run loop (Kafka Streams)", "StreamThread.runLoop"),
]


def seconds(block):
    """The sample's startTime (HH:MM:SS.fff) as seconds of the day; None when absent."""
    m = re.search(r"startTime = (\d+):(\d+):(\d+(?:\.\d+)?)", block)
    return None if not m else int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def across_midnight(times):
    """Seconds of the day made to grow across midnight, in recording order (None stays None).

    jfr prints times of day only; a recording under 12 hours long that passes midnight shows a
    jump back of nearly a day there, and later samples would otherwise count as the earliest.
    """
    out, day, previous = [], 0.0, None
    for t in times:
        if t is not None:
            if previous is not None and t + day < previous - 43200:
                day += 86400
            t += day
            previous = t
        out.append(t)
    return out


def main(path, last=1.0):
    out = subprocess.run(
        ["jfr", "print", "--events", "jdk.ExecutionSample", "--stack-depth", "128", path],
        check=True, capture_output=True, text=True).stdout
    blocks = out.split("jdk.ExecutionSample")[1:]
    stamps = across_midnight([seconds(block) for block in blocks])
    times = [t for t in stamps if t is not None]
    since = max(times) - last * (max(times) - min(times)) if times and last < 1 else None
    counts = collections.Counter()
    total = 0
    for block, stamp in zip(blocks, stamps):
        if since is not None and (stamp or 0) < since:
            continue
        thread = re.search(r'sampledThread = "(.*?)"', block)
        if not thread or not re.search(r"StreamThread-\d+$", thread.group(1)):
            continue
        stack = block.split("stackTrace = [", 1)[-1].split("\n]", 1)[0]
        frames = [line.strip() for line in stack.splitlines() if line.strip()]
        total += 1
        stage = "other"
        for frame in frames:
            hit = next((name for name, marker in MARKERS if marker in frame), None)
            if hit:
                stage = hit
                break
        if stage == "send":
            whole = "\n".join(frames)
            stage = "send: store changelog" if "ChangeLogging" in whole else "send: output topic"
        counts[stage] += 1
    print(f"{total} stream-thread samples")
    for stage, n in counts.most_common():
        print(f"{n:7d} {100 * n / max(total, 1):5.1f}%  {stage}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) == 3 else 1.0)
