//! How late the request runtime runs a task that is due: a timer set every 10 ms records
//! how long after its deadline it was polled. A worker thread blocked by a synchronous call
//! or a long poll delays every request on the runtime, most of them before their stream is
//! even accepted, where the request timings cannot see it; this shows it.
//!
//! A tick 20 ms or more late is a stall, and the probe says what the interval before it
//! was made of: from the kernel's clock of the worker thread it ran on
//! (`/proc/thread-self/schedstat`), the time that thread ran, waited for the CPU while
//! ready (other threads, cgroup throttling) or slept; from `crate::task_time`, which of the
//! broker's tasks it polled and for how long.

use std::thread::ThreadId;
use std::time::{Duration, Instant};

use super::Broker;
use super::metrics::WorkerStateLabels;
use crate::task_time::{self, PollTimes, TaskKind};

/// How often the probe wakes: rare enough to cost nothing, often enough that a stall of a
/// few tens of milliseconds is caught in every case.
const PERIOD: Duration = Duration::from_millis(10);

/// A tick this late is a stall: twice the period, far above the timer wheel's 1 ms.
const STALL: Duration = Duration::from_millis(20);

/// Stalls are logged at `warn` at most this often (each at `debug`): a CPU-starved pod
/// stalls many times a minute, and the counters carry the totals.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The calling thread's scheduler clock: nanoseconds on a CPU and nanoseconds ready but
/// waiting for one, since it started.
fn thread_clock() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = s.split_ascii_whitespace().map(str::parse::<u64>);
    Some((fields.next()?.ok()?, fields.next()?.ok()?))
}

/// One tick's reading.
struct Mark {
    at: Instant,
    thread: ThreadId,
    clock: Option<(u64, u64)>,
    tasks: PollTimes,
}

impl Mark {
    fn now() -> Self {
        Self {
            at: Instant::now(),
            thread: std::thread::current().id(),
            clock: thread_clock(),
            tasks: task_time::snapshot(),
        }
    }
}

/// What the interval between two ticks was made of.
#[derive(Debug, PartialEq)]
struct Interval {
    wall: Duration,
    /// The worker thread's split (None when the ticks ran on different threads, or the
    /// kernel gives no clock).
    worker: Option<WorkerSplit>,
    tasks: PollTimes,
}

#[derive(Debug, PartialEq)]
struct WorkerSplit {
    running: Duration,
    waiting: Duration,
    sleeping: Duration,
}

fn interval(from: &Mark, to: &Mark) -> Interval {
    let wall = to.at.saturating_duration_since(from.at);
    let worker = match (from.clock, to.clock) {
        (Some(a), Some(b)) if from.thread == to.thread => {
            let running = Duration::from_nanos(b.0.saturating_sub(a.0));
            let waiting = Duration::from_nanos(b.1.saturating_sub(a.1));
            Some(WorkerSplit {
                running,
                waiting,
                sleeping: wall.saturating_sub(running + waiting),
            })
        }
        _ => None,
    };
    Interval {
        wall,
        worker,
        tasks: to.tasks.since(&from.tasks),
    }
}

