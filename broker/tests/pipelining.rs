//! Pipelined produce on a real node: an idempotent producer keeps several requests of one
//! partition in flight; the leader appends them in sequence order even when a later request
//! arrives first, refuses a gap nothing fills (after a bounded wait) and keeps serving; a
//! request carrying several consecutive batches of one producer is appended in order.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::TestNode;
use rustmq_client::{AckLevel, Message, ProducerBuilder, ProducerConfig};
use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_protocol::records::{Compression, OutgoingRecord, encode_batch_idempotent};

fn produce_request(topic: &str, records: Bytes, timeout_ms: u32) -> proto::ProduceRequest {
    proto::ProduceRequest {
        acks: proto::Acks::Leader as i32,
        timeout_ms,
        topics: vec![proto::TopicProduceData {
            topic: topic.into(),
            partitions: vec![proto::PartitionProduceData {
                partition: 0,
                records,
            }],
        }],
        acks_replicas: 0,
    }
}

fn partition_response(r: proto::ProduceResponse) -> proto::PartitionProduceResponse {
    r.topics[0].partitions[0].clone()
}

/// Values `first..first + n` as one idempotent batch of producer `pid` at sequence `first`.
fn batch(pid: i64, first: i32, n: i32) -> Bytes {
    let records: Vec<_> = (first..first + n)
        .map(|i| OutgoingRecord::value(i.to_string()))
        .collect();
    encode_batch_idempotent(&records, Compression::None, pid, 0, first).unwrap()
}

async fn read_values(n: &TestNode, topic: &str, count: usize) -> Vec<String> {
    let mut consumer = n.client().await.consumer(topic).build().await.unwrap();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.receive())
            .await
            .expect("records arrive")
            .unwrap();
        out.push(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    out
}

/// A batch that arrives before its predecessor waits at the leader and lands after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_overtakes_its_predecessor_is_appended_after_it() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("order", 1).await;
    let broker = n.node.broker();
    let pid = broker.init_producer_id().await.producer_id;
    assert!(pid >= 0);

    let first = partition_response(
        broker
            .produce(produce_request("order", batch(pid, 0, 10), 10_000))
            .await,
    );
    assert_eq!((first.error_code, first.base_offset), (0, 0), "{first:?}");

    // Sequences 15.. arrive before 10..: the later one waits.
    let later = {
        let broker = broker.clone();
        tokio::spawn(async move {
            broker
                .produce(produce_request("order", batch(pid, 15, 5), 10_000))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !later.is_finished(),
        "the batch ahead of its sequence was answered at once"
    );
    assert_eq!(
        broker.partition_bounds("order", 0).unwrap().1,
        10,
        "nothing is appended before the missing batch"
    );
    let middle = partition_response(
        broker
            .produce(produce_request("order", batch(pid, 10, 5), 10_000))
            .await,
    );
    let later = partition_response(later.await.unwrap());
    assert_eq!(
        (middle.error_code, middle.base_offset),
        (0, 10),
        "{middle:?}"
    );
    assert_eq!((later.error_code, later.base_offset), (0, 15), "{later:?}");
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(read_values(&n, "order", 20).await, expected);
}

/// A gap no batch fills is refused once the request's timeout (bounded by the leader) has
/// passed, and the producer's sequence and the node go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_nothing_fills_is_refused_after_the_wait_and_the_sequence_goes_on() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("gap", 1).await;
    let broker = n.node.broker();
    let pid = broker.init_producer_id().await.producer_id;
    let ok = partition_response(
        broker
            .produce(produce_request("gap", batch(pid, 0, 3), 10_000))
            .await,
    );
    assert_eq!(ok.error_code, 0, "{ok:?}");
    let skipped = partition_response(
        broker
            .produce(produce_request("gap", batch(pid, 7, 1), 500))
            .await,
    );
    assert_eq!(
        skipped.error_code,
        ErrorCode::OutOfOrderSequence as i32,
        "{skipped:?}"
    );
    assert!(
        skipped.error_message.contains("did not arrive"),
        "{}",
        skipped.error_message
    );
    // Behind the sequence and not a recent batch: refused without waiting.
    let behind = partition_response(
        broker
            .produce(produce_request("gap", batch(pid, 1, 1), 10_000))
            .await,
    );
    assert_eq!(
        behind.error_code,
        ErrorCode::OutOfOrderSequence as i32,
        "{behind:?}"
    );
    let next = partition_response(
        broker
            .produce(produce_request("gap", batch(pid, 3, 2), 10_000))
            .await,
    );
    assert_eq!((next.error_code, next.base_offset), (0, 3), "{next:?}");
    assert_eq!(read_values(&n, "gap", 5).await, ["0", "1", "2", "3", "4"]);
}

