//! Consumer groups end to end: several `GroupConsumer`s on a real node through joins, a member
//! dying without leaving, and node restarts.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::TestNode;
use parking_lot::Mutex;
use rustmq_client::{GroupConfig, GroupConsumer, Message, RustMqClient};

#[derive(Debug, Clone)]
enum Event {
    Delivered { member: usize, p: u32, o: i64 },
    Committed { p: u32, o: i64 },
}

type Log = Arc<Mutex<Vec<Event>>>;

fn config() -> GroupConfig {
    GroupConfig {
        session_timeout: Duration::from_millis(1500),
        heartbeat_interval: Duration::from_millis(200),
        rebalance_timeout: Duration::from_secs(10),
        enable_auto_commit: false,
        ..Default::default()
    }
}

async fn produce(c: &RustMqClient, from: usize, to: usize) {
    let p = c.create_producer("orders").await.unwrap();
    p.send_batch(
        (from..to)
            .map(|i| {
                Message::builder()
                    .topic("orders")
                    .key(format!("k{}", i % 37))
                    .payload(format!("m{i}"))
                    .build()
                    .unwrap()
            })
            .collect(),
    )
    .await
    .unwrap();
    p.close().await.unwrap();
}

/// A member: receive, ack, commit after each message, log both.
fn member(
    c: RustMqClient,
    id: usize,
    log: Log,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<GroupConsumer> {
    impatient_member(c, id, log, stop, Duration::from_millis(300))
}

/// A member that gives up on `receive()` after `patience`, cancelling it wherever it is
/// (fetching, joining, syncing), then calls it again.
fn impatient_member(
    c: RustMqClient,
    id: usize,
    log: Log,
    stop: Arc<AtomicBool>,
    patience: Duration,
) -> tokio::task::JoinHandle<GroupConsumer> {
    tokio::spawn(async move {
        let mut consumer = c
            .create_group_consumer("orders", "processors", config())
            .await
            .unwrap();
        while !stop.load(Ordering::Relaxed) {
            let next = tokio::time::timeout(patience, consumer.receive()).await;
            let Ok(m) = next else { continue };
            let m = m.unwrap().unwrap();
            let (p, o) = (m.message.partition, m.message.offset);
            log.lock().push(Event::Delivered { member: id, p, o });
            m.ack().await.unwrap();
            if consumer.commit().await.is_ok() {
                log.lock().push(Event::Committed { p, o });
            }
        }
        consumer
    })
}

fn delivered(log: &Log) -> BTreeSet<(u32, i64)> {
    log.lock()
        .iter()
        .filter_map(|e| match e {
            Event::Delivered { p, o, .. } => Some((*p, *o)),
            _ => None,
        })
        .collect()
}

async fn wait_for(log: &Log, count: usize) {
    for _ in 0..600 {
        if delivered(log).len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "only {} of {count} messages delivered",
        delivered(log).len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_die_and_every_message_is_processed_once_committed() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 6).await;
    let c = n.client().await;
    produce(&c, 0, 300).await;

    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut members: Vec<Option<tokio::task::JoinHandle<GroupConsumer>>> = (0..3)
        .map(|i| Some(member(c.clone(), i, log.clone(), stop.clone())))
        .collect();
    wait_for(&log, 100).await;
    members.push(Some(member(c.clone(), 3, log.clone(), stop.clone())));
    wait_for(&log, 200).await;
    // Member 1 dies without leaving: no commit, no LeaveGroup; its session times out.
    if let Some(h) = members[1].take() {
        h.abort();
    }
    produce(&c, 300, 600).await;
    wait_for(&log, 600).await;
    stop.store(true, Ordering::Relaxed);
    let mut finals = Vec::new();
    for h in members.into_iter().flatten() {
        finals.push(h.await.unwrap());
    }

    // Every produced message was processed at least once.
    assert_eq!(delivered(&log).len(), 600);
    // Nothing the group committed was delivered again afterwards.
    let events = log.lock().clone();
    let mut committed_at: BTreeMap<(u32, i64), usize> = BTreeMap::new();
    for (seq, e) in events.iter().enumerate() {
        match e {
            Event::Committed { p, o } => {
                committed_at.entry((*p, *o)).or_insert(seq);
            }
            Event::Delivered { member, p, o } => {
                if let Some(&c) = committed_at.get(&(*p, *o)) {
                    panic!(
                        "{p}/{o} committed at event {c} and delivered again to member {member} at event {seq}"
                    );
                }
            }
        }
    }
    // The surviving three own every partition exactly once; the newcomer got some.
    let mut owned = Vec::new();
    for f in &finals {
        owned.push(f.assigned_partitions().await);
    }
    let all: BTreeSet<u32> = owned.iter().flatten().copied().collect();
    assert_eq!(all.len(), 6, "{owned:?}");
    assert_eq!(owned.iter().map(|o| o.len()).sum::<usize>(), 6, "{owned:?}");
    assert!(
        !owned[2].is_empty(),
        "the member that joined later owns partitions: {owned:?}"
    );
    for mut f in finals {
        f.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_cancelled_mid_rebalance_loses_no_partition() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 6).await;
    let c = n.client().await;
    produce(&c, 0, 120).await;
    let log: Log = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    // A few milliseconds is shorter than a join or sync round trip while the group waits
    // for members: receive() is dropped in the middle of rebalances again and again.
    let patience = Duration::from_millis(3);
    let mut members = vec![impatient_member(
        c.clone(),
        0,
        log.clone(),
        stop.clone(),
        patience,
    )];
    wait_for(&log, 20).await;
    members.push(impatient_member(
        c.clone(),
        1,
        log.clone(),
        stop.clone(),
        patience,
    ));
    members.push(impatient_member(
        c.clone(),
        2,
        log.clone(),
        stop.clone(),
        patience,
    ));
    produce(&c, 120, 240).await;
    wait_for(&log, 240).await;
    stop.store(true, Ordering::Relaxed);
    let mut owned = BTreeSet::new();
    for h in members {
        let mut f = h.await.unwrap();
        owned.extend(f.assigned_partitions().await);
        f.close().await.unwrap();
    }
    assert_eq!(
        owned.len(),
        6,
        "every partition owned at the end: {owned:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_resumes_from_committed_offsets_after_a_restart() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 2).await;
    let c = n.client().await;
    produce(&c, 0, 40).await;
    let mut consumer = c
        .create_group_consumer("orders", "resumers", config())
        .await
        .unwrap();
    let mut seen = BTreeMap::new();
    for _ in 0..15 {
        let m = consumer.receive().await.unwrap().unwrap();
        seen.insert((m.message.partition, m.message.offset), ());
        m.ack().await.unwrap();
    }
    // One delivered but never acknowledged: it holds back its partition's commit.
    let held = consumer.receive().await.unwrap().unwrap();
    consumer.commit().await.unwrap();
    let committed = consumer
        .committed_offset(held.message.partition)
        .await
        .unwrap();
    assert_eq!(
        committed,
        Some(held.message.offset),
        "commit stops at the first un-acked offset"
    );
    let lag = consumer.get_lag().await.unwrap();
    assert_eq!(lag.values().sum::<i64>(), 40 - 15);
    consumer.close().await.unwrap();
    c.close().await;
    let d = n.stop().await;

    let n = TestNode::start(&d).await;
    let c = n.client().await;
    let mut consumer = c
        .create_group_consumer("orders", "resumers", config())
        .await
        .unwrap();
    let mut rest = BTreeSet::new();
    for _ in 0..25 {
        let m = consumer.receive().await.unwrap().unwrap();
        assert!(
            !seen.contains_key(&(m.message.partition, m.message.offset)),
            "redelivered a committed message"
        );
        rest.insert((m.message.partition, m.message.offset));
        m.ack().await.unwrap();
    }
    assert!(
        rest.contains(&(held.message.partition, held.message.offset)),
        "the un-acked message comes again"
    );
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_failing_every_attempt_go_to_the_dead_letter_queue() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 2).await;
    n.create_topic("orders-dlq", 1).await;
    let c = n.client().await;
    produce(&c, 0, 20).await;
    let cfg = GroupConfig {
        max_retry_attempts: 3,
        retry_base_delay: Duration::from_millis(20),
        dead_letter_queue: Some("orders-dlq".into()),
        ..config()
    };
    let mut consumer = c
        .create_group_consumer("orders", "careful", cfg)
        .await
        .unwrap();
    let mut attempts: BTreeMap<String, u32> = BTreeMap::new();
    let mut acked = 0;
    // Messages m0, m5, m10, m15 always fail.
    while acked < 16 || consumer.metrics().dead_lettered.load(Ordering::Relaxed) < 4 {
        let Ok(m) = tokio::time::timeout(Duration::from_millis(500), consumer.receive()).await
        else {
            continue;
        };
        let m = m.unwrap().unwrap();
        let body = String::from_utf8(m.message.payload.to_vec()).unwrap();
        *attempts.entry(body.clone()).or_default() += 1;
        assert_eq!(m.attempt, attempts[&body]);
        let i: usize = body[1..].parse().unwrap();
        if i.is_multiple_of(5) {
            m.nack_with_reason("cannot parse order").await.unwrap();
        } else {
            m.ack().await.unwrap();
            acked += 1;
        }
    }
    // The next receive flushes nothing new; commit covers everything now.
    consumer.commit().await.unwrap();
    for p in 0..2 {
        let hw = c.list_offset("orders", p, -1).await.unwrap();
        assert_eq!(
            consumer.committed_offset(p).await.unwrap().unwrap_or(0),
            hw,
            "partition {p}"
        );
    }
    let failing: Vec<String> = (0..20)
        .filter(|i| i % 5 == 0)
        .map(|i| format!("m{i}"))
        .collect();
    for f in &failing {
        assert_eq!(attempts[f], 3, "{f} delivered max_retry_attempts times");
    }
    let metrics = consumer.metrics();
    assert_eq!(metrics.failed.load(Ordering::Relaxed), 12);
    assert_eq!(metrics.retried.load(Ordering::Relaxed), 8);
    assert_eq!(metrics.processed.load(Ordering::Relaxed), 16);
    consumer.close().await.unwrap();

    // Exactly the failing messages are in the DLQ, with their origin and the reason.
    let mut dlq = c.consumer("orders-dlq").build().await.unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = dlq.receive().await.unwrap();
        let h = |k: &str| String::from_utf8(m.header(k).unwrap().to_vec()).unwrap();
        assert_eq!(h("x-rustmq-dlq-reason"), "cannot parse order");
        assert_eq!(h("x-rustmq-original-topic"), "orders");
        assert_eq!(h("x-rustmq-attempts"), "3");
        assert_eq!(h("x-rustmq-consumer-group"), "careful");
        let _: i64 = h("x-rustmq-original-offset").parse().unwrap();
        got.push(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    got.sort();
    let mut want = failing.clone();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(c.list_offset("orders-dlq", 0, -1).await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commit_commits_acknowledged_offsets() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 1).await;
    let c = n.client().await;
    produce(&c, 0, 10).await;
    let cfg = GroupConfig {
        enable_auto_commit: true,
        auto_commit_interval: Duration::from_millis(100),
        ..config()
    };
    let mut consumer = c
        .create_group_consumer("orders", "auto", cfg)
        .await
        .unwrap();
    for _ in 0..10 {
        consumer
            .receive()
            .await
            .unwrap()
            .unwrap()
            .ack()
            .await
            .unwrap();
    }
    // Auto-commit runs inside receive().
    for _ in 0..5 {
        let _ = tokio::time::timeout(Duration::from_millis(200), consumer.receive()).await;
        if consumer.committed_offset(0).await.unwrap() == Some(10) {
            break;
        }
    }
    assert_eq!(consumer.committed_offset(0).await.unwrap(), Some(10));
    assert_eq!(consumer.get_lag().await.unwrap()[&0], 0);
    // Pausing stops delivery from a partition; resuming brings it back.
    produce(&c, 10, 11).await;
    consumer.pause_partitions(vec![0]).await.unwrap();
    assert_eq!(consumer.paused_partitions().await, vec![0]);
    assert!(
        tokio::time::timeout(Duration::from_millis(400), consumer.receive())
            .await
            .is_err()
    );
    consumer.resume_partitions(vec![0]).await.unwrap();
    let m = consumer.receive().await.unwrap().unwrap();
    assert_eq!(m.message.offset, 10);
    // Seek back replays.
    consumer.seek(0, 3).await.unwrap();
    assert_eq!(consumer.receive().await.unwrap().unwrap().message.offset, 3);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_consumer_as_a_stream() {
    use futures::StreamExt;
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 3).await;
    let c = n.client().await;
    produce(&c, 0, 30).await;
    let consumer = c
        .create_group_consumer("orders", "streamers", config())
        .await
        .unwrap();
    let got: BTreeSet<String> = consumer
        .stream()
        .take(30)
        .then(|m| async move {
            let m = m.unwrap();
            m.ack().await.unwrap();
            String::from_utf8(m.message.payload.to_vec()).unwrap()
        })
        .collect()
        .await;
    assert_eq!(got, (0..30).map(|i| format!("m{i}")).collect());
}
