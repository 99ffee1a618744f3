//! Where the tier's bulk work runs: small runtimes of their own whose threads (blocking ones
//! included) run at a lower CPU priority, with a cap on operations in flight.
//! - Cold reads: GETs from object storage for consumers (and their read-ahead). A consumer
//!   catching up moves hundreds of MB/s through HTTP parsing and copies; on the broker's own
//!   runtime that work queues in front of produce acknowledgements and tail fetches.
//! - Uploads: PUTs of the WAL's data. Each is a burst of copying (into the HTTP body, or
//!   into the page cache for a local directory) that on a broker with one CPU held the
//!   request threads off the core for tens of milliseconds.
//!
//! Here the kernel runs that work when the request path does not need the CPU, and the cap
//! bounds the memory it holds.
//!
//! Owns: the runtimes, their threads' priority, the in-flight cap, the cold-read quota.
//! Never: decides what to read or upload, or caches anything (the tier does).

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;

use futures::TryFutureExt;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::TierError;
use crate::task_time::{TaskKind, timed};

/// How a background pool runs its work (cold reads from `[cache]`, uploads from `[wal]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackgroundOptions {
    /// Threads of the pool's runtime; 0 runs the work on the caller's runtime.
    pub threads: usize,
    /// Nice value of those threads (0 = same priority as the rest; 19 = lowest).
    pub nice: i32,
    /// Run those threads under `SCHED_IDLE` (Linux) instead of at `nice`.
    pub sched_idle: bool,
    /// Most operations in flight at once.
    pub max_in_flight: usize,
    /// Bytes per second all reads together may fetch through [`BackgroundPool::run_read`]
    /// (0: no limit), like Kafka's tiered-storage fetch quota: bounds what a catch-up can
    /// take from the tail.
    pub max_bytes_per_sec: u64,
}

type Limiter = governor::DefaultDirectRateLimiter;

/// Quota unit: KiB, so a rate in bytes/s fits governor's u32 cells.
const UNIT: u64 = 1024;

/// Runs futures on a low-priority runtime (or inline when it has no threads).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use rustmq_broker::tier::background::{BackgroundPool, BackgroundOptions};
/// let pool = BackgroundPool::new("rustmq-cold-read", BackgroundOptions {
///     threads: 1, nice: 10, sched_idle: true, max_in_flight: 4, max_bytes_per_sec: 0,
/// }).unwrap();
/// let n = pool.run(async { Ok::<_, rustmq_broker::tier::TierError>(6 * 7) }).await.unwrap();
/// assert_eq!(n, 42);
/// # });
/// ```
pub struct BackgroundPool {
    rt: Option<Runtime>,
    permits: Arc<Semaphore>,
    /// The bandwidth quota and its burst (in [`UNIT`]s).
    limiter: Option<(Arc<Limiter>, NonZeroU32)>,
}

impl BackgroundPool {
    /// Starts the runtime (when `threads > 0`), its threads named `name`.
    pub fn new(name: &str, o: BackgroundOptions) -> std::io::Result<Self> {
        let permits = Arc::new(Semaphore::new(o.max_in_flight.max(1)));
        let limiter =
            NonZeroU32::new(u32::try_from(o.max_bytes_per_sec.div_ceil(UNIT)).unwrap_or(u32::MAX))
                .map(|rate| {
                    // A tenth of a second's worth of burst: a catch-up after a pause does not
                    // go at full speed for a whole second, and reads are paced in small steps.
                    let burst = NonZeroU32::new(rate.get() / 10).unwrap_or(NonZeroU32::MIN);
                    let l = governor::RateLimiter::direct(
                        governor::Quota::per_second(rate).allow_burst(burst),
                    );
                    (Arc::new(l), burst)
                });
        if o.threads == 0 {
            return Ok(Self {
                rt: None,
                permits,
                limiter,
            });
        }
        let (nice, idle) = (o.nice.clamp(0, 19), o.sched_idle);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(o.threads)
            .thread_name(name)
            .on_thread_start(move || {
                crate::priority::lower_this_thread(nice, idle);
                crate::task_time::do_not_count_this_thread();
            })
            .enable_all()
            .build()?;
        Ok(Self {
            rt: Some(rt),
            permits,
            limiter,
        })
    }

    /// [`Self::run`] for a read of `bytes`: waits for the bandwidth quota first.
    pub async fn run_read<F, T>(&self, bytes: u64, fut: F) -> Result<T, TierError>
    where
        F: Future<Output = Result<T, TierError>> + Send + 'static,
        T: Send + 'static,
    {
        let span = tracing::info_span!("rustmq.tier.cold_read", bytes);
        self.read_quota(bytes)
            .and_then(|()| self.run(fut))
            .instrument(span)
            .await
    }

