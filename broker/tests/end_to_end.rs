//! Produce and consume through a real dev-mode node: ordering under concurrency, large
//! batches, keys, timestamps, restarts.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use common::TestNode;
use rustmq_client::{
    AckLevel, Compression, Message, ProducerBuilder, ProducerConfig, StartPosition,
};
use rustmq_protocol::partitioner::partition_for_key;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_consume_roundtrip_with_keys_and_headers() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("orders", 4).await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("orders")
        .config(ProducerConfig {
            compression: Compression::Lz4,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..200 {
        let key = format!("user-{}", i % 7);
        let r = producer
            .send_async(
                Message::builder()
                    .topic("orders")
                    .key(key.clone())
                    .payload(format!("order-{i}"))
                    .header("seq", i.to_string())
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        sent.push((key, i, r));
    }
    let mut acked = Vec::new();
    for (key, i, f) in sent {
        let r = f.await.unwrap();
        // Keys land where Kafka's default partitioner puts them.
        assert_eq!(r.partition, partition_for_key(key.as_bytes(), 4));
        acked.push((r.partition, r.offset, i));
    }
    producer.close().await.unwrap();
    assert_eq!(
        producer
            .metrics()
            .messages_sent
            .load(std::sync::atomic::Ordering::Relaxed),
        200
    );

    let mut consumer = client.consumer("orders").build().await.unwrap();
    let mut got = BTreeMap::new();
    while got.len() < 200 {
        let m = consumer.receive().await.unwrap();
        let seq: i32 = std::str::from_utf8(m.header("seq").unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(m.payload, Bytes::from(format!("order-{seq}")));
        got.insert((m.partition, m.offset), seq);
    }
    for (p, o, i) in acked {
        assert_eq!(got.get(&(p, o)), Some(&i), "message {i} at {p}/{o}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_producers_get_unique_contiguous_offsets() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("c", 1).await;
    let client = n.client().await;
    let mut tasks = Vec::new();
    for w in 0..32 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let producer = ProducerBuilder::new()
                .topic("c")
                .config(ProducerConfig {
                    batch_size: 1 + (w % 5),
                    batch_timeout: Duration::from_millis(1),
                    ..Default::default()
                })
                .client(client)
                .build()
                .await
                .unwrap();
            let mut out = Vec::new();
            for i in 0..50 {
                let payload = format!("w{w}-m{i}");
                let r = producer
                    .send(
                        Message::builder()
                            .topic("c")
                            .payload(payload.clone())
                            .build()
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                out.push((r.offset, payload));
            }
            producer.close().await.unwrap();
            out
        }));
    }
    let mut acked = BTreeMap::new();
    for t in tasks {
        for (o, p) in t.await.unwrap() {
            assert!(
                acked.insert(o, p).is_none(),
                "offset {o} acknowledged twice"
            );
        }
    }
    assert_eq!(acked.len(), 32 * 50);
    let offsets: Vec<i64> = acked.keys().copied().collect();
    assert_eq!(
        offsets,
        (0..1600).collect::<Vec<_>>(),
        "offsets are contiguous from 0"
    );
    let mut consumer = client.consumer("c").build().await.unwrap();
    for (o, p) in &acked {
        let m = consumer.receive().await.unwrap();
        assert_eq!(m.offset, *o);
        assert_eq!(m.payload, Bytes::from(p.clone()));
    }
}

/// The 10 MiB fetch response is over `network.bulk_response_bytes` (1 MiB by default) but
/// reaches the end of the log: its consumer is at the tail, so it stays on the ordinary lane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_mib_batch_roundtrips() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("big", 1).await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("big")
        .config(ProducerConfig {
            max_message_size: 11 * 1024 * 1024,
            batch_bytes: 11 * 1024 * 1024,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let payload: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let r = producer
        .send(
            Message::builder()
                .topic("big")
                .payload(payload.clone())
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.offset, 0);
    let mut consumer = client.consumer("big").build().await.unwrap();
    let m = consumer.receive().await.unwrap();
    assert_eq!(m.payload.len(), payload.len());
    assert!(m.payload == payload);
    assert_eq!(n.node.bulk_lanes().bulk_responses(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_on_the_bulk_lane_arrives_whole_and_in_order_then_tails() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    // Every fetch response of more than 4 KiB that leaves records behind moves the
    // connection to the bulk runtime (its driver too); one that reaches the end moves it back.
    cfg.network.bulk_response_bytes = 4096;
    let n = TestNode::start_with(cfg).await;
    n.create_topic("bulk", 2).await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("bulk")
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let body = |i: usize| -> Vec<u8> {
        (0..700 + i % 300)
            .map(|j| ((i * 31 + j) % 251) as u8)
            .collect()
    };
    let message = |i: usize| {
        Message::builder()
            .topic("bulk")
            .partition((i % 2) as u32)
            .payload(body(i))
            .build()
            .unwrap()
    };
    let mut acks = Vec::new();
    for i in 0..3000 {
        acks.push(producer.send_async(message(i)).await.unwrap());
    }
    for a in acks {
        a.await.unwrap();
    }
    // 64 KiB per partition per fetch: the ~1.3 MB each partition holds takes many fetches,
    // each leaving records behind.
    let mut consumer = client
        .consumer("bulk")
        .partitions(vec![0, 1])
        .config(rustmq_client::ConsumerConfig {
            partition_max_bytes: 64 * 1024,
            ..Default::default()
        })
        .start_position(StartPosition::Earliest)
        .build()
        .await
        .unwrap();
    let mut next = [0usize, 1usize];
    for _ in 0..3000 {
        let m = consumer.receive().await.unwrap();
        let p = m.partition as usize;
        assert_eq!(
            m.payload.as_ref(),
            body(next[p]).as_slice(),
            "partition {p}"
        );
        next[p] += 2;
    }
    assert_eq!(next, [3000, 3001]);
    let served = n.node.bulk_lanes().bulk_responses();
    assert!(served > 0, "no fetch went through the bulk lane");
    // At the tail the responses are small again: the same connection moves back and keeps
    // producing and consuming.
    for i in 3000..3010 {
        producer.send(message(i)).await.unwrap();
        let got = consumer.receive().await.unwrap();
        assert_eq!(got.payload.as_ref(), body(i).as_slice());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_topics_and_messages_and_timestamps_seek() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("keep", 2).await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("keep")
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let base_ts = 1_700_000_000_000i64;
    for i in 0..100i64 {
        producer
            .send(
                Message::builder()
                    .topic("keep")
                    .partition((i % 2) as u32)
                    .timestamp(base_ts + i * 1000)
                    .payload(format!("m{i}"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    producer.close().await.unwrap();
    client.close().await;
    let dir_path = n.stop().await;

    let n = TestNode::start(&dir_path).await;
    assert!(n.node.controller().metadata().topics.contains_key("keep"));
    assert_eq!(n.node.broker().partition_bounds("keep", 0), Some((0, 50)));
    let client = n.client().await;
    // Message 60 is on partition 0 (even) at offset 30 with timestamp base + 60s.
    let mut consumer = client
        .consumer("keep")
        .partitions(vec![0])
        .start_position(StartPosition::Timestamp(base_ts + 59_500))
        .build()
        .await
        .unwrap();
    let m = consumer.receive().await.unwrap();
    assert_eq!((m.offset, m.payload.clone()), (30, Bytes::from("m60")));
    consumer.seek(0, 0).unwrap();
    assert_eq!(consumer.receive().await.unwrap().payload, Bytes::from("m0"));
    consumer
        .seek_to_timestamp(0, base_ts + 98_000)
        .await
        .unwrap();
    assert_eq!(
        consumer.receive().await.unwrap().payload,
        Bytes::from("m98")
    );
    assert_eq!(
        client
            .list_offset("keep", 1, base_ts + 1_000_000)
            .await
            .unwrap(),
        -1
    );
    assert_eq!(client.list_offset("keep", 1, -1).await.unwrap(), 50);
    // Latest consumers see only new messages.
    let mut tail = client
        .consumer("keep")
        .partitions(vec![1])
        .start_position(StartPosition::Latest)
        .build()
        .await
        .unwrap();
    let p2 = client.create_producer("keep").await.unwrap();
    p2.send(
        Message::builder()
            .topic("keep")
            .partition(1)
            .payload("new")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let m = tail.receive().await.unwrap();
    assert_eq!((m.offset, m.payload), (50, Bytes::from("new")));
}

/// A node also runs on a current-thread runtime (nothing may assume worker threads).
#[tokio::test(flavor = "current_thread")]
async fn node_runs_on_a_current_thread_runtime() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("ct", 1).await;
    let client = n.client().await;
    let p = client.create_producer("ct").await.unwrap();
    p.send(Message::builder().topic("ct").payload("x").build().unwrap())
        .await
        .unwrap();
    let mut c = client.consumer("ct").build().await.unwrap();
    assert_eq!(c.receive().await.unwrap().payload, Bytes::from("x"));
    client.close().await;
    let d = n.stop().await;
    // And restarts (WAL recovery) on one too.
    let n = TestNode::start(&d).await;
    assert_eq!(n.node.broker().partition_bounds("ct", 0), Some((0, 1)));
}

/// Fetch responses in flight share `network.max_in_flight_fetch_bytes`: with a budget far
/// below what six concurrent catch-up consumers ask for, every consumer still reads every
/// message, the bytes held at once never exceeded the budget, and all of it is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_share_a_bounded_in_flight_budget() {
    common::init_tracing();
    const BUDGET: u64 = 256 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::config(dir.path());
    cfg.network.max_in_flight_fetch_bytes = BUDGET;
    let n = TestNode::start_with(cfg).await;
    n.create_topic("wide", 4).await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("wide")
        .client(client.clone())
        .build()
        .await
        .unwrap();
    const PER_PARTITION: u32 = 300;
    let body = "x".repeat(2048);
    let mut pending = Vec::new();
    for i in 0..PER_PARTITION * 4 {
        let m = Message::builder()
            .topic("wide")
            .partition(i % 4)
            .payload(format!("{i}:{body}"))
            .build()
            .unwrap();
        pending.push(producer.send_async(m).await.unwrap());
    }
    for f in pending {
        f.await.unwrap();
    }
    producer.close().await.unwrap();

    let readers = (0..6).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut consumer = client
                .consumer("wide")
                .config(rustmq_client::ConsumerConfig {
                    fetch_max_bytes: 1024 * 1024,
                    partition_max_bytes: 512 * 1024,
                    ..Default::default()
                })
                .build()
                .await
                .unwrap();
            let mut seen = std::collections::BTreeSet::new();
            while seen.len() < (PER_PARTITION * 4) as usize {
                let m = consumer.receive().await.unwrap();
                let text = std::str::from_utf8(&m.payload).unwrap();
                let (i, rest) = text.split_once(':').unwrap();
                assert_eq!(rest.len(), 2048);
                seen.insert(i.parse::<u32>().unwrap());
            }
            seen
        })
    });
    for r in futures::future::join_all(readers).await {
        let seen = r.unwrap();
        assert_eq!(seen, (0..PER_PARTITION * 4).collect());
    }
    let metric = |text: &str, name: &str| -> u64 {
        common::sample(text, name).unwrap_or_else(|| panic!("no {name} in:\n{text}")) as u64
    };
    let text = n.metrics_text().await;
    let peak = metric(&text, "rustmq_fetch_in_flight_peak_bytes");
    assert!(peak > 0, "fetches reserved room:\n{text}");
    assert!(peak <= BUDGET, "peak {peak} within the budget {BUDGET}");
    // Consumers are gone; their last responses release their room once sent.
    let mut text = text;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while metric(&text, "rustmq_fetch_in_flight_bytes") != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "room never given back:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = n.metrics_text().await;
    }
}
