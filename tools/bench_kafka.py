#!/usr/bin/env python3
"""`make bench-kafka`: Apache Kafka on the same machine, pinned the way `make bench-compare`
pins RustMQ, measured with Kafka's own tools.

Kafka (KRaft, one combined broker and controller, plaintext TCP) comes from Maven Central
through tools/kafka/fetch-kafka.sh (cached under ~/.cache/rustmq-kafka, never committed).
Each mode gets a freshly formatted log directory on the disk under test (target/), the broker
on BROKER_CPUS and the load on LOAD_CPUS, 8 partitions, 1 KiB records, acks=all with
idempotence (one replica: acks=all is the leader's acknowledgement, as rustmq-bench's
--acks leader --idempotent), linger 2 ms and 1 MiB batches as rustmq-bench uses.

Modes:
  default      Kafka as shipped: acknowledged once in the page cache, no fsync
  flush-each   log.flush.interval.messages=1: an fsync before acknowledging each append
               (a produce request's batches), the nearest Kafka comes to RustMQ's WAL

Rounds per mode:
  max          two ProducerPerformance processes at --throughput -1 (after a warm-up run
               for the JIT): their rates summed, the larger of their latencies
  half         ProducerPerformance at half of max's rate: its p99
  half+e2e     the same load with EndToEndLatency alongside on a topic of its own (one
               record at a time, produce to consume): its p99 under that load

The broker's CPU seconds per GB come from /proc as in bench_compare.py, and fio runs on the
same disk before and after. Settings (environment): BENCH_DURATION (seconds per measured
round, default 20), BROKER_CPUS (0), LOAD_CPUS (the others), KAFKA_VERSION (4.4.0),
KAFKA_HEAP (1g), BENCH_MODES (comma-separated subset), BENCH_OUT (a JSON file to append to),
BENCH_SETTLE (seconds to wait after each mode, 30).
Prints a Markdown table for docs/benchmarks.md.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compare import (ROOT, cpu_list, cpu_speed, env, fio, machine_facts,  # noqa: E402
                           steal_ms_per_s, steal_ticks, terminate, tree_cpu_seconds)

RECORD = 1024
PARTITIONS = 8
PRODUCER_PROPS = ["acks=all", "enable.idempotence=true", "linger.ms=2", "batch.size=1048576",
                  "buffer.memory=67108864"]
MODES = {
    "default": {},
    "flush-each": {"log.flush.interval.messages": "1"},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Kafka:
    """One KRaft node (broker and controller in one JVM) in a fresh log directory."""

    def __init__(self, libs, work, cpus, heap, extra):
        self.dir = Path(tempfile.mkdtemp(dir=work))
        self.classpath = f"{libs}/*"
        self.port, controller = free_port(), free_port()
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{controller}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.dir / "logs"),
            "num.partitions": str(PARTITIONS),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        props.update(extra)
        conf = self.dir / "server.properties"
        conf.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        cluster = self.java("kafka.tools.StorageTool", "random-uuid").stdout.strip().splitlines()[-1]
        self.java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(conf), check=True)
        self.log = open(self.dir / "kafka.out", "w+")
        self.proc = subprocess.Popen(
            ["taskset", "-c", cpus, "java", f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC",
             "-XX:MaxGCPauseMillis=20", "-cp", self.classpath, "kafka.Kafka", str(conf)],
            stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"kafka did not start:\n{(self.dir / 'kafka.out').read_text()}")
                time.sleep(0.1)
        self.bootstrap = f"127.0.0.1:{self.port}"

    def java(self, main, *args, check=False):
        return subprocess.run(["java", "-cp", self.classpath, main, *args],
                              capture_output=True, text=True, check=check)

    def stop(self):
        terminate(self.proc, 30)
        shutil.rmtree(self.dir, ignore_errors=True)


def producer_perf(kafka, settings, topic, records, rate):
    """Runs ProducerPerformance on the load CPUs; returns its summary line's figures."""
    cmd = ["taskset", "-c", settings["load_cpus"], "java", "-Xmx1g", "-cp", kafka.classpath,
           "org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
           "--num-records", str(int(records)), "--record-size", str(RECORD),
           "--throughput", str(int(rate)), "--producer-props",
           f"bootstrap.servers={kafka.bootstrap}", *PRODUCER_PROPS]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


