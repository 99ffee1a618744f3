//! Replication with real processes: 3 controllers and 3 brokers, RF=3, kill -9 under load.
//! The checker reads every partition back and proves that every acknowledged message is
//! there exactly once at its acknowledged offset, that nothing appears that was not sent,
//! and that per-key order holds.

#[path = "common/cluster.rs"]
mod cluster;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster::Cluster;
use parking_lot::Mutex;
use rustmq_client::{
    AckLevel, ClientError, ConsumerConfig, Message, ProducerConfig, RustMqClient, StartPosition,
};

const PARTITIONS: u32 = 6;
const KEYS: u32 = 60;

/// Short liveness settings so the test spends its time on failovers, not on waiting.
const FAST: &str = "[replication]\nmax_replication_lag = 3000\nheartbeat_timeout_ms = 3000\n";

/// (producer, sequence) -> the partition and offset it was acknowledged at.
type Acked = Arc<Mutex<HashMap<(u32, u64), (u32, i64)>>>;

fn value(producer: u32, seq: u64) -> String {
    format!("p{producer}-{seq}")
}

fn parse(v: &[u8]) -> Option<(u32, u64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (p, q) = s.strip_prefix('p')?.split_once('-')?;
    Some((p.parse().ok()?, q.parse().ok()?))
}

