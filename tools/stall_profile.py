#!/usr/bin/env python3
"""Where the broker's request runtime spends its time, from a `perf` recording of the broker.

    perf record -k CLOCK_REALTIME --call-graph dwarf -p PID -o perf.data -- sleep 15
    perf script -i perf.data -F comm,tid,time,ip,sym > perf.txt
    python3 tools/stall_profile.py perf.txt [stalls.log]

`tools/bench_compare.py` does this for every round with BENCH_PERF=1. The summary takes the
samples of the request runtime's worker threads (`tokio-rt-worker`) and groups them by what
they were running: the task (QUIC endpoint or connection driver, a request stream, other),
the innermost frame of the broker's own code, the leaf function, and the callers of memcpy
(copies). With the broker's stall log (`request runtime stalled` lines, RUSTMQ_LOG with
`rustmq_broker::broker::runtime_probe=debug`), samples inside a stall's interval are
counted apart from the rest, so a stall's work can be told from the steady state. The
recording must use CLOCK_REALTIME for its times to match the log's.
"""
import collections
import datetime
import re
import sys

WORKER = "tokio-rt-worker"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
HASH = re.compile(r"::h[0-9a-f]{16}$")

# Outermost frames that say which task a sample belongs to, most specific first.
TASKS = (
    ("EndpointDriver", "QUIC endpoint driver"),
    ("ConnectionDriver", "QUIC connection driver"),
    ("spawn_stream", "request stream"),
    ("probe_runtime", "runtime probe"),
    ("replication", "replication"),
    ("openraft", "controller (Raft)"),
)


def stalls_of(path):
    """(start, end) in seconds since the epoch of every logged stall's interval."""
    out = []
    for line in open(path, errors="replace"):
        line = ANSI.sub("", line)
        if "request runtime stalled" not in line:
            continue
        at = datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
        interval = float(re.search(r"interval_ms=([0-9.]+)", line).group(1)) / 1e3
        out.append((at - interval, at))
    return sorted(out)


def samples_of(path):
    """(time, thread name, frames leaf first) of every sample in `perf script` output."""
    samples, cur = [], None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
        elif not line[0].isspace():
            m = re.match(r"^(.*?)\s+\d+\s+([0-9]+\.[0-9]+):", line)
            cur = (float(m.group(2)), m.group(1).strip(), []) if m else None
        elif cur is not None:
            parts = line.split(None, 1)
            sym = parts[1] if len(parts) > 1 else "?"
            sym = re.sub(r"\s*\([^()]*\)\s*$", "", sym.strip())
            cur[2].append(HASH.sub("", re.sub(r"\+0x[0-9a-f]+$", "", sym)))
    if cur:
        samples.append(cur)
    return samples


def task_of(frames):
    text = " ".join(frames)
    for key, name in TASKS:
        if key in text:
            return name
    return "other"


def own_frame(frames):
    return next((f for f in frames if "rustmq" in f), "(no frame of the broker's own)")


def copier(frames):
    """memcpy's caller chain (three frames), or None for a sample not in memcpy."""
    if frames and ("memcpy" in frames[0] or "memmove" in frames[0]):
        return " <- ".join(frames[1:4])
    return None


def report(title, group, total):
    n = max(len(group), 1)
    lines = [f"\n== {title}: {len(group)} samples ({100 * len(group) / max(total, 1):.0f}% of the worker's)"]
    for heading, key, top in (("task", task_of, 10), ("innermost own frame", own_frame, 20),
                              ("leaf", lambda f: f[0] if f else "?", 20), ("memcpy callers", copier, 10)):
        counts = collections.Counter(k for k in map(key, (s[2] for s in group)) if k is not None)
        lines.append(f"-- {heading}")
        lines += [f"{100 * c / n:5.1f}%  {k[:150]}" for k, c in counts.most_common(top)]
    return "\n".join(lines)


def summary(perf_txt, stall_log=None):
    samples = samples_of(perf_txt)
    stalls = stalls_of(stall_log) if stall_log else []
    threads = collections.Counter(s[1] for s in samples)
    worker = [s for s in samples if s[1].startswith(WORKER)]
    inside, outside = [], []
    for s in worker:
        (inside if any(a <= s[0] <= b for a, b in stalls) else outside).append(s)
    out = [f"samples: {len(samples)}; by thread: "
           + ", ".join(f"{t} {c}" for t, c in threads.most_common(8)),
           f"stalls logged: {len(stalls)} ({sum(b - a for a, b in stalls) * 1e3:.0f} ms of intervals)",
           report("request runtime worker, all samples", worker, len(worker))]
    if stalls:
        out.append(report("worker inside stalls", inside, len(worker)))
        out.append(report("worker outside stalls", outside, len(worker)))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.stdout.write(summary(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None))
