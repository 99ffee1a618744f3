//! Background-priority serving of catch-up reads ("bulk lanes").
//!
//! A consumer catching up moves hundreds of MB/s: the broker encodes its fetch responses,
//! encrypts them into QUIC packets and sends them. Done by the broker's runtime, that work
//! sits in the same run queue as produce requests and their acknowledgements, and a tail
//! request waits behind whole polls of it. So a connection whose last fetch response was
//! larger than `network.bulk_response_bytes` is moved to a runtime of its own whose threads
//! run under Linux's `SCHED_IDLE` (nice 19 elsewhere): its fetches are answered there, and
//! its QUIC connection driver (packet building, encryption, sends) runs there too. The
//! kernel preempts those threads whenever a broker thread wants the CPU, so a catch-up uses
//! the CPU the tail leaves idle. Only a response that also left records behind counts (a
//! tail consumer of a busy topic gets large responses too, and is what latency is for). A
//! connection moves back when a fetch response reaches the log end or is small again (its
//! consumer reached the tail).
//!
//! Owns: the bulk runtime, each connection's lane, moving connection drivers between
//! runtimes. Never: decides what a fetch returns (the broker does).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::runtime::{Handle, Runtime};

use crate::task_time::{TaskKind, timed};

/// One connection's lane: whether its work runs on the bulk runtime.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    bulk: AtomicBool,
}

impl Lane {
    pub(crate) fn is_bulk(&self) -> bool {
        self.bulk.load(Ordering::Relaxed)
    }

    pub(crate) fn set_bulk(&self, bulk: bool) {
        self.bulk.store(bulk, Ordering::Relaxed);
    }
}

thread_local! {
    /// The lane of the connection being accepted on this thread: quinn spawns a
    /// connection's driver inside `Incoming::accept`, with no way to say which connection
    /// it belongs to.
    static ACCEPTING: RefCell<Option<Arc<Lane>>> = const { RefCell::new(None) };
}

/// The bulk runtime and the size from which a fetch response makes its connection bulk.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let lanes = rustmq_broker::server::BulkLanes::start(1 << 20, 1, true).unwrap();
/// // Work for catch-up consumers runs on background-priority threads.
/// let on = lanes.handle().unwrap().spawn(async { std::thread::current().name().map(String::from) });
/// assert_eq!(on.await.unwrap().as_deref(), Some("rustmq-bulk"));
/// # });
/// ```
pub struct BulkLanes {
    rt: Option<Runtime>,
    threshold: usize,
    /// Fetch responses written from the bulk runtime.
    served: AtomicU64,
}

impl BulkLanes {
    /// Starts the bulk runtime with `threads` threads (0: one per CPU) under `SCHED_IDLE`
    /// (`sched_idle`) or nice 19; `threshold` 0 turns lanes off (no runtime).
    pub fn start(threshold: u64, threads: usize, sched_idle: bool) -> std::io::Result<Arc<Self>> {
        if threshold == 0 {
            return Ok(Arc::new(Self {
                rt: None,
                threshold: usize::MAX,
                served: AtomicU64::new(0),
            }));
        }
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("rustmq-bulk")
            .on_thread_start(move || {
                crate::priority::lower_this_thread(19, sched_idle);
                crate::task_time::do_not_count_this_thread();
            })
            .enable_all()
            .build()?;
        Ok(Arc::new(Self {
            rt: Some(rt),
            threshold: usize::try_from(threshold).unwrap_or(usize::MAX),
            served: AtomicU64::new(0),
        }))
    }

    /// [`Self::start`] with the `[network]` settings.
    pub fn for_network(net: &crate::config::NetworkSection) -> std::io::Result<Arc<Self>> {
        Self::start(
            net.bulk_response_bytes,
            net.bulk_threads,
            net.bulk_sched_idle,
        )
    }

    /// The bulk runtime (None when lanes are off).
    pub fn handle(&self) -> Option<&Handle> {
        self.rt.as_ref().map(Runtime::handle)
    }

    /// Fetch responses larger than this make their connection bulk.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// How many fetch responses were written from the bulk runtime.
    pub fn bulk_responses(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    pub(crate) fn count_bulk_response(&self) {
        self.served.fetch_add(1, Ordering::Relaxed);
    }

    /// The quinn runtime the endpoint uses: tokio's, except that drivers of connections
    /// accepted through [`Self::accept`] follow their lane.
    pub(crate) fn quinn_runtime(&self) -> Arc<dyn quinn::Runtime> {
        Arc::new(LaneRuntime {
            bulk: self.handle().cloned(),
        })
    }

    /// Accepts `incoming`; its connection driver follows `lane`.
    pub(crate) fn accept(
        &self,
        incoming: quinn::Incoming,
        lane: &Arc<Lane>,
    ) -> Result<quinn::Connecting, quinn::ConnectionError> {
        ACCEPTING.with(|a| *a.borrow_mut() = Some(lane.clone()));
        let r = incoming.accept();
        ACCEPTING.with(|a| *a.borrow_mut() = None);
        r
    }
}

impl Drop for BulkLanes {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside the broker's runtime.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Debug)]
struct LaneRuntime {
    bulk: Option<Handle>,
}

impl quinn::Runtime for LaneRuntime {
    fn new_timer(&self, i: std::time::Instant) -> Pin<Box<dyn quinn::AsyncTimer>> {
        quinn::TokioRuntime.new_timer(i)
    }

    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) {
        // Counted wherever it runs; the bulk runtime's threads do not count.
        let future = Box::pin(timed(TaskKind::QuicDriver, future));
        let lane = ACCEPTING.with(|a| a.borrow().clone());
        match (lane, &self.bulk) {
            (Some(lane), Some(bulk)) => {
                tokio::spawn(Follow {
                    fut: Some(future),
                    lane,
                    on_bulk: false,
                    main: Handle::current(),
                    bulk: bulk.clone(),
                });
            }
            _ => {
                tokio::spawn(future);
            }
        }
    }