async fn create_topic(c: &Cluster, name: &str, rf: u32, min_isr: u32) {
    let body = serde_json::json!({
        "name": name, "partitions": PARTITIONS, "replication_factor": rf,
        "config": {"min.insync.replicas": min_isr.to_string()},
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, v) = c.ctl.post_json(0, "/api/v1/topics", body.clone()).await;
        if code == 200 || code == 201 {
            return;
        }
        assert!(Instant::now() < deadline, "create topic: {code} {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An idempotent acks=all producer that retries for as long as it takes.
async fn producer(client: RustMqClient, topic: &str) -> rustmq_client::Producer {
    rustmq_client::ProducerBuilder::new()
        .topic(topic)
        .client(client.clone())
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            idempotent: true,
            max_retries: 10_000,
            batch_size: 50,
            batch_timeout: Duration::from_millis(2),
            ..Default::default()
        })
        .build()
        .await
        .unwrap()
}

/// Sends keyed messages until `stop`; returns how many it sent and how many sends failed for
/// good.
async fn produce(
    p: rustmq_client::Producer,
    topic: &str,
    producer: u32,
    acked: Acked,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (u64, u64) {
    let mut seq = 0u64;
    let mut failed = 0u64;
    let mut window = futures::stream::FuturesUnordered::new();
    use futures::StreamExt;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let key = format!("k{}", (seq as u32 * 7 + producer) % KEYS);
        let msg = Message::builder()
            .topic(topic)
            .key(key)
            .payload(Bytes::from(value(producer, seq)))
            .build()
            .unwrap();
        let fut = p.send_async(msg).await.unwrap();
        let s = seq;
        window.push(async move { (s, fut.await) });
        seq += 1;
        if window.len() >= 64
            && let Some((s, r)) = window.next().await
        {
            record(&acked, producer, s, r, &mut failed);
        }
    }
    while let Some((s, r)) = window.next().await {
        record(&acked, producer, s, r, &mut failed);
    }
    p.close().await.unwrap();
    (seq, failed)
}

fn record(
    acked: &Acked,
    producer: u32,
    seq: u64,
    r: Result<rustmq_client::SendResult, ClientError>,
    failed: &mut u64,
) {
    match r {
        Ok(res) => {
            acked
                .lock()
                .insert((producer, seq), (res.partition, res.offset));
        }
        Err(e) => {
            *failed += 1;
            eprintln!("send p{producer}-{seq} failed: {e}");
        }
    }
}

/// Reads every partition from offset 0 to its end: partition -> [(offset, key, value)].
async fn read_all(client: &RustMqClient, topic: &str) -> BTreeMap<u32, Vec<(i64, Bytes, Bytes)>> {
    let mut out = BTreeMap::new();
    for p in 0..PARTITIONS {
        let end = loop {
            match client
                .list_offset(topic, p, rustmq_protocol::LATEST_TIMESTAMP)
                .await
            {
                Ok(o) => break o,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let mut c = client
            .consumer(topic)
            .partitions(vec![p])
            .config(ConsumerConfig {
                start_position: StartPosition::Earliest,
                ..Default::default()
            })
            .build()
            .await
            .unwrap();
        let mut msgs = Vec::new();
        while msgs
            .last()
            .is_none_or(|(o, _, _): &(i64, Bytes, Bytes)| *o + 1 < end)
        {
            let m = tokio::time::timeout(Duration::from_secs(30), c.receive())
                .await
                .expect("reading back timed out")
                .unwrap();
            msgs.push((m.offset, m.key.unwrap_or_default(), m.payload));
        }
        out.insert(p, msgs);
    }
    out
}

/// The checker.
fn check(
    log: &BTreeMap<u32, Vec<(i64, Bytes, Bytes)>>,
    acked: &HashMap<(u32, u64), (u32, i64)>,
    sent: &HashMap<u32, u64>,
) {
    let mut at: HashMap<(u32, i64), (u32, u64)> = HashMap::new();
    let mut seen: HashSet<(u32, u64)> = HashSet::new();
    for (p, msgs) in log {
        // Per key: a producer's sequence numbers grow with the offset.
        let mut last_of_key: HashMap<(Bytes, u32), u64> = HashMap::new();
        for (off, key, val) in msgs {
            if val.as_ref() == b"warm-up" {
                continue;
            }
            let id = parse(val).unwrap_or_else(|| panic!("{p}@{off}: foreign value {val:?}"));
            assert!(
                id.1 < sent[&id.0],
                "{p}@{off}: p{}-{} was never sent",
                id.0,
                id.1
            );
            assert!(seen.insert(id), "p{}-{} appears twice", id.0, id.1);
            if let Some(prev) = last_of_key.insert((key.clone(), id.0), id.1) {
                assert!(prev < id.1, "key {key:?} out of order at {p}@{off}");
            }
            at.insert((*p, *off), id);
        }
    }
    for (id, (p, off)) in acked {
        assert_eq!(
            at.get(&(*p, *off)),
            Some(id),
            "acknowledged p{}-{} at {p}@{off} is not there",
            id.0,
            id.1
        );
    }
}

/// The test: idempotent acks=all producers at load while a random broker is killed
/// with SIGKILL and restarted, 20 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_nine_brokers_under_load_loses_no_acknowledged_message() {
    let mut c = Cluster::start(3, FAST).await;
    create_topic(&c, "chaos", 3, 2).await;
    {
        // The cluster takes writes before the chaos starts.
        let client = c.client().await;
        let p = rustmq_client::ProducerBuilder::new()
            .topic("chaos")
            .client(client)
            .config(ProducerConfig {
                ack_level: AckLevel::All,
                idempotent: true,
                ..Default::default()
            })
            .build()
            .await
            .unwrap();
        let m = Message::builder()
            .topic("chaos")
            .payload("warm-up")
            .build()
            .unwrap();
        let r = tokio::time::timeout(Duration::from_secs(30), p.send(m)).await;
        assert!(matches!(r, Ok(Ok(_))), "{r:?}\n{}", c.logs());
        p.close().await.unwrap();
    }
    let acked: Acked = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut producers = Vec::new();
    for id in 0..2 {
        let p = producer(c.client().await, "chaos").await;
        producers.push(tokio::spawn(produce(
            p,
            "chaos",
            id,
            acked.clone(),
            stop.clone(),
        )));
    }
    let kills: usize = std::env::var("RUSTMQ_CHAOS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for k in 0..kills {
        let victim = rand::random_range(0..3usize);
        let before = acked.lock().len();
        c.kill(victim);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        c.spawn(victim);
        c.wait_online(3, Duration::from_secs(60)).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = acked.lock().len();
        eprintln!(
            "kill {}/{kills}: broker {}; {now} acknowledged so far (+{})",
            k + 1,
            victim + 1,
            now - before
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = HashMap::new();
    let mut failed = 0;
    for (id, p) in producers.into_iter().enumerate() {
        let (n, f) = p.await.unwrap();
        sent.insert(id as u32, n);
        failed += f;
    }
    let acked = acked.lock().clone();
    eprintln!(
        "sent {:?}, acknowledged {}, failed {failed}",
        sent,
        acked.len()
    );
    assert!(
        acked.len() > 1000,
        "too little got through: {}\n{}",
        acked.len(),
        c.logs()
    );
    let client = c.client().await;
    let log = read_all(&client, "chaos").await;
    check(&log, &acked, &sent);
    let in_log: usize = log.values().map(Vec::len).sum();
    eprintln!("checker: {in_log} messages in the log, every acknowledged one exactly once");
}
