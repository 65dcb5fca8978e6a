#!/usr/bin/env python3
"""Summarizes JFR execution samples by thread group and by frame.

Usage: jfr_top.py RECORDING.jfr [--threads REGEX] [--top N] [--ours PACKAGE_PREFIX]

Reads `jfr print --events jdk.ExecutionSample --stack-depth 96` (the JDK's own tool) and prints:
samples per thread group (thread names with digits and ids folded), the top self frames (the
method on top of each stack), the top inclusive frames (a method anywhere on the stack, counted
once per sample) and, with --ours, the share of samples that pass through that package.
"""
import argparse
import collections
import re
import subprocess
import sys


def samples(path, depth):
    out = subprocess.run(
        ["jfr", "print", "--events", "jdk.ExecutionSample", "--stack-depth", str(depth), path],
        check=True, capture_output=True, text=True).stdout
    thread, frames, in_stack = None, [], False
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("jdk.ExecutionSample"):
            thread, frames, in_stack = None, [], False
        elif s.startswith("sampledThread = "):
            m = re.match(r'sampledThread = "(.*)" \(', s)
            thread = m.group(1) if m else s
        elif s.startswith("stackTrace = ["):
            in_stack = True
        elif in_stack and s == "]":
            in_stack = False
        elif in_stack and s and s != "...":
            frames.append(re.sub(r"\s+line:.*$", "", s))
        elif s == "}" and thread is not None:
            yield thread, frames
            thread = None


def group(thread):
    t = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", thread)
    t = re.sub(r"bench-[0-9a-f]+\.", "bench.", t)
    return re.sub(r"\d+", "N", t)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("recording")
    p.add_argument("--threads", default=".*", help="only threads whose name matches")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--ours", default=None)
    p.add_argument("--depth", type=int, default=96)
    a = p.parse_args()
    rx = re.compile(a.threads)
    groups, self_, incl, ours, total = (collections.Counter(), collections.Counter(),
                                        collections.Counter(), 0, 0)
    for thread, frames in samples(a.recording, a.depth):
        groups[group(thread)] += 1
        if not rx.search(thread) or not frames:
            continue
        total += 1
        self_[frames[0]] += 1
        for f in set(frames):
            incl[f] += 1
        if a.ours and any(f.startswith(a.ours) for f in frames):
            ours += 1
    all_samples = sum(groups.values())
    print(f"{all_samples} samples; by thread group:")
    for g, n in groups.most_common(a.top):
        print(f"  {n:7d} {100.0 * n / all_samples:5.1f}%  {g}")
    print(f"\n{total} samples in threads matching /{a.threads}/; top self frames:")
    for f, n in self_.most_common(a.top):
        print(f"  {n:7d} {100.0 * n / max(1, total):5.1f}%  {f}")
    print("\ntop inclusive frames:")
    for f, n in incl.most_common(a.top * 2):
        print(f"  {n:7d} {100.0 * n / max(1, total):5.1f}%  {f}")
    if a.ours:
        print(f"\nsamples through {a.ours}: {ours} ({100.0 * ours / max(1, total):.1f}%)")


if __name__ == "__main__":
    sys.exit(main())