    fn wrap_udp_socket(
        &self,
        t: std::net::UdpSocket,
    ) -> std::io::Result<Arc<dyn quinn::AsyncUdpSocket>> {
        quinn::TokioRuntime.wrap_udp_socket(t)
    }

    fn now(&self) -> std::time::Instant {
        quinn::TokioRuntime.now()
    }
}

/// A future (a connection driver) that runs on the runtime its lane names: when polled on
/// the other one, it hands itself over and ends this task. Safe for futures that register
/// their wakers anew at every poll, as quinn's connection driver does; its timers and
/// socket stay with the runtime that made them, which keeps running them.
struct Follow {
    fut: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    lane: Arc<Lane>,
    on_bulk: bool,
    main: Handle,
    bulk: Handle,
}

impl Future for Follow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let want = self.lane.is_bulk();
        if want != self.on_bulk {
            let Some(fut) = self.fut.take() else {
                return Poll::Ready(());
            };
            let to = if want { &self.bulk } else { &self.main };
            to.spawn(Follow {
                fut: Some(fut),
                lane: self.lane.clone(),
                on_bulk: want,
                main: self.main.clone(),
                bulk: self.bulk.clone(),
            });
            return Poll::Ready(());
        }
        match self.fut.as_mut() {
            Some(f) => f.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn bulk_threads_are_idle_priority() {
        let lanes = BulkLanes::start(1 << 20, 1, true).unwrap();
        let idle = lanes
            .handle()
            .unwrap()
            .spawn(async { crate::priority::this_thread_is_idle() })
            .await
            .unwrap();
        assert!(idle);
        assert!(!crate::priority::this_thread_is_idle());
    }

    #[test]
    fn off_means_no_runtime_and_no_bulk_connection() {
        let lanes = BulkLanes::start(0, 1, true).unwrap();
        assert!(lanes.handle().is_none());
        assert_eq!(lanes.threshold(), usize::MAX);
    }

    /// A future that reports the thread it ran a nudge on, then waits for the next nudge; it
    /// registers its waker at every poll, as a connection driver does. The report goes out
    /// only once the waker is registered and no nudge is left, so a nudge sent after the
    /// report is always taken by a fresh poll (which is where a lane change takes effect).
    struct Reporter {
        nudges: tokio::sync::mpsc::UnboundedReceiver<()>,
        seen: tokio::sync::mpsc::UnboundedSender<String>,
    }

    impl Future for Reporter {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut ran_on = None;
            loop {
                match self.nudges.poll_recv(cx) {
                    Poll::Ready(Some(())) => {
                        ran_on = Some(std::thread::current().name().unwrap_or("").to_string());
                    }
                    Poll::Ready(None) => return Poll::Ready(()),
                    Poll::Pending => {
                        if let Some(name) = ran_on {
                            let _ = self.seen.send(name);
                        }
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_driver_follows_its_lane_both_ways() {
        let lanes = BulkLanes::start(1 << 20, 1, false).unwrap();
        let rt = lanes.quinn_runtime();
        let lane = Arc::new(Lane::default());
        let (nudge, nudges) = tokio::sync::mpsc::unbounded_channel();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        ACCEPTING.with(|a| *a.borrow_mut() = Some(lane.clone()));
        rt.spawn(Box::pin(Reporter {
            nudges,
            seen: seen_tx,
        }));
        ACCEPTING.with(|a| *a.borrow_mut() = None);
        let main = tokio::spawn(async { std::thread::current().name().map(String::from) })
            .await
            .unwrap()
            .unwrap_or_default();
        assert_ne!(main, "rustmq-bulk");
        let mut step = async |bulk: bool| {
            lane.set_bulk(bulk);
            nudge.send(()).unwrap();
            seen.recv().await.unwrap()
        };
        assert_eq!(step(false).await, main);
        assert_eq!(step(true).await, "rustmq-bulk");
        assert_eq!(step(true).await, "rustmq-bulk");
        assert_eq!(step(false).await, main);
    }

    #[tokio::test]
    async fn futures_spawned_outside_an_accept_stay_on_the_callers_runtime() {
        let lanes = BulkLanes::start(1 << 20, 1, false).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        lanes.quinn_runtime().spawn(Box::pin(async move {
            let _ = tx.send(std::thread::current().name().map(String::from));
        }));
        assert_ne!(rx.await.unwrap().as_deref(), Some("rustmq-bulk"));
    }
}