/// Several consecutive batches of one producer in one request (as a Kafka client may send)
/// are appended in order, each checked after the one before it; the request retried whole
/// is recognised as in the log and answered with the same offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_batches_of_a_producer_in_one_request_are_appended_in_order() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("run", 1).await;
    let broker = n.node.broker();
    let pid = broker.init_producer_id().await.producer_id;
    let first = partition_response(
        broker
            .produce(produce_request("run", batch(pid, 0, 2), 10_000))
            .await,
    );
    assert_eq!((first.error_code, first.base_offset), (0, 0), "{first:?}");

    let three: Bytes = [batch(pid, 2, 3), batch(pid, 5, 1), batch(pid, 6, 4)]
        .concat()
        .into();
    let r = partition_response(
        broker
            .produce(produce_request("run", three.clone(), 10_000))
            .await,
    );
    assert_eq!((r.error_code, r.base_offset), (0, 2), "{r:?}");
    assert_eq!(broker.partition_bounds("run", 0).unwrap().1, 10);
    let again = partition_response(broker.produce(produce_request("run", three, 10_000)).await);
    assert_eq!((again.error_code, again.base_offset), (0, 2), "{again:?}");
    assert_eq!(
        broker.partition_bounds("run", 0).unwrap().1,
        10,
        "the retried request appended nothing"
    );
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(read_values(&n, "run", 10).await, expected);
}

/// The client's idempotent producer with small batches keeps several requests of one
/// partition in flight, and the partition holds every message once, in send order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_producer_pipelines_a_partition_in_order() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("piped", 1).await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("piped")
        .config(ProducerConfig {
            idempotent: true,
            ack_level: AckLevel::Leader,
            batch_size: 20,
            batch_timeout: Duration::ZERO,
            max_in_flight_per_partition: 5,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    const COUNT: usize = 5_000;
    let mut acks = Vec::with_capacity(COUNT);
    for i in 0..COUNT {
        let m = Message::builder()
            .topic("piped")
            .partition(0)
            .payload(i.to_string())
            .build()
            .unwrap();
        acks.push(producer.send_async(m).await.unwrap());
    }
    for (i, a) in acks.into_iter().enumerate() {
        let r = a.await.unwrap();
        assert_eq!(
            r.offset, i as i64,
            "message {i} landed at offset {}",
            r.offset
        );
    }
    let metrics = producer.metrics();
    let peak = metrics
        .partition_in_flight_peak
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        peak > 1,
        "one request per partition at a time (peak {peak}): the producer did not pipeline"
    );
    assert!(peak <= 5, "more than max_in_flight_per_partition: {peak}");
    producer.close().await.unwrap();
    let expected: Vec<String> = (0..COUNT).map(|i| i.to_string()).collect();
    assert_eq!(read_values(&n, "piped", COUNT).await, expected);
}

/// Settings outside 1..=5 are refused: the leader remembers five batches per producer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_five_requests_per_partition_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("cfg", 1).await;
    for bad in [0, 6] {
        let r = ProducerBuilder::new()
            .topic("cfg")
            .config(ProducerConfig {
                max_in_flight_per_partition: bad,
                ..Default::default()
            })
            .client(n.client().await)
            .build()
            .await;
        assert!(
            matches!(r, Err(rustmq_client::ClientError::Config(_))),
            "max_in_flight_per_partition {bad} was taken"
        );
    }
}
