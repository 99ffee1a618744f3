//! `MessageStream` on a real node: windows, batches, parallel processing with an output topic,
//! dead letters and stopping on error.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::TestNode;
use parking_lot::Mutex;
use rustmq_client::stream::{
    ErrorStrategy, MessageProcessor, MessageStream, ProcessError, StreamConfig, StreamMode, Window,
};
use rustmq_client::{ConsumedMessage, GroupConfig, Message, RustMqClient};

fn group() -> GroupConfig {
    GroupConfig {
        session_timeout: Duration::from_millis(1500),
        heartbeat_interval: Duration::from_millis(200),
        auto_commit_interval: Duration::from_millis(100),
        ..Default::default()
    }
}

async fn produce(c: &RustMqClient, topic: &str, msgs: Vec<(i64, String)>) {
    let p = c.create_producer(topic).await.unwrap();
    p.send_batch(
        msgs.into_iter()
            .map(|(ts, body)| {
                Message::builder()
                    .topic(topic)
                    .partition(0)
                    .timestamp(ts)
                    .payload(body)
                    .build()
                    .unwrap()
            })
            .collect(),
    )
    .await
    .unwrap();
    p.close().await.unwrap();
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached");
}

#[derive(Default)]
struct WindowRecorder {
    windows: Mutex<Vec<(Window, Vec<i64>)>>,
}

