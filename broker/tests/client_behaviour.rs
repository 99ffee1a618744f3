//! Client behaviour against a real node: ack levels, keyless partitioning, retries across a
//! broker restart, fetch size limits, the consumer stream.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use common::TestNode;
use futures::StreamExt;
use rustmq_client::{
    AckLevel, Message, Partitioner, ProducerBuilder, ProducerConfig, RustMqClient,
};
use rustmq_protocol::ApiKey;
use rustmq_protocol::frame;
use rustmq_protocol::proto;

async fn producer(
    c: &RustMqClient,
    topic: &str,
    config: ProducerConfig,
) -> rustmq_client::Producer {
    ProducerBuilder::new()
        .topic(topic)
        .config(config)
        .client(c.clone())
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_none_messages_are_stored_in_order() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("fire", 1).await;
    let c = n.client().await;
    let p = producer(
        &c,
        "fire",
        ProducerConfig {
            ack_level: AckLevel::None,
            ..Default::default()
        },
    )
    .await;
    for i in 0..100 {
        p.send_async(
            Message::builder()
                .topic("fire")
                .payload(format!("f{i}"))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    }
    p.flush().await.unwrap();
    let mut consumer = c.consumer("fire").build().await.unwrap();
    for i in 0..100 {
        let m = consumer.receive().await.unwrap();
        assert_eq!((m.offset, m.payload), (i, Bytes::from(format!("f{i}"))));
    }
}

/// A producer's queue-time and request-latency histograms count each acknowledged message
/// once (a window between two snapshots holds only its own), and the client reports the QUIC
/// path it sent them on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_latencies_count_each_message_and_the_quic_path_is_reported() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("timed", 2).await;
    let c = n.client().await;
    let p = producer(
        &c,
        "timed",
        ProducerConfig {
            ack_level: AckLevel::Leader,
            batch_size: 10,
            batch_timeout: Duration::from_millis(1),
            ..Default::default()
        },
    )
    .await;
    let send = |i: u32| {
        Message::builder()
            .topic("timed")
            .partition(i % 2)
            .payload(format!("t{i}"))
            .build()
            .unwrap()
    };
    for i in 0..25 {
        p.send(send(i)).await.unwrap();
        // A caller holding its result reads counters that include it.
        assert_eq!(
            p.metrics()
                .messages_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            u64::from(i) + 1
        );
    }
    let m = p.metrics();
    let (queued, requests) = (m.queue_time.snapshot(), m.request_latency.snapshot());
    assert_eq!(queued.len(), 25, "one count per message");
    assert_eq!(requests.len(), 25);
    assert!(requests.value_at_quantile(0.5) > 0);
    let mut acks = Vec::new();
    for i in 0..40 {
        acks.push(p.send_async(send(i)).await.unwrap());
    }
    for a in acks {
        a.await.unwrap();
    }
    assert_eq!(m.queue_time.snapshot().since(&queued).len(), 40);
    assert_eq!(m.request_latency.snapshot().since(&requests).len(), 40);
    // Fewer requests than messages carried them, so the counts are per message.
    assert!(m.batches_sent.load(std::sync::atomic::Ordering::Relaxed) < 65);

    // The bootstrap address and the leader's advertised one may be two connections.
    let paths = c.transport_stats().await;
    let port = format!(":{}", n.node.quic_addr().port());
    assert!(paths.iter().any(|p| p.broker.ends_with(&port)), "{paths:?}");
    for path in &paths {
        assert!(
            path.sent_packets > 0 && path.rtt > Duration::ZERO,
            "{path:?}"
        );
        assert!(path.cwnd > 0 && path.mtu >= 1200, "{path:?}");
    }
    p.close().await.unwrap();
    c.close().await;
    assert!(
        c.transport_stats().await.is_empty(),
        "a closed connection is not reported"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_messages_spread_over_partitions() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("spread", 4).await;
    let c = n.client().await;
    for partitioner in [Partitioner::Sticky, Partitioner::RoundRobin] {
        let p = producer(
            &c,
            "spread",
            ProducerConfig {
                batch_size: 10,
                partitioner,
                ..Default::default()
            },
        )
        .await;
        let results = p
            .send_batch(
                (0..200)
                    .map(|i| {
                        Message::builder()
                            .topic("spread")
                            .payload(format!("{i}"))
                            .build()
                            .unwrap()
                    })
                    .collect(),
            )
            .await
            .unwrap();
        let used: BTreeSet<u32> = results.iter().map(|r| r.partition).collect();
        assert_eq!(used.len(), 4, "{partitioner:?} used {used:?}");
        if partitioner == Partitioner::RoundRobin {
            let counts: Vec<usize> = (0..4)
                .map(|q| results.iter().filter(|r| r.partition == q).count())
                .collect();
            assert_eq!(counts, vec![50; 4]);
        }
        p.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_retries_and_reconnects_across_a_broker_restart() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let cfg = common::config(dir.path());
    let n = TestNode::start_with(cfg.clone()).await;
    n.create_topic("retry", 1).await;
    let mut cfg = cfg;
    // Restart on the same ports so the client can find the node again.
    cfg.network.quic_listen = n.node.quic_addr();
    cfg.admin.http_listen = n.node.admin_addr();
    let mut client_cfg = n.client_config();
    client_cfg.request_timeout = Duration::from_secs(2);
    // Shorter than the outage, so the producer's own retries (not only reconnects) are used.
    client_cfg.connect_timeout = Duration::from_millis(300);
    let c = RustMqClient::new(client_cfg).await.unwrap();
    let p = producer(
        &c,
        "retry",
        ProducerConfig {
            max_retries: 50,
            retry_base_delay: Duration::from_millis(50),
            retry_max_delay: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .await;
    p.send(
        Message::builder()
            .topic("retry")
            .payload("before")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    n.stop().await;
    // Sent while the broker is down: retried until it is back.
    let pending = p
        .send_async(
            Message::builder()
                .topic("retry")
                .payload("during")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = TestNode::start_with(cfg).await;
    let r = pending.await.expect("delivered after the restart");
    assert_eq!(r.offset, 1);
    assert!(
        p.metrics()
            .retries
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    let mut consumer = n.client().await.consumer("retry").build().await.unwrap();
    assert_eq!(
        consumer.receive().await.unwrap().payload,
        Bytes::from("before")
    );
    assert_eq!(
        consumer.receive().await.unwrap().payload,
        Bytes::from("during")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_honours_max_bytes_and_long_polls() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("sizes", 1).await;
    let c = n.client().await;
    let p = producer(
        &c,
        "sizes",
        ProducerConfig {
            batch_size: 1,
            ..Default::default()
        },
    )
    .await;
    for i in 0..10 {
        p.send(
            Message::builder()
                .topic("sizes")
                .payload(vec![i as u8; 1000])
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    }
    let addr = n.node.quic_addr().to_string();
    let fetch = |offset: i64, partition_max: u32, wait: u32| proto::FetchRequest {
        max_wait_ms: wait,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![proto::FetchTopic {
            topic: "sizes".into(),
            partitions: vec![proto::FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: partition_max,
            }],
        }],
    };
    let run = |req: proto::FetchRequest| {
        let c = c.clone();
        let addr = addr.clone();
        async move {
            let raw = c
                .raw_request(&addr, frame::encode(ApiKey::Fetch as u16, 1, 1, 0, &req))
                .await
                .unwrap();
            let (_, body) = frame::decode(raw, 1 << 24).unwrap();
            let r: proto::FetchResponse = frame::decode_body(body).unwrap();
            r.topics[0].partitions[0].clone()
        }
    };
    // A limit smaller than one batch still returns that one whole batch.
    let one = run(fetch(0, 10, 0)).await;
    let infos = rustmq_protocol::batch::validate(&one.records, usize::MAX).unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(one.high_watermark, 10);
    // Room for three batches.
    let three = run(fetch(0, 3 * infos[0].len as u32, 0)).await;
    assert_eq!(
        rustmq_protocol::batch::validate(&three.records, usize::MAX)
            .unwrap()
            .len(),
        3
    );
    // Out of range is a typed error.
    let bad = run(fetch(11, 1 << 20, 0)).await;
    assert_eq!(bad.error_code, proto::ErrorCode::OffsetOutOfRange as i32);
    // At the end, a long poll returns what is produced while it waits.
    let waiting = tokio::spawn(run(fetch(10, 1 << 20, 10_000)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    p.send(
        Message::builder()
            .topic("sizes")
            .payload("late")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let got = waiting.await.unwrap();
    let records = rustmq_protocol::records::decode_batches(got.records).unwrap();
    assert_eq!(records[0].offset, 10);
    assert_eq!(records[0].value.as_deref(), Some(&b"late"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_stream_yields_messages_in_order() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("s", 1).await;
    let c = n.client().await;
    let p = c.create_producer("s").await.unwrap();
    p.send_batch(
        (0..30)
            .map(|i| {
                Message::builder()
                    .topic("s")
                    .payload(format!("{i}"))
                    .build()
                    .unwrap()
            })
            .collect(),
    )
    .await
    .unwrap();
    let stream = c.consumer("s").build().await.unwrap().stream();
    let got: Vec<_> = stream.take(30).map(|m| m.unwrap().payload).collect().await;
    assert_eq!(
        got,
        (0..30)
            .map(|i| Bytes::from(format!("{i}")))
            .collect::<Vec<_>>()
    );
}

/// A producer built before its topic exists waits for the topic to show up in metadata (as
/// right after an admin API create, before every broker has it), then produces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_waits_for_a_topic_that_is_being_created() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    let c = n.client().await;
    let building = tokio::spawn({
        let c = c.clone();
        async move { producer(&c, "late", ProducerConfig::default()).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    n.create_topic("late", 1).await;
    let p = building.await.unwrap();
    let r = p
        .send(
            Message::builder()
                .topic("late")
                .payload("here")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.offset, 0);
}