    /// Waits until `bytes` fit the cold-read bandwidth quota.
    async fn read_quota(&self, bytes: u64) -> Result<(), TierError> {
        if let Some((l, burst)) = &self.limiter {
            // A read larger than the burst takes its tokens in burst-sized steps: it is
            // served, never refused for its size, and counted in full.
            let mut left = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX);
            while let Some(n) = NonZeroU32::new(left) {
                let step = n.min(*burst);
                let _ = l.until_n_ready(step).await;
                left -= step.get();
            }
        }
        Ok(())
    }

    /// Starts `fut` on the pool's runtime (or the caller's, without threads), outside the
    /// in-flight cap: for the long-lived loops that then do the pool's work.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let fut = timed(TaskKind::Upload, fut.in_current_span());
        match &self.rt {
            Some(rt) => rt.spawn(fut),
            None => tokio::spawn(fut),
        }
    }

    /// Runs `fut` on the pool's runtime once one of the in-flight permits is free.
    pub async fn run<F, T>(&self, fut: F) -> Result<T, TierError>
    where
        F: Future<Output = Result<T, TierError>> + Send + 'static,
        T: Send + 'static,
    {
        let permits = self.permits.clone();
        let job = async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|_| TierError::Store("background pool closed".into()))?;
            fut.await
        };
        match self.rt.as_ref().map(Runtime::handle) {
            None => job.await,
            Some(h) => h
                .spawn(timed(TaskKind::Upload, job.in_current_span()))
                .await
                .map_err(|e| TierError::Store(format!("background task: {e}")))?,
        }
    }
}

impl Drop for BackgroundPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside the broker's runtime.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The calling thread's nice value.
#[cfg(all(test, target_os = "linux"))]
fn thread_nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_on_low_priority_threads_and_caps_concurrency() {
        let pool = BackgroundPool::new(
            "rustmq-cold-read",
            BackgroundOptions {
                threads: 1,
                nice: 10,
                sched_idle: false,
                max_in_flight: 2,
                max_bytes_per_sec: 0,
            },
        )
        .unwrap();
        let name = pool
            .run(async {
                Ok(std::thread::current()
                    .name()
                    .unwrap_or_default()
                    .to_string())
            })
            .await
            .unwrap();
        assert_eq!(name, "rustmq-cold-read");
        #[cfg(target_os = "linux")]
        {
            // A process already nicer than 10 stays as it is (lowering nice needs privileges).
            let base = thread_nice();
            let nice = pool.run(async { Ok(thread_nice()) }).await.unwrap();
            assert_eq!(nice, base.max(10));
        }
        let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (live, most) = (live.clone(), most.clone());
            pool.run(async move {
                let now = live.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                live.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
        });
        futures::future::try_join_all(jobs).await.unwrap();
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn sched_idle_applies_to_the_cold_threads_only() {
        let pool = BackgroundPool::new(
            "rustmq-cold-read",
            BackgroundOptions {
                threads: 1,
                nice: 10,
                sched_idle: true,
                max_in_flight: 1,
                max_bytes_per_sec: 0,
            },
        )
        .unwrap();
        assert!(
            pool.run(async { Ok(crate::priority::this_thread_is_idle()) })
                .await
                .unwrap()
        );
        assert!(
            !crate::priority::this_thread_is_idle(),
            "the caller's thread keeps its policy"
        );
    }

    #[tokio::test]
    async fn a_read_larger_than_the_quota_is_served_not_refused() {
        let pool = BackgroundPool::new(
            "rustmq-cold-read",
            BackgroundOptions {
                threads: 1,
                nice: 0,
                sched_idle: true,
                max_in_flight: 1,
                max_bytes_per_sec: 16 << 20,
            },
        )
        .unwrap();
        let n = pool
            .run_read(8 << 20, async { Ok(8u64 << 20) })
            .await
            .unwrap();
        assert_eq!(n, 8 << 20);
    }

    #[tokio::test]
    async fn the_quota_counts_every_byte_of_large_reads() {
        let pool = BackgroundPool::new(
            "rustmq-cold-read",
            BackgroundOptions {
                threads: 0,
                nice: 0,
                sched_idle: false,
                max_in_flight: 1,
                max_bytes_per_sec: 1 << 20,
            },
        )
        .unwrap();
        // 512 KiB at 1 MiB/s with a tenth of a second of burst: the limiter cannot let it
        // through in less than 0.4 s (a lower bound: a slow machine only waits longer).
        let t = std::time::Instant::now();
        pool.run_read(512 << 10, async { Ok(()) }).await.unwrap();
        let waited = t.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(350),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn no_threads_runs_inline() {
        let pool = BackgroundPool::new(
            "rustmq-cold-read",
            BackgroundOptions {
                threads: 0,
                nice: 10,
                sched_idle: true,
                max_in_flight: 1,
                max_bytes_per_sec: 0,
            },
        )
        .unwrap();
        let here = std::thread::current().id();
        let there = pool
            .run(async move { Ok(std::thread::current().id()) })
            .await
            .unwrap();
        assert_eq!(here, there);
    }
}