impl MessageProcessor for WindowRecorder {
    async fn process(&self, _m: &ConsumedMessage) -> Result<Option<Message>, ProcessError> {
        Ok(None)
    }
    async fn process_window(
        &self,
        w: Window,
        ms: &[ConsumedMessage],
    ) -> Result<Vec<Option<Message>>, ProcessError> {
        self.windows
            .lock()
            .push((w, ms.iter().map(|m| m.timestamp).collect()));
        Ok(vec![None; ms.len()])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_contain_exactly_the_messages_in_their_time_range() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("events", 1).await;
    let c = n.client().await;
    let base = 1_700_000_000_000i64;
    let stamps: Vec<i64> = (0..30).map(|i| base + i * 100 + 7).collect();
    produce(
        &c,
        "events",
        stamps.iter().map(|t| (*t, format!("e{t}"))).collect(),
    )
    .await;

    let rec = Arc::new(WindowRecorder::default());
    let mut stream = MessageStream::new(
        c.clone(),
        StreamConfig {
            input_topics: vec!["events".into()],
            consumer_group: "windows".into(),
            mode: StreamMode::Windowed {
                window_size: Duration::from_millis(1000),
                slide_interval: Duration::from_millis(500),
            },
            group: group(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .with_processor(rec.clone());
    stream.start().await.unwrap();
    // Windows ending before the last message's timestamp close while the stream runs.
    wait_until(|| rec.windows.lock().len() >= 5).await;
    stream.stop().await.unwrap();

    let windows = rec.windows.lock().clone();
    let starts: BTreeSet<i64> = windows.iter().map(|(w, _)| w.start).collect();
    assert_eq!(starts.len(), windows.len(), "each window emitted once");
    for (w, got) in &windows {
        assert_eq!(w.end - w.start, 1000);
        let want: Vec<i64> = stamps
            .iter()
            .copied()
            .filter(|t| *t >= w.start && *t < w.end)
            .collect();
        assert_eq!(got, &want, "window {w:?}");
    }
    // Every message is in every window that contains it (two each with a 500 ms slide).
    for t in &stamps {
        let count = windows
            .iter()
            .filter(|(w, _)| w.start <= *t && *t < w.end)
            .count();
        assert_eq!(count, 2, "message at {t}");
    }
    let committed = c.fetch_offsets("windows", &[]).await.unwrap();
    assert_eq!(committed.get(&("events".into(), 0)), Some(&30));
}

struct Upper {
    seen: Mutex<BTreeSet<String>>,
}

impl MessageProcessor for Upper {
    async fn process(&self, m: &ConsumedMessage) -> Result<Option<Message>, ProcessError> {
        let body = String::from_utf8(m.payload.to_vec())?;
        self.seen.lock().insert(body.clone());
        if body.contains("bad") {
            return Err(format!("cannot handle {body}").into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        Ok(Some(m.forward("ignored").with_payload(body.to_uppercase())))
    }
}

trait WithPayload {
    fn with_payload(self, p: String) -> Message;
}
impl WithPayload for Message {
    fn with_payload(mut self, p: String) -> Message {
        self.payload = Bytes::from(p);
        self
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_processing_with_output_and_dead_letters() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    for t in ["in", "out", "dead"] {
        n.create_topic(t, 1).await;
    }
    let c = n.client().await;
    let bodies: Vec<String> = (0..60)
        .map(|i| {
            if i % 10 == 3 {
                format!("bad-{i}")
            } else {
                format!("ok-{i}")
            }
        })
        .collect();
    produce(&c, "in", bodies.iter().map(|b| (1, b.clone())).collect()).await;
    let proc = Arc::new(Upper {
        seen: Mutex::default(),
    });
    let mut stream = MessageStream::new(
        c.clone(),
        StreamConfig {
            input_topics: vec!["in".into()],
            output_topic: Some("out".into()),
            consumer_group: "uppers".into(),
            parallelism: 4,
            max_in_flight: 16,
            error_strategy: ErrorStrategy::DeadLetter {
                topic: "dead".into(),
            },
            group: group(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .with_processor(proc.clone());
    stream.start().await.unwrap();
    let metrics = stream.metrics();
    wait_until(|| {
        metrics.messages_processed.load(Ordering::Relaxed) == 54
            && metrics.messages_dead_lettered.load(Ordering::Relaxed) == 6
    })
    .await;
    stream.stop().await.unwrap();
    assert_eq!(proc.seen.lock().len(), 60);

    let read_all = |topic: &'static str, n: usize| {
        let c = c.clone();
        async move {
            let mut consumer = c.consumer(topic).build().await.unwrap();
            let mut out = BTreeMap::new();
            for _ in 0..n {
                let m = consumer.receive().await.unwrap();
                out.insert(String::from_utf8(m.payload.to_vec()).unwrap(), m);
            }
            assert_eq!(
                c.list_offset(topic, 0, -1).await.unwrap(),
                n as i64,
                "exactly {n} in {topic}"
            );
            out
        }
    };
    let out = read_all("out", 54).await;
    let want: BTreeSet<String> = bodies
        .iter()
        .filter(|b| !b.contains("bad"))
        .map(|b| b.to_uppercase())
        .collect();
    assert_eq!(out.keys().cloned().collect::<BTreeSet<_>>(), want);
    let dead = read_all("dead", 6).await;
    for (body, m) in &dead {
        assert!(body.starts_with("bad-"));
        assert_eq!(
            m.header("x-rustmq-dlq-reason").unwrap(),
            &Bytes::from(format!("cannot handle {body}"))
        );
    }
    assert_eq!(
        c.fetch_offsets("uppers", &[]).await.unwrap()[&("in".into(), 0)],
        60
    );
}

struct Batches {
    sizes: Mutex<Vec<usize>>,
    fail_on: Option<String>,
}

impl MessageProcessor for Batches {
    async fn process(&self, m: &ConsumedMessage) -> Result<Option<Message>, ProcessError> {
        if self.fail_on.as_deref() == Some(&*String::from_utf8_lossy(&m.payload)) {
            return Err("poison".into());
        }
        Ok(None)
    }
    async fn process_batch(
        &self,
        ms: &[ConsumedMessage],
    ) -> Result<Vec<Option<Message>>, ProcessError> {
        self.sizes.lock().push(ms.len());
        Ok(vec![None; ms.len()])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_fill_or_time_out_and_stop_strategy_stops() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("b", 1).await;
    n.create_topic("s", 1).await;
    let c = n.client().await;
    produce(&c, "b", (0..25).map(|i| (1, format!("{i}"))).collect()).await;
    let proc = Arc::new(Batches {
        sizes: Mutex::default(),
        fail_on: None,
    });
    let mut stream = MessageStream::new(
        c.clone(),
        StreamConfig {
            input_topics: vec!["b".into()],
            consumer_group: "batchers".into(),
            mode: StreamMode::Batch {
                batch_size: 10,
                batch_timeout: Duration::from_millis(300),
            },
            group: group(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .with_processor(proc.clone());
    stream.start().await.unwrap();
    wait_until(|| proc.sizes.lock().iter().sum::<usize>() == 25).await;
    stream.stop().await.unwrap();
    let sizes = proc.sizes.lock().clone();
    assert!(sizes.iter().all(|s| *s <= 10), "{sizes:?}");
    assert!(sizes.iter().filter(|s| **s == 10).count() >= 2, "{sizes:?}");

    // Stop: the stream ends at the failing message, which is not committed.
    produce(&c, "s", (0..10).map(|i| (1, format!("{i}"))).collect()).await;
    let proc = Arc::new(Batches {
        sizes: Mutex::default(),
        fail_on: Some("5".into()),
    });
    let mut stream = MessageStream::new(
        c.clone(),
        StreamConfig {
            input_topics: vec!["s".into()],
            consumer_group: "stoppers".into(),
            error_strategy: ErrorStrategy::Stop,
            group: group(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .with_processor(proc);
    stream.start().await.unwrap();
    let metrics = stream.metrics();
    wait_until(|| metrics.messages_failed.load(Ordering::Relaxed) >= 1).await;
    assert!(
        stream.stop().await.is_err(),
        "stop reports why the stream stopped"
    );
    let committed = c.fetch_offsets("stoppers", &[]).await.unwrap();
    assert_eq!(
        committed.get(&("s".into(), 0)).copied().unwrap_or(0),
        5,
        "committed up to the failed message"
    );
}

/// Fails every attempt on "bad" messages, and the first two attempts on each "flaky" one.
#[derive(Default)]
struct Flaky {
    attempts: Mutex<BTreeMap<String, u32>>,
}

impl MessageProcessor for Flaky {
    async fn process(&self, m: &ConsumedMessage) -> Result<Option<Message>, ProcessError> {
        let body = String::from_utf8_lossy(&m.payload).to_string();
        let n = {
            let mut a = self.attempts.lock();
            let n = a.entry(body.clone()).or_default();
            *n += 1;
            *n
        };
        if body.starts_with("bad") || (body.starts_with("flaky") && n <= 2) {
            return Err(format!("attempt {n} on {body} failed").into());
        }
        Ok(None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_strategy_retries_with_backoff_then_skips_and_counts_each_message_once() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("r", 1).await;
    let c = n.client().await;
    let bodies = ["ok-0", "flaky-1", "bad-2", "ok-3"];
    produce(&c, "r", bodies.iter().map(|b| (1, b.to_string())).collect()).await;
    let proc = Arc::new(Flaky::default());
    let mut stream = MessageStream::new(
        c.clone(),
        StreamConfig {
            input_topics: vec!["r".into()],
            consumer_group: "retriers".into(),
            error_strategy: ErrorStrategy::Retry {
                max_attempts: 3,
                backoff_ms: 10,
            },
            group: group(),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .with_processor(proc.clone());
    stream.start().await.unwrap();
    let metrics = stream.metrics();
    wait_until(|| {
        metrics.messages_processed.load(Ordering::Relaxed)
            + metrics.messages_skipped.load(Ordering::Relaxed)
            == 4
    })
    .await;
    stream.stop().await.unwrap();
    let attempts = proc.attempts.lock().clone();
    assert_eq!(attempts["ok-0"], 1);
    assert_eq!(attempts["flaky-1"], 3, "two failures, then success");
    assert_eq!(attempts["bad-2"], 3, "max_attempts in total, then skipped");
    assert_eq!(attempts["ok-3"], 1);
    assert_eq!(metrics.messages_processed.load(Ordering::Relaxed), 3);
    assert_eq!(metrics.messages_skipped.load(Ordering::Relaxed), 1);
    // One message failed in the end, however many attempts it took.
    assert_eq!(metrics.messages_failed.load(Ordering::Relaxed), 1);
    assert_eq!(metrics.messages_retried.load(Ordering::Relaxed), 4);
}
