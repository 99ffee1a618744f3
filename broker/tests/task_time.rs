//! The per-kind poll counters: in a test binary of their own, because the table is the
//! process's and other tests' brokers would poll into it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustmq_broker::task_time::{TaskKind, do_not_count_this_thread, snapshot, take_longest, timed};

/// A future that burns `spin` of CPU on its first poll, asks to be polled again, then
/// finishes.
struct Spin {
    spin: Duration,
    yielded: bool,
}

impl Future for Spin {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        let until = Instant::now() + self.spin;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn longest(kind: TaskKind) -> Duration {
    take_longest()
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, d)| d)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn polls_are_charged_to_their_kind_and_uncounted_threads_are_not() {
    let before = snapshot();
    take_longest();
    let spin = Spin {
        spin: Duration::from_millis(5),
        yielded: false,
    };
    tokio::spawn(timed(TaskKind::Upload, spin)).await.unwrap();
    let d = snapshot().since(&before);
    assert_eq!(d.polls(TaskKind::Upload), 2);
    assert!(d.busy(TaskKind::Upload) >= Duration::from_millis(5));
    assert!(d.total() >= d.busy(TaskKind::Upload));
    assert_eq!(d.polls(TaskKind::Request), 0);
    assert!(longest(TaskKind::Upload) >= Duration::from_millis(5));
    // Taken: the next reading starts again.
    assert_eq!(longest(TaskKind::Upload), Duration::ZERO);

    let before = snapshot();
    std::thread::spawn(|| {
        do_not_count_this_thread();
        futures::executor::block_on(timed(TaskKind::Upload, async {}));
    })
    .join()
    .unwrap();
    assert_eq!(snapshot().since(&before).polls(TaskKind::Upload), 0);
}
