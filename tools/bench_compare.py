#!/usr/bin/env python3
"""`make bench-compare`: one release dev broker per round, pinned apart from its load.

Every round starts a fresh `rustmq-broker --dev` (its own data directory on the disk under
test) on BROKER_CPUS and runs `rustmq-bench` on LOAD_CPUS (1 KiB messages, 8 partitions,
2 idempotent producers, acks=leader, the WAL's fsync on). The broker's CPU seconds (its
process tree, from /proc) are sampled over the measured window and divided by the bytes
acknowledged in it, and split by thread (request runtime, WAL writer and its io_uring
workers, uploader, the rest), so the local object store's writes, which a GCS or S3 upload
does not make, can be told from the request path. `fio` (1 MiB writes, fdatasync after each) runs on the same disk before
and after the rounds, so a run carries its disk's ceiling, and so does a SHA-256 run pinned
to the broker's CPU (this VM's CPU speed varies with its host's load). Each round also reads
the broker's /metrics at both ends of its window: the p99 of its own produce handling
(request to acknowledgement) and of one WAL fdatasync, upper bounds of histogram buckets
(steps of 1.3-1.7x; they doubled before the sixteenth round),
so a client-side tail can be told apart from a disk stall, and of a produce request's stream
from accepted to body read and to response handed to QUIC; the datagrams the kernel dropped
for full UDP receive buffers meanwhile (/proc/net/snmp RcvbufErrors); the broker's minor page
faults per second over the window and its resident set at the end and at its peak
(/proc/<pid>/stat and status), which show the allocator returning memory and taking it
back; the time the hypervisor took from the broker's and the load's CPUs (steal, from
/proc/stat), so a round disturbed by the host can be told from one disturbed by the broker;
the uploads made and how many of them ran unpaced because the uploader had fallen behind;
under the quota, the time the cgroup was throttled. From rustmq-bench, the client's side: the p99 of its send lag (intended send time to
the producer taking the message), of a batch's queue time in the producer and of the
produce request's round trip, and the producers' QUIC packets declared lost and
congestion-window cuts.

Rounds:
  max             as fast as acknowledgements allow, no consumer
  max+tail        the same with one tail consumer (the fetch path)
  half            half of `max`'s rate, no consumer
  half+tail       half of `max`'s rate, one tail consumer
  half+tail quota the broker unpinned in a cgroup limited to one CPU (cpu.max, or the
                  CFS quota on cgroup v1), as a pod's CPU limit would hold it

Settings (environment): BENCH_DURATION (seconds, default 20), BENCH_WARMUP (3),
BROKER_CPUS (0), LOAD_CPUS (the other CPUs), BENCH_BIN_DIR (where rustmq-broker and
rustmq-bench are, default target/release), BENCH_LABEL (a name for the binaries, e.g.
"before"), BENCH_ROUNDS (comma-separated subset), BENCH_OUT (a JSON file to append the
results to), BENCH_BROKER_ENV (extra VAR=value settings for the broker, space-separated,
e.g. RUSTMQ_WAL__IO_BACKEND=std: the default, auto, is uring where it works), BENCH_OBJECTS (where the broker's local object store
goes: "tmpfs", the default, puts it in a fresh directory under /dev/shm; "disk" leaves it in
the data directory, on the WAL's disk), BENCH_SETTLE (seconds to wait after each round,
default 30), BENCH_HALF_RATE (msg/s for the half rounds instead of half of `max`'s rate, so
two builds or WAL backends are compared at one rate; the max round then runs only if
BENCH_ROUNDS names it). With RUSTMQ_LOG=warn,rustmq_broker::broker::runtime_probe=debug
in BENCH_BROKER_ENV, the broker's report of every request-runtime stall (what the worker
thread did, which tasks it polled) is kept as stalls-<round>.log in the work directory.
BENCH_PERF=1 records the broker with `perf` (on the load generator's CPUs) during each
round's measured window and writes profile-<round>.txt there: the request runtime worker's
samples by task, own frame, leaf and memcpy caller, inside and outside the logged stalls
(tools/stall_profile.py). The recording disturbs the round: its figures are not comparable
with rounds run without it.

Why rounds are spaced: a round deletes gigabytes of WAL and objects when its broker stops,
and the next one measured that, not itself (on this VM, whose disk is mounted with online
discard: a half-rate round right after a max round had a produce p99 of 130-230 ms, the
same round 30 s later 11 ms).

Why objects go to a tmpfs by default: a production broker uploads to GCS or S3, over the
network, so nothing but the WAL writes to its disk. The dev broker's local-directory object
store writes every segment a second time onto the WAL's disk, and on ext4 (data=ordered) a
WAL fdatasync that commits the journal also waits for that writeback: at half rate the
produce p99 was 130-200 ms with objects on the disk and 7-8 ms with them on a tmpfs
(docs/benchmarks.md, 2026-12-05 second round). The tmpfs holds what a round uploads (up to
a few GB) until the round ends.

Prints a Markdown table for docs/benchmarks.md.
"""