/// The busiest task kinds of an interval, for the log: "request 31.2 ms / 812 polls
/// (longest 0.4 ms)", busiest first, kinds with no poll left out.
fn busiest(tasks: &PollTimes, longest: &[(TaskKind, Duration)]) -> String {
    let mut kinds: Vec<_> = TaskKind::ALL
        .into_iter()
        .filter(|k| tasks.polls(*k) > 0)
        .collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(tasks.busy(*k)));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    kinds
        .iter()
        .map(|k| {
            let long = longest
                .iter()
                .find(|(l, _)| l == k)
                .map_or(Duration::ZERO, |(_, d)| *d);
            format!(
                "{} {:.1} ms / {} polls (longest {:.1} ms)",
                k.label(),
                ms(tasks.busy(*k)),
                tasks.polls(*k),
                ms(long)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Broker {
    /// Records the runtime's poll delay until the broker stops.
    pub(super) async fn probe_runtime(self: std::sync::Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut last = Mark::now();
        task_time::take_longest();
        let mut warned: Option<Instant> = None;
        loop {
            let due = tokio::time::Instant::now() + PERIOD;
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.changed() => return,
            }
            // The timer wheel's 1 ms granularity is in every sample; a stall is far above it.
            let late = tokio::time::Instant::now().saturating_duration_since(due);
            self.metrics.runtime_poll_delay.observe(late);
            let mark = Mark::now();
            let longest = task_time::take_longest();
            if late >= STALL {
                let loud = warned.is_none_or(|w| w.elapsed() >= WARN_EVERY);
                if loud {
                    warned = Some(Instant::now());
                }
                self.stalled(late, &interval(&last, &mark), &longest, loud);
            }
            last = mark;
        }
    }

    fn stalled(&self, late: Duration, i: &Interval, longest: &[(TaskKind, Duration)], loud: bool) {
        let m = &self.metrics;
        m.runtime_stalls.inc();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (running, waiting, sleeping) = match &i.worker {
            Some(w) => {
                for (state, d) in [
                    ("running", w.running),
                    ("waiting", w.waiting),
                    ("sleeping", w.sleeping),
                ] {
                    m.runtime_stall
                        .get_or_create(&WorkerStateLabels { worker: state })
                        .inc_by(d.as_secs_f64());
                }
                (ms(w.running), ms(w.waiting), ms(w.sleeping))
            }
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        let polled = busiest(&i.tasks, longest);
        let tasks_ms = ms(i.tasks.total());
        macro_rules! report {
            ($level:ident) => {
                tracing::$level!(
                    late_ms = ms(late),
                    interval_ms = ms(i.wall),
                    running_ms = running,
                    waiting_ms = waiting,
                    sleeping_ms = sleeping,
                    tasks_ms,
                    polled = %polled,
                    "request runtime stalled"
                )
            };
        }
        if loud {
            report!(warn);
        } else {
            report!(debug);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(at: Instant, thread: ThreadId, clock: Option<(u64, u64)>) -> Mark {
        Mark {
            at,
            thread,
            clock,
            tasks: PollTimes::default(),
        }
    }

    #[test]
    fn an_interval_splits_into_running_waiting_and_sleeping() {
        let t0 = Instant::now();
        let me = std::thread::current().id();
        let a = mark(t0, me, Some((1_000_000, 2_000_000)));
        let b = mark(
            t0 + Duration::from_millis(100),
            me,
            Some((61_000_000, 32_000_000)),
        );
        let i = interval(&a, &b);
        assert_eq!(i.wall, Duration::from_millis(100));
        assert_eq!(
            i.worker,
            Some(WorkerSplit {
                running: Duration::from_millis(60),
                waiting: Duration::from_millis(30),
                sleeping: Duration::from_millis(10),
            })
        );
    }

    #[test]
    fn ticks_on_different_threads_have_no_split() {
        let t0 = Instant::now();
        let other = std::thread::spawn(|| std::thread::current().id())
            .join()
            .unwrap();
        let a = mark(t0, std::thread::current().id(), Some((0, 0)));
        let b = mark(t0 + Duration::from_millis(50), other, Some((1, 1)));
        assert_eq!(interval(&a, &b).worker, None);
        let c = mark(t0 + Duration::from_millis(50), a.thread, None);
        assert_eq!(interval(&a, &c).worker, None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_clocks_this_thread() {
        let (on_cpu, _) = thread_clock().expect("/proc/thread-self/schedstat");
        let until = Instant::now() + Duration::from_millis(20);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        let (later, _) = thread_clock().unwrap();
        assert!(later > on_cpu);
    }

    #[test]
    fn the_log_names_the_busiest_kinds_first() {
        assert_eq!(busiest(&PollTimes::default(), &[]), "");
        let tasks = PollTimes::default()
            .with(TaskKind::Request, Duration::from_micros(3_200), 40)
            .with(TaskKind::QuicDriver, Duration::from_millis(41), 7);
        let longest = [(TaskKind::QuicDriver, Duration::from_millis(30))];
        assert_eq!(
            busiest(&tasks, &longest),
            "quic_driver 41.0 ms / 7 polls (longest 30.0 ms), request 3.2 ms / 40 polls (longest 0.0 ms)"
        );
    }
}
