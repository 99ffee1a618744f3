//! Poll time of the request runtime's tasks, by kind. The runtime probe
//! (`broker::runtime_probe`) sees that the runtime ran late, not which work kept it; every
//! task the broker spawns on it is wrapped in [`timed`] so that a stall can be charged to
//! the QUIC connection drivers, request handlers, replication, uploads or the rest.
//!
//! Owns: the per-kind poll counters and the wrapper that feeds them. Never: decides what
//! to do about a slow task (the probe reports, people decide).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What a task on the request runtime does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// quinn's endpoint and connection drivers: packets in and out, encryption, timers.
    QuicDriver,
    /// A client connection's handshake, authentication and stream acceptance.
    Connection,
    /// One request stream: read, handle, respond.
    Request,
    /// A follower's fetchers from its leaders.
    Replication,
    /// Uploads to object storage and their registration.
    Upload,
    /// The broker's periodic work: metadata watch, retention, sessions, ISR, heartbeats.
    Periodic,
}

impl TaskKind {
    /// Every kind, in the order of the counters.
    pub const ALL: [TaskKind; 6] = [
        TaskKind::QuicDriver,
        TaskKind::Connection,
        TaskKind::Request,
        TaskKind::Replication,
        TaskKind::Upload,
        TaskKind::Periodic,
    ];

    /// The kind's metric label.
    pub fn label(self) -> &'static str {
        match self {
            TaskKind::QuicDriver => "quic_driver",
            TaskKind::Connection => "connection",
            TaskKind::Request => "request",
            TaskKind::Replication => "replication",
            TaskKind::Upload => "upload",
            TaskKind::Periodic => "periodic",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many kinds there are.
const KINDS: usize = TaskKind::ALL.len();

#[derive(Debug)]
struct Counters {
    nanos: AtomicU64,
    polls: AtomicU64,
    /// The longest poll since the probe last took it.
    longest: AtomicU64,
}

impl Counters {
    const fn new() -> Self {
        Self {
            nanos: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            longest: AtomicU64::new(0),
        }
    }
}

/// One process-wide table: the runtime is the process's, and the metrics endpoint and the
/// probe read it from wherever they run.
static TABLE: [Counters; KINDS] = [const { Counters::new() }; KINDS];

thread_local! {
    /// Set on threads whose polls must not count (the bulk lanes' background threads: a
    /// wrapped future that moves there is not the request runtime's work).
    static UNCOUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Stops counting polls made on the calling thread (for threads outside the request
/// runtime that run wrapped futures).
pub fn do_not_count_this_thread() {
    UNCOUNTED.with(|u| u.set(true));
}

pin_project_lite::pin_project! {
    /// A future whose polls count towards its [`TaskKind`].
    #[derive(Debug)]
    pub struct Timed<F> {
        kind: TaskKind,
        #[pin]
        fut: F,
    }
}

/// Wraps `fut` so its poll time counts as `kind`'s.
///
/// ```
/// use rustmq_broker::task_time::{TaskKind, snapshot, timed};
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let before = snapshot();
/// tokio::spawn(timed(TaskKind::Periodic, async { 1 + 1 })).await.unwrap();
/// assert!(snapshot().since(&before).polls(TaskKind::Periodic) >= 1);
/// # });
/// ```
pub fn timed<F: Future>(kind: TaskKind, fut: F) -> Timed<F> {
    Timed { kind, fut }
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if UNCOUNTED.with(Cell::get) {
            return this.fut.poll(cx);
        }
        let started = Instant::now();
        let out = this.fut.poll(cx);
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let c = &TABLE[this.kind.index()];
        c.nanos.fetch_add(took, Ordering::Relaxed);
        c.polls.fetch_add(1, Ordering::Relaxed);
        c.longest.fetch_max(took, Ordering::Relaxed);
        out
    }
}

/// The counters at one moment: total poll time and polls per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollTimes {
    nanos: [u64; KINDS],
    polls: [u64; KINDS],
}

/// Reads the counters.
pub fn snapshot() -> PollTimes {
    let mut s = PollTimes::default();
    for (i, c) in TABLE.iter().enumerate() {
        s.nanos[i] = c.nanos.load(Ordering::Relaxed);
        s.polls[i] = c.polls.load(Ordering::Relaxed);
    }
    s
}

/// The longest poll of each kind since the last call, and restarts them.
pub fn take_longest() -> [(TaskKind, Duration); KINDS] {
    TaskKind::ALL.map(|k| {
        let took = TABLE[k.index()].longest.swap(0, Ordering::Relaxed);
        (k, Duration::from_nanos(took))
    })
}

impl PollTimes {
    /// What happened between `earlier` and this snapshot.
    pub fn since(&self, earlier: &PollTimes) -> PollTimes {
        let mut d = PollTimes::default();
        for i in 0..KINDS {
            d.nanos[i] = self.nanos[i].saturating_sub(earlier.nanos[i]);
            d.polls[i] = self.polls[i].saturating_sub(earlier.polls[i]);
        }
        d
    }

    /// Total poll time of `kind`.
    pub fn busy(&self, kind: TaskKind) -> Duration {
        Duration::from_nanos(self.nanos[kind.index()])
    }

    /// Polls of `kind`.
    pub fn polls(&self, kind: TaskKind) -> u64 {
        self.polls[kind.index()]
    }

    /// These counters with `kind`'s set (for tests of what reads them).
    #[cfg(test)]
    pub(crate) fn with(mut self, kind: TaskKind, busy: Duration, polls: u64) -> Self {
        self.nanos[kind.index()] = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX);
        self.polls[kind.index()] = polls;
        self
    }

    /// Poll time of every kind together.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.nanos.iter().sum())
    }
}