def summary(out):
    m = SUMMARY.search(out)
    if not m:
        raise RuntimeError(f"ProducerPerformance gave no summary:\n{out[-2000:]}")
    return {"msg_per_s": float(m.group(2)), "mb_per_s": float(m.group(2)) * RECORD / 1e6,
            "p50_ms": float(m.group(6)), "p99_ms": float(m.group(8)), "p999_ms": float(m.group(9))}


def e2e_latency(kafka, settings, records):
    cmd = ["taskset", "-c", settings["load_cpus"], "java", "-cp", kafka.classpath,
           "org.apache.kafka.tools.EndToEndLatency", "--bootstrap-server", kafka.bootstrap,
           "--topic", "e2e", "--num-records", str(records), "--producer-acks", "all",
           "--record-size", str(RECORD)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def e2e_percentiles(out):
    m = re.search(r"Percentiles: 50th = ([\d.]+), 99th = ([\d.]+), 99.9th = ([\d.]+)", out)
    if not m:
        raise RuntimeError(f"EndToEndLatency gave no percentiles:\n{out[-2000:]}")
    return {"e2e_p50_ms": float(m.group(1)), "e2e_p99_ms": float(m.group(2))}


def measured(kafka, procs, settings, alongside=None):
    """Waits for the load processes `procs` (running `alongside` meanwhile, if given),
    sampling the broker's and the load's CPU from 2 s in to the load's end. Returns the
    loads' outputs, the broker's and the load's cores, what `alongside` returned, and the
    CPU steal (ms/s) on the broker's and the load's CPUs."""
    time.sleep(2)
    sets = (cpu_list(settings["broker_cpus"]), cpu_list(settings["load_cpus"]))

    def sample():
        return (tree_cpu_seconds(kafka.proc.pid), sum(tree_cpu_seconds(p.pid) for p in procs),
                time.monotonic(), steal_ticks(sets[0]), steal_ticks(sets[1]))
    first = last = sample()
    extra = alongside() if alongside else None
    while any(p.poll() is None for p in procs):
        last = sample()
        time.sleep(0.5)
    outs = []
    for p in procs:
        out = p.stdout.read()
        if p.returncode != 0:
            raise RuntimeError(out[-2000:])
        outs.append(out)
    elapsed = max(last[2] - first[2], 1e-3)
    steal = {"broker_cpu_steal_ms_per_s": steal_ms_per_s(last[3] - first[3], elapsed),
             "load_cpu_steal_ms_per_s": steal_ms_per_s(last[4] - first[4], elapsed)}
    return outs, (last[0] - first[0]) / elapsed, (last[1] - first[1]) / elapsed, extra, steal


def run_mode(mode, settings):
    kafka = Kafka(settings["libs"], settings["work"], settings["broker_cpus"], settings["heap"],
                  MODES[mode])
    rows = []
    duration = settings["duration"]
    try:
        # A first run warms the JIT of both JVMs; its figures are dropped.
        warm = producer_perf(kafka, settings, "bench", 300_000, -1)
        warm.communicate()
        # Two producers (two connections: Kafka serves one request per connection at a time)
        # reach more than one does; rustmq-bench runs two as well.
        outs, cores, load, _, steal = measured(
            kafka, [producer_perf(kafka, settings, "bench", 125_000 * duration, -1) for _ in range(2)],
            settings)
        one, two = (summary(o) for o in outs)
        top = {k: one[k] + two[k] if k in ("msg_per_s", "mb_per_s") else max(one[k], two[k])
               for k in one}
        rows.append({"mode": mode, "round": "max", **top, "broker_cores": cores, "load_cores": load,
                     **steal})
        half = top["msg_per_s"] / 2
        (out,), cores, load, _, steal = measured(
            kafka, [producer_perf(kafka, settings, "bench", half * duration, half)], settings)
        rows.append({"mode": mode, "round": "half", "target_rate": half, **summary(out),
                     "broker_cores": cores, "load_cores": load, **steal})
        # EndToEndLatency (one record at a time) runs in the middle of the same load again.
        (out,), cores, load, ping_out, steal = measured(
            kafka, [producer_perf(kafka, settings, "bench", half * duration, half)], settings,
            lambda: e2e_latency(kafka, settings, 1000).communicate()[0])
        rows.append({"mode": mode, "round": "half+e2e", "target_rate": half, **summary(out),
                     **e2e_percentiles(ping_out), "broker_cores": cores, "load_cores": load,
                     **steal})
    finally:
        kafka.stop()
        # As bench_compare.py does: the next mode must not measure this one's deletions.
        subprocess.run(["sync"], check=False)
        time.sleep(settings["settle"])
    for r in rows:
        r["cpu_s_per_gb"] = r["broker_cores"] / (r["mb_per_s"] / 1000.0) if r["mb_per_s"] else None
        print(f"  {mode} {r['round']}: {r['msg_per_s']:.0f} msg/s {r['mb_per_s']:.1f} MB/s "
              f"p99 {r['p99_ms']} ms e2e p99 {r.get('e2e_p99_ms')} broker {r['broker_cores']:.2f} cores",
              file=sys.stderr)
    return rows


def table(facts, fio_before, fio_after, rows):
    def f(v, fmt):
        return "–" if v is None else format(v, fmt)
    lines = [
        f"**Kafka {facts['kafka']}** — {facts['date']}, {facts['cpu']} ({facts['cpus']} CPUs), "
        f"kernel {facts['kernel']}, disk {facts['disk']}; fio 1 MiB + fdatasync: "
        f"{f(fio_before, '.0f')} MB/s before, {f(fio_after, '.0f')} MB/s after; SHA-256 on the "
        f"broker's CPU: {f(facts['cpu_speed'][0], '.0f')} / {f(facts['cpu_speed'][1], '.0f')} MB/s.",
        "",
        "| mode | round | msg/s | MB/s | produce p50 / p99 ms | e2e p50 / p99 ms | broker cores | load cores | broker CPU s per GB | CPU steal ms/s: broker / load CPUs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        e2e = f"{r['e2e_p50_ms']:.0f} / {r['e2e_p99_ms']:.0f}" if "e2e_p99_ms" in r else "–"
        lines.append(
            f"| {r['mode']} | {r['round']} | {r['msg_per_s']:.0f} | {r['mb_per_s']:.1f} "
            f"| {r['p50_ms']:.0f} / {r['p99_ms']:.0f} | {e2e} | {r['broker_cores']:.2f} "
            f"| {r['load_cores']:.2f} | {f(r['cpu_s_per_gb'], '.2f')} "
            f"| {r['broker_cpu_steal_ms_per_s']:.1f} / {r['load_cpu_steal_ms_per_s']:.1f} |")
    return "\n".join(lines)


def main():
    if shutil.which("java") is None:
        sys.exit("java is needed (Kafka runs on it)")
    ncpu = os.cpu_count() or 2
    broker_cpus = env("BROKER_CPUS", "0")
    load_cpus = env("LOAD_CPUS", ",".join(str(c) for c in range(ncpu) if c not in cpu_list(broker_cpus)) or "0")
    libs = subprocess.run([str(ROOT / "tools" / "kafka" / "fetch-kafka.sh")], check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    work = ROOT / "target" / "bench-kafka"
    work.mkdir(parents=True, exist_ok=True)
    settings = {
        "libs": libs, "work": work, "broker_cpus": broker_cpus, "load_cpus": load_cpus,
        "duration": int(env("BENCH_DURATION", "20")), "heap": env("KAFKA_HEAP", "1g"),
        "settle": float(env("BENCH_SETTLE", "30")),
    }
    facts = machine_facts(work)
    facts["kafka"] = env("KAFKA_VERSION", "4.4.0")
    print(f"kafka on CPUs {broker_cpus}, load on {load_cpus}; fio...", file=sys.stderr)
    fio_before = fio(work)
    speed_before = cpu_speed(broker_cpus)
    rows = []
    for mode in env("BENCH_MODES", ",".join(MODES)).split(","):
        rows.extend(run_mode(mode, settings))
    fio_after = fio(work)
    facts["cpu_speed"] = [speed_before, cpu_speed(broker_cpus)]
    print(table(facts, fio_before, fio_after, rows))
    out = env("BENCH_OUT", "")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"label": f"kafka-{facts['kafka']}", "machine": facts,
                                "fio_mb_s": [fio_before, fio_after], "rounds": rows}) + "\n")


if __name__ == "__main__":
    main()