import json
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import stall_profile  # beside this script, which Python puts first on the path

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")


def env(name, default):
    return os.environ.get(name, default)


def cpu_list(spec):
    cpus = set()
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            cpus.update(range(int(a), int(b) + 1))
        elif part:
            cpus.add(int(part))
    return cpus


def machine_facts(data_dir):
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dev = subprocess.run(["df", "--output=source,fstype", str(data_dir)],
                         capture_output=True, text=True).stdout.split("\n")[1].split()
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    return {
        "cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
        "disk": " ".join(dev), "commit": rev, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def fio(data_dir):
    """Sequential 1 MiB writes with fdatasync after each: the disk's durable ceiling."""
    if shutil.which("fio") is None:
        # The table then shows "–" for the disk's ceiling; say why once per bracket.
        print("fio not found (Debian: apt-get install fio): no disk bracket", file=sys.stderr)
        return None
    out = subprocess.run(
        ["fio", "--name=wal", f"--directory={data_dir}", "--rw=write", "--bs=1M",
         "--size=1G", "--fdatasync=1", "--runtime=10", "--time_based", "--ioengine=psync",
         "--output-format=json"], capture_output=True, text=True, check=True).stdout
    job = json.loads(out)["jobs"][0]["write"]
    for f in Path(data_dir).glob("wal.*"):
        f.unlink()
    return job["bw_bytes"] / 1e6


def cpu_speed(cpus):
    """SHA-256 MB/s of one pinned process on `cpus`: this VM's CPU speed at the time. The host
    is shared, and the same work took 40% more of both pinned cores in one run than in the
    run an hour before, while the hypervisor reported no steal time; this brackets a run as
    fio does for the disk."""
    code = ("import hashlib, time\n"
            "b = bytes(64 << 20)\n"
            "t = time.perf_counter()\n"
            "for _ in range(8):\n"
            "    hashlib.sha256(b).digest()\n"
            "print(512 / (time.perf_counter() - t))\n")
    out = subprocess.run(["taskset", "-c", cpus, sys.executable, "-c", code],
                         capture_output=True, text=True)
    return float(out.stdout) if out.returncode == 0 else None


def scrape(admin, ca):
    """The broker's /metrics text from its admin API, None if unreachable."""
    ctx = ssl.create_default_context(cafile=str(ca)) if admin.startswith("https") else None
    try:
        with urllib.request.urlopen(f"{admin}/metrics", context=ctx, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return None


# Counters of the request runtime's stalls (the probe's timer 20 ms or more late, and what
# its worker thread did in the interval before) and of its poll time by task kind.
STALL_COUNTERS = ("rustmq_runtime_stalls_total", "rustmq_runtime_stall_seconds_total",
                  "rustmq_task_poll_seconds_total")
# Uploads, and those made unpaced because the uploader had fallen behind.
UPLOAD_COUNTERS = ("rustmq_uploads_total", "rustmq_unpaced_uploads_total")


def broker_counters(text):
    """{series: value} of the STALL_COUNTERS and UPLOAD_COUNTERS series in a /metrics
    `text`, labels included;
    None without a scrape."""
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        m = re.match(r'(\w+(?:\{[^}]*\})?) (\S+)$', line)
        if m and m.group(1).split("{")[0] in STALL_COUNTERS + UPLOAD_COUNTERS:
            out[m.group(1)] = float(m.group(2))
    return out


def stall_figures(before, after, seconds):
    """What the round's stalls were made of, from two counter scrapes: their number, the
    worker's running / waiting / sleeping ms in the intervals they ended, and the request
    runtime's poll time per second of the round by task kind (ms/s)."""
    if not before or not after:
        return {}
    d = {k: v - before.get(k, 0.0) for k, v in after.items()}
    state = lambda w: d.get(f'rustmq_runtime_stall_seconds_total{{worker="{w}"}}', 0.0) * 1000
    busy = {}
    for k, v in d.items():
        m = re.match(r'rustmq_task_poll_seconds_total\{task="(\w+)"\}', k)
        if m:
            busy[m.group(1)] = v * 1000 / seconds
    return {"stalls": int(d.get("rustmq_runtime_stalls_total", 0)),
            "stall_running_ms": state("running"), "stall_waiting_ms": state("waiting"),
            "stall_sleeping_ms": state("sleeping"), "task_busy_ms_per_s": busy}


def upload_figures(before, after):
    """The uploads made between two counter scrapes, and how many of them ran unpaced."""
    if not before or not after:
        return {}
    d = lambda k: int(after.get(k, 0.0) - before.get(k, 0.0))
    return {"uploads": d("rustmq_uploads_total"), "unpaced_uploads": d("rustmq_unpaced_uploads_total")}


def broker_histograms(text, names):
    """Cumulative bucket counts of the broker's histograms `names` in a /metrics `text`:
    {name: {upper bound in s: count}}, summed over their labels; a name written
    `metric|label="value"` counts only the series carrying that label. None without a
    scrape."""
    if text is None:
        return None
    out = {n: {} for n in names}
    wanted = [(n, *n.split("|", 1)) if "|" in n else (n, n, "") for n in names]
    for line in text.splitlines():
        m = re.match(r'(\w+)_bucket\{((?:.*,)?le="([^"]+)"(?:,.*)?)\} (\S+)', line)
        if not m:
            continue
        for key, metric, label in wanted:
            if m.group(1) == metric and label in m.group(2):
                le = float(m.group(3))
                out[key][le] = out[key].get(le, 0) + float(m.group(4))
    return out


def p99_between(before, after):
    """The p99 (ms, a bucket's upper bound) of what a histogram counted between two scrapes."""
    if not before or not after:
        return None
    counts = [(le, after[le] - before.get(le, 0)) for le in sorted(after)]
    if not counts or counts[-1][1] <= 0:
        return None
    for le, c in counts:
        if c >= 0.99 * counts[-1][1]:
            return le * 1000
    return None


def max_between(before, after):
    """The upper bound (ms) of the highest bucket a histogram counted anything in between two
    scrapes: the worst case, to a factor of two. None when it counted nothing."""
    if not before or not after:
        return None
    counts = [(le, after[le] - before.get(le, 0)) for le in sorted(after)]
    if not counts or counts[-1][1] <= 0:
        return None
    return next(le * 1000 for le, c in counts if c >= counts[-1][1])


# The broker's own view of a round: produce from request to acknowledgement (the client's
# figure adds the network, the client and queueing before the send), one WAL fdatasync (the
# disk), and a produce request's stream from accepted to body read and to response handed to
# QUIC (what the broker's runtime adds around the handler); the produce's stages (its
# sequence turn and queueing to the WAL, then waiting to be durable) and inside the latter the
# WAL writer's queue and its group commit (write and fdatasync). Bucket bounds double (50 us, 100 us, ...), so these are upper bounds.
BROKER_HISTOGRAMS = ("rustmq_produce_seconds", "rustmq_wal_fsync_seconds",
                     'rustmq_request_read_seconds|api="produce"', 'rustmq_request_seconds|api="produce"',
                     'rustmq_produce_stage_seconds|stage="append"',
                     'rustmq_produce_stage_seconds|stage="durable"',
                     "rustmq_wal_queue_wait_seconds", "rustmq_wal_group_commit_seconds",
                     "rustmq_runtime_poll_delay_seconds")


def udp_receive_drops():
    """Datagrams the kernel dropped for a full socket receive buffer (all sockets), from
    /proc/net/snmp: each one costs QUIC a loss recovery, which is how a full buffer shows in
    the latency tail."""
    lines = [l.split() for l in Path("/proc/net/snmp").read_text().splitlines() if l.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def udp_socket_drops(port):
    """Datagrams dropped by the UDP sockets bound to local `port` (the broker's QUIC port),
    from the drops column of /proc/net/udp and udp6: tells the broker's receive buffer from
    the load generator's."""
    total = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                total += int(fields[-1])
    return total


def steal_ticks(cpus):
    """Clock ticks the hypervisor ran something else while these CPUs' vCPUs wanted to run
    (the steal column of /proc/stat), summed over `cpus`. A round with steal on the
    broker's CPU measured the host as much as the broker: this VM's latency tails moved by
    10x within minutes on the same binary."""
    total = 0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus and len(fields) > 7:
            total += int(fields[7])
    return total


def steal_ms_per_s(ticks, seconds):
    """Steal ticks (from `steal_ticks`) over `seconds` as milliseconds per second."""
    return ticks * 1000.0 / TICKS / seconds


def stat_fields(pid, tid=None):
    """/proc/<pid>/stat (the whole process), or with `tid` /proc/<pid>/task/<tid>/stat (that
    thread alone), after the command name (which may hold spaces and parentheses): index 0
    is the state, 7 minflt, 11 utime, 12 stime."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    return Path(path).read_text().rsplit(")", 1)[1].split()


def tree_cpu_seconds(pid):
    """CPU seconds (user + system) of a process and its descendants."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            fields = stat_fields(p)
            total += int(fields[11]) + int(fields[12])
            for t in Path(f"/proc/{p}/task").iterdir():
                kids = (t / "children").read_text().split()
                pids.extend(int(k) for k in kids)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total / TICKS


# The broker's threads by what they do, from their names (/proc/<pid>/task/*/comm): the
# request runtime (tokio's default worker name; its blocking pool shares it), the WAL
# writer with its io_uring workers, the uploader's runtime (with the local object store,
# its writes into the store's files), and the rest (the catch-up fetch lane, cold reads,
# the allocator's background thread, the main thread).
THREAD_ROLES = (("requests", ("tokio-rt-worker",)), ("wal", ("wal-writer", "iou-wrk")),
                ("uploads", ("rustmq-upload",)))


def thread_role_ticks(pid):
    """{role: CPU clock ticks} of a process's live threads in THREAD_ROLES; "total" is the
    process's own count, which keeps the time of threads that have exited."""
    out = {role: 0 for role, _ in THREAD_ROLES}
    try:
        fields = stat_fields(pid)
        out["total"] = int(fields[11]) + int(fields[12])
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    for t in tasks:
        try:
            comm = (t / "comm").read_text().strip()
            f = stat_fields(pid, t.name)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        role = next((r for r, prefixes in THREAD_ROLES if comm.startswith(prefixes)), None)
        if role is not None:
            out[role] += int(f[11]) + int(f[12])
    return out


def thread_role_cores(before, after, seconds):
    """Cores each role used between two `thread_role_ticks` readings, and "other": the rest
    of the process's time, threads that ended in between included."""
    if not before or not after:
        return None
    cores = {role: max(after[role] - before[role], 0) / TICKS / seconds for role, _ in THREAD_ROLES}
    cores["other"] = max((after["total"] - before["total"]) / TICKS / seconds - sum(cores.values()), 0.0)
    return cores


def memory_counters(pid):
    """The broker's minor page faults so far and its resident set now / at its peak (MB):
    mostly first touches of memory the allocator took fresh from the kernel, each the
    kernel zeroing a page on the touching thread's time."""
    try:
        fields = stat_fields(pid)
        status = dict(l.split(":", 1) for l in Path(f"/proc/{pid}/status").read_text().splitlines())
    except (FileNotFoundError, ProcessLookupError):
        return None
    kb = lambda k: int(status[k].split()[0]) / 1024.0
    return int(fields[7]), kb("VmRSS"), kb("VmHWM")


class Quota:
    """A cgroup holding the broker at one CPU of quota (v2 cpu.max, or v1's CFS quota)."""

    def __init__(self, cpus=1.0):
        name = f"rustmq-bench-{os.getpid()}"
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        if v2.exists() and "cpu" in v2.read_text():
            self.dir = Path("/sys/fs/cgroup") / name
            self.dir.mkdir()
            (self.dir / "cpu.max").write_text(f"{int(cpus * 100000)} 100000")
        else:
            self.dir = Path("/sys/fs/cgroup/cpu") / name
            self.dir.mkdir()
            (self.dir / "cpu.cfs_period_us").write_text("100000")
            (self.dir / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))

    def add(self, pid):
        (self.dir / "cgroup.procs").write_text(str(pid))

    def throttled_seconds(self):
        for line in (self.dir / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "throttled_usec":
                return int(value) / 1e6
            if key == "throttled_time":
                return int(value) / 1e9
        return 0.0

    def remove(self):
        for _ in range(50):
            try:
                self.dir.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def terminate(proc, timeout):
    """SIGTERM, then SIGKILL if `proc` has not exited within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Broker:
    def __init__(self, bin_dir, work, cpus, extra_env, objects, quota=None):
        self.dir = Path(tempfile.mkdtemp(dir=work))
        e = dict(os.environ)
        e.update({
            "RUSTMQ_NETWORK__QUIC_LISTEN": "127.0.0.1:0",
            "RUSTMQ_ADMIN__HTTP_LISTEN": "127.0.0.1:0",
            "RUSTMQ_ADMIN_RATE_LIMITING_ENABLED": "false",
            "RUSTMQ_LOG": "warn",
        })
        self.objects = None
        if objects == "tmpfs" and Path("/dev/shm").is_dir():
            self.objects = Path(tempfile.mkdtemp(prefix="rustmq-bench-objects.", dir="/dev/shm"))
            e["RUSTMQ_OBJECT_STORAGE__LOCAL_PATH"] = str(self.objects)
        e.update(extra_env)
        cmd = [str(bin_dir / "rustmq-broker"), "--dev", "--data-dir", str(self.dir / "data")]
        if cpus is not None:
            cmd = ["taskset", "-c", cpus] + cmd
        self.log = open(self.dir / "broker.out", "w+")
        # The broker starts inside its cgroup, as in a pod: it sizes its thread pools from
        # the CPUs it may use, and the quota is part of that.
        self.proc = subprocess.Popen(cmd, env=e, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=(lambda: quota.add(os.getpid())) if quota else None)
        self.quic = self.admin = None
        for _ in range(600):
            text = (self.dir / "broker.out").read_text()
            q = re.search(r"QUIC \(clients\) : (\S+)", text)
            a = re.search(r"admin REST API : (\S+)", text)
            if q and a:
                self.quic, self.admin = q.group(1), a.group(1)
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        if self.quic is None:
            raise RuntimeError(f"broker did not start:\n{(self.dir / 'broker.out').read_text()}")
        self.ca = self.dir / "data" / "tls" / "ca.pem"

    def log_text(self):
        try:
            return (self.dir / "broker.out").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        terminate(self.proc, 20)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.objects is not None:
            shutil.rmtree(self.objects, ignore_errors=True)


def start_perf(pid, work, tag, seconds, settings):
    """Records the broker's threads (call graphs from DWARF unwinding, which needs no frame
    pointers, times on CLOCK_REALTIME to match its log) on the load generator's CPUs."""
    data = Path(work) / f"perf-{tag}.data"
    cmd = ["taskset", "-c", settings["load_cpus"], "perf", "record", "-q", "-F", "499",
           "-k", "CLOCK_REALTIME", "--call-graph", "dwarf,16384", "-p", str(pid), "-o", str(data),
           "--", "sleep", f"{seconds:.1f}"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), data


def profile_summary(perf, work, tag, stall_log):
    """Writes profile-<round>.txt (tools/stall_profile.py) and drops the recording."""
    proc, data = perf
    proc.wait()
    text = Path(work) / f"perf-{tag}.txt"
    with open(text, "w") as out:
        subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,tid,time,ip,sym"],
                       stdout=out, stderr=subprocess.DEVNULL, check=False)
    (Path(work) / f"profile-{tag}.txt").write_text(
        stall_profile.summary(str(text), str(stall_log) if stall_log else None))
    data.unlink(missing_ok=True)
    text.unlink(missing_ok=True)


def run_round(name, rate, consumers, settings, quota_cpus=None):
    bin_dir, work, duration, warmup = (settings[k] for k in ("bin_dir", "work", "duration", "warmup"))
    quota = Quota(quota_cpus) if quota_cpus else None
    tag = name.replace(' ', '_').replace(',', '')
    perf = None
    broker = Broker(bin_dir, work, None if quota else settings["broker_cpus"],
                    settings["broker_env"], settings["objects"], quota)
    try:
        out = broker.dir / "bench.json"
        cmd = ["taskset", "-c", settings["load_cpus"], str(bin_dir / "rustmq-bench"),
               "--brokers", broker.quic, "--ca-cert", str(broker.ca), "--api-url", broker.admin,
               "--topic", "bench", "--partitions", "8", "--producers", "2",
               "--consumers", str(consumers), "--message-size", "1024", "--idempotent",
               "--rate", str(int(rate)), "--duration", f"{duration}s", "--warmup", f"{warmup}s",
               "--json", str(out)]
        bench = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The measured window starts after the warm-up and the topic's creation.
        time.sleep(warmup + 0.5)
        scrape0 = scrape(broker.admin, broker.ca)
        hist0, counters0 = broker_histograms(scrape0, BROKER_HISTOGRAMS), broker_counters(scrape0)
        drops0 = udp_receive_drops()
        broker_port = int(broker.quic.rsplit(":", 1)[1])
        broker_drops0 = udp_socket_drops(broker_port)
        mem0 = memory_counters(broker.proc.pid)
        roles0 = thread_role_ticks(broker.proc.pid)
        cpu0, t0 = tree_cpu_seconds(broker.proc.pid), time.monotonic()
        load0 = tree_cpu_seconds(bench.pid)
        # Under the quota the broker is unpinned: its steal is that of every CPU.
        broker_set = set(range(os.cpu_count() or 1)) if quota else cpu_list(settings["broker_cpus"])
        steal0 = (steal_ticks(broker_set), steal_ticks(cpu_list(settings["load_cpus"])))
        throttled0 = quota.throttled_seconds() if quota else 0.0
        window = max(duration - 1.0, 1.0)
        perf = start_perf(broker.proc.pid, work, tag, window, settings) if settings["perf"] else None
        time.sleep(window)
        cpu1, t1 = tree_cpu_seconds(broker.proc.pid), time.monotonic()
        roles1 = thread_role_ticks(broker.proc.pid)
        mem1 = memory_counters(broker.proc.pid)
        load1 = tree_cpu_seconds(bench.pid)
        steal1 = (steal_ticks(broker_set), steal_ticks(cpu_list(settings["load_cpus"])))
        throttled1 = quota.throttled_seconds() if quota else 0.0
        scrape1 = scrape(broker.admin, broker.ca)
        hist1, counters1 = broker_histograms(scrape1, BROKER_HISTOGRAMS), broker_counters(scrape1)
        drops1 = udp_receive_drops()
        broker_drops1 = udp_socket_drops(broker_port)
        stdout, stderr = bench.communicate()
        if bench.returncode != 0:
            raise RuntimeError(f"rustmq-bench failed in round {name}:\n{stderr}")
        r = json.loads(out.read_text())
    finally:
        # The probe's stall reports (at debug with RUSTMQ_LOG=...runtime_probe=debug in
        # BENCH_BROKER_ENV) outlive the broker's directory.
        stalls = [l for l in broker.log_text().splitlines() if "request runtime stalled" in l]
        stall_log = Path(work) / f"stalls-{tag}.log"
        if stalls:
            stall_log.write_text("\n".join(stalls) + "\n")
        if perf is not None:
            profile_summary(perf, work, tag, stall_log if stalls else None)
        broker.stop()
        if quota:
            quota.remove()
        subprocess.run(["sync"], check=False)
        time.sleep(settings["settle"])
    cores = (cpu1 - cpu0) / (t1 - t0)
    mb_s = r["produce"]["mb_per_s"]

    def broker_max(i):
        return max_between(*(h and h[BROKER_HISTOGRAMS[i]] for h in (hist0, hist1)))

    def broker_p99(i):
        return p99_between(*(h and h[BROKER_HISTOGRAMS[i]] for h in (hist0, hist1)))

    row = {
        "round": name, "target_rate": int(rate),
        "msg_per_s": r["produce"]["msg_per_s"], "mb_per_s": mb_s,
        "failed": r["produce"]["failed"],
        "produce_p50_ms": r["produce"]["ack_latency_ms"]["p50"],
        "produce_p99_ms": r["produce"]["ack_latency_ms"]["p99"],
        "consume_msg_per_s": r["consume"]["msg_per_s"],
        "e2e_p99_ms": r["consume"]["e2e_latency_ms"]["p99"] if consumers else None,
        "broker_cores": cores,
        "load_cores": (load1 - load0) / (t1 - t0),
        # CPU seconds per GB acknowledged: cores busy / GB per second.
        "cpu_s_per_gb": cores / (mb_s / 1000.0) if mb_s > 0 else None,
        "throttled_s": (throttled1 - throttled0) if quota else None,
        # The broker's cores by thread role (requests, WAL, uploads, other).
        "broker_role_cores": thread_role_cores(roles0, roles1, t1 - t0),
        # Time the hypervisor took from the broker's and the load's CPUs (ms per second).
        "broker_cpu_steal_ms_per_s": steal_ms_per_s(steal1[0] - steal0[0], t1 - t0),
        "load_cpu_steal_ms_per_s": steal_ms_per_s(steal1[1] - steal0[1], t1 - t0),
        "broker_produce_p99_ms": broker_p99(0),
        "udp_drops": drops1 - drops0,
        "broker_minor_faults_per_s": (mem1[0] - mem0[0]) / (t1 - t0) if mem0 and mem1 else None,
        "broker_rss_mb": mem1[1] if mem1 else None,
        "broker_peak_rss_mb": mem1[2] if mem1 else None,
        "broker_udp_drops": broker_drops1 - broker_drops0,
        "wal_fsync_p99_ms": broker_p99(1),
        "broker_request_read_p99_ms": broker_p99(2),
        "broker_request_p99_ms": broker_p99(3),
        "broker_append_p99_ms": broker_p99(4),
        "broker_durable_p99_ms": broker_p99(5),
        "wal_queue_wait_p99_ms": broker_p99(6),
        "wal_group_commit_p99_ms": broker_p99(7),
        "runtime_poll_delay_max_ms": broker_max(8),
        **stall_figures(counters0, counters1, t1 - t0),
        **upload_figures(counters0, counters1),
        # The client's side of an acknowledgement (rustmq-bench): the load generator taking
        # the message late, the batch waiting in the producer, the request's round trip.
        "send_lag_p99_ms": r["produce"]["send_lag_ms"]["p99"],
        "queue_time_p99_ms": r["produce"]["queue_time_ms"]["p99"],
        "request_latency_p99_ms": r["produce"]["request_latency_ms"]["p99"],
        # The producers' QUIC path: packets declared lost, congestion-window cuts.
        "quic_lost_packets": sum(p["lost_packets"] for p in r.get("transport", {}).values()),
        "quic_congestion_events": sum(p["congestion_events"] for p in r.get("transport", {}).values()),
    }
    print(f"  {name}: {row['msg_per_s']:.0f} msg/s {mb_s:.1f} MB/s p99 {row['produce_p99_ms']:.2f} ms "
          f"e2e p99 {row['e2e_p99_ms']} broker {cores:.2f} cores, load {row['load_cores']:.2f}", file=sys.stderr)
    return row


def stall_cell(r):
    if "stalls" not in r:
        return "–"
    return (f"{r['stalls']} ({r['stall_running_ms']:.0f} / {r['stall_waiting_ms']:.0f} / "
            f"{r['stall_sleeping_ms']:.0f})")


def busy_cell(r):
    busy = r.get("task_busy_ms_per_s")
    if not busy:
        return "–"
    quic, req = busy.get("quic_driver", 0.0), busy.get("request", 0.0)
    rest = sum(busy.values()) - quic - req
    return f"{quic:.0f} / {req:.0f} / {rest:.0f}"


def roles_cell(r):
    roles = r.get("broker_role_cores")
    if not roles:
        return "–"
    return " / ".join(f"{roles[k]:.2f}" for k in ("requests", "wal", "uploads", "other"))


def uploads_cell(r):
    if "uploads" not in r:
        return "–"
    return f"{r['uploads']} ({r['unpaced_uploads']})"


def table(label, facts, fio_before, fio_after, rows):
    def f(v, fmt):
        return "–" if v is None else format(v, fmt)
    lines = [
        f"**{label}** — {facts['date']}, commit {facts['commit']}, {facts['cpu']} "
        f"({facts['cpus']} CPUs), kernel {facts['kernel']}, disk {facts['disk']}; "
        f"fio 1 MiB + fdatasync: {f(fio_before, '.0f')} MB/s before, {f(fio_after, '.0f')} MB/s after; "
        f"SHA-256 on the broker's CPU: {f(facts['cpu_speed'][0], '.0f')} / {f(facts['cpu_speed'][1], '.0f')} MB/s; "
        f"local object store on {facts['objects']}; WAL backend {facts['wal_backend']}; "
        f"broker settings: {facts['broker_env'] or 'defaults'}.",
        "",
        "| round | target msg/s | acked msg/s | MB/s | produce p50 / p99 ms | consumed msg/s | e2e p99 ms | broker cores | broker cores: requests / WAL / uploads / other | load cores | broker CPU s per GB | client p99 ms: send lag / queue / request | broker p99 ms: read / request / produce | produce stages p99 ms: append / durable | WAL p99 ms: queue wait / group commit / fsync | runtime poll delay max ms | runtime stalls: n (worker running / waiting / sleeping ms) | runtime busy ms/s: QUIC drivers / requests / rest | uploads (unpaced) | cgroup throttled s | broker page faults/s; RSS MB (peak) | UDP drops (at the broker) / QUIC lost packets / cwnd cuts | CPU steal ms/s: broker / load CPUs |",
        "|---|" + "---:|" * 22,
    ]
    for r in rows:
        lines.append(
            f"| {r['round']} | {r['target_rate'] or 'max'} | {r['msg_per_s']:.0f} | {r['mb_per_s']:.1f} "
            f"| {r['produce_p50_ms']:.2f} / {r['produce_p99_ms']:.2f} | {r['consume_msg_per_s']:.0f} "
            f"| {f(r['e2e_p99_ms'], '.2f')} | {r['broker_cores']:.2f} | {roles_cell(r)} | {r['load_cores']:.2f} | {f(r['cpu_s_per_gb'], '.2f')} "
            f"| {r['send_lag_p99_ms']:.1f} / {r['queue_time_p99_ms']:.1f} / {r['request_latency_p99_ms']:.1f} "
            f"| ≤ {f(r.get('broker_request_read_p99_ms'), '.1f')} / ≤ {f(r.get('broker_request_p99_ms'), '.1f')} "
            f"/ ≤ {f(r.get('broker_produce_p99_ms'), '.1f')} "
            f"| ≤ {f(r.get('broker_append_p99_ms'), '.1f')} / ≤ {f(r.get('broker_durable_p99_ms'), '.1f')} "
            f"| ≤ {f(r.get('wal_queue_wait_p99_ms'), '.1f')} / ≤ {f(r.get('wal_group_commit_p99_ms'), '.1f')} "
            f"/ ≤ {f(r.get('wal_fsync_p99_ms'), '.1f')} | ≤ {f(r.get('runtime_poll_delay_max_ms'), '.1f')} "
            f"| {stall_cell(r)} | {busy_cell(r)} | {uploads_cell(r)} | {f(r.get('throttled_s'), '.2f')} "
            f"| {f(r.get('broker_minor_faults_per_s'), '.0f')}; {f(r.get('broker_rss_mb'), '.0f')} ({f(r.get('broker_peak_rss_mb'), '.0f')}) "
            f"| {f(r.get('udp_drops'), 'd')} ({r['broker_udp_drops']}) / {r['quic_lost_packets']} / {r['quic_congestion_events']} "
            f"| {f(r.get('broker_cpu_steal_ms_per_s'), '.1f')} / {f(r.get('load_cpu_steal_ms_per_s'), '.1f')} |")
    return "\n".join(lines)


def wal_backend(bin_dir, work, broker_env):
    """The WAL backend the broker runs with: the one asked for, or what `auto` comes to on
    this disk (the broker's own probe, `rustmq-broker --check-wal-uring`)."""
    asked = broker_env.get("RUSTMQ_WAL__IO_BACKEND", "auto")
    if asked != "auto":
        return asked
    probe = Path(tempfile.mkdtemp(dir=work))
    try:
        r = subprocess.run([str(bin_dir / "rustmq-broker"), "--check-wal-uring", str(probe)],
                           capture_output=True, check=False)
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return "uring (auto)" if r.returncode == 0 else "std (auto: io_uring does not work here)"


def main():
    ncpu = os.cpu_count() or 2
    broker_cpus = env("BROKER_CPUS", "0")
    load_cpus = env("LOAD_CPUS", ",".join(str(c) for c in range(ncpu) if c not in cpu_list(broker_cpus)) or "0")
    bin_dir = Path(env("BENCH_BIN_DIR", str(ROOT / "target" / "release")))
    work = ROOT / "target" / "bench-compare"
    work.mkdir(parents=True, exist_ok=True)
    settings = {
        "bin_dir": bin_dir, "work": work,
        "duration": float(env("BENCH_DURATION", "20")), "warmup": float(env("BENCH_WARMUP", "3")),
        "broker_cpus": broker_cpus, "load_cpus": load_cpus,
        "broker_env": dict(kv.split("=", 1) for kv in env("BENCH_BROKER_ENV", "").split() if "=" in kv),
        "objects": env("BENCH_OBJECTS", "tmpfs"),
        "settle": float(env("BENCH_SETTLE", "30")),
        "perf": env("BENCH_PERF", "") not in ("", "0"),
    }
    if settings["objects"] not in ("tmpfs", "disk"):
        sys.exit("BENCH_OBJECTS must be tmpfs or disk")
    wanted = set(env("BENCH_ROUNDS", "max,max+tail,half,half+tail,half+tail quota").split(","))
    label = env("BENCH_LABEL", bin_dir.name)
    facts = machine_facts(work)
    facts["objects"] = settings["objects"]
    facts["broker_env"] = " ".join(f"{k}={v}" for k, v in settings["broker_env"].items())
    facts["wal_backend"] = wal_backend(bin_dir, work, settings["broker_env"])
    print(f"broker on CPUs {broker_cpus}, load on {load_cpus}; fio...", file=sys.stderr)
    fio_before = fio(work)
    speed_before = cpu_speed(broker_cpus)
    rows = []
    top = None
    fixed_half = float(env("BENCH_HALF_RATE", "0"))
    if "max" in wanted or (not fixed_half and any(w.startswith("half") for w in wanted)):
        rows.append(run_round("max", 0, 0, settings))
        top = rows[-1]["msg_per_s"]
    if "max+tail" in wanted:
        rows.append(run_round("max+tail", 0, 1, settings))
    half = fixed_half or (top or 0) / 2
    if "half" in wanted:
        rows.append(run_round("half", half, 0, settings))
    if "half+tail" in wanted:
        rows.append(run_round("half+tail", half, 1, settings))
    if "half+tail quota" in wanted:
        rows.append(run_round("half+tail, 1-CPU quota", half, 1, settings, quota_cpus=1.0))
    fio_after = fio(work)
    facts["cpu_speed"] = [speed_before, cpu_speed(broker_cpus)]
    print(table(label, facts, fio_before, fio_after, rows))
    out = env("BENCH_OUT", "")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({"label": label, "machine": facts, "fio_mb_s": [fio_before, fio_after],
                                "rounds": rows}) + "\n")


if __name__ == "__main__":
    main()
