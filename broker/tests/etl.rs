//! WebAssembly ETL in the produce path of a real dev node: modules deployed through the admin
//! API (bytes through Raft) run on the partition leader before the WAL append; what they
//! return is what consumers read. Example modules are built from source (C with clang, WAT);
//! hostile ones are written here. Covers idempotent producers through splitters and
//! droppers, every failure policy, limits, hot swaps under load, metrics, and that nothing
//! changes on the produce path when ETL is off or no module applies.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use common::TestNode;
use rustmq_broker::config::BrokerConfig;
use rustmq_client::{AckLevel, Message, ProducerBuilder, ProducerConfig};
use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_protocol::records::{
    Compression, ConsumedRecord, OutgoingRecord, decode_batches, encode_batch,
    encode_batch_idempotent,
};
use serde_json::{Value, json};

fn etl_config(dir: &std::path::Path) -> BrokerConfig {
    let mut c = common::config(dir);
    c.etl.enabled = true;
    c
}

async fn etl_node(dir: &std::path::Path) -> TestNode {
    TestNode::start_with(etl_config(dir)).await
}

/// `POST /api/v1/etl/modules`: the status and the envelope.
async fn post_module(n: &TestNode, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/etl/modules", n.admin_url()))
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn module_body(name: &str, wasm: &[u8], filters: Value, config: &str, on_error: Value) -> Value {
    json!({
        "name": name,
        "priority": 1,
        "topic_filters": filters,
        "config": config,
        "on_error": on_error,
        "wasm_base64": base64::engine::general_purpose::STANDARD.encode(wasm),
    })
}

/// Deploys a module and waits until the node's pipeline runs that ETL version.
async fn deploy(n: &TestNode, body: Value) -> u64 {
    let (status, env) = post_module(n, &body).await;
    assert_eq!(status, 201, "{env}");
    let version = env["data"]["version"].as_u64().unwrap();
    wait_pipeline(n, version).await;
    version
}

async fn pipeline_version(n: &TestNode) -> u64 {
    common::sample(&n.metrics_text().await, "rustmq_etl_pipeline_version").unwrap_or(0.0) as u64
}

async fn wait_pipeline(n: &TestNode, version: u64) {
    for _ in 0..1000 {
        if pipeline_version(n).await >= version {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the broker never put ETL version {version} in force");
}

fn filter(kind: &str, pattern: &str) -> Value {
    json!([{"kind": kind, "pattern": pattern}])
}

fn reject() -> Value {
    json!({"action": "reject"})
}

/// Produces `records` (already encoded batches) to `topic`/0 in-process, acks=all.
async fn produce_raw(n: &TestNode, topic: &str, records: Bytes) -> proto::PartitionProduceResponse {
    let resp = n
        .node
        .broker()
        .produce(proto::ProduceRequest {
            acks: proto::Acks::All as i32,
            timeout_ms: 10_000,
            topics: vec![proto::TopicProduceData {
                topic: topic.into(),
                partitions: vec![proto::PartitionProduceData {
                    partition: 0,
                    records,
                }],
            }],
            acks_replicas: 0,
        })
        .await;
    resp.topics[0].partitions[0].clone()
}

/// Everything stored in `topic`/`partition`: the raw batches and their records.
async fn read_all(n: &TestNode, topic: &str, partition: u32) -> (Bytes, Vec<ConsumedRecord>) {
    let (_, end) = n.node.broker().partition_bounds(topic, partition).unwrap();
    let mut raw = bytes::BytesMut::new();
    let mut next = 0i64;
    while next < end {
        let resp = n
            .node
            .broker()
            .fetch(proto::FetchRequest {
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: 64 << 20,
                topics: vec![proto::FetchTopic {
                    topic: topic.into(),
                    partitions: vec![proto::FetchPartition {
                        partition,
                        fetch_offset: next,
                        partition_max_bytes: 64 << 20,
                    }],
                }],
            })
            .await;
        let p = &resp.topics[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch {topic}/{partition} at {next}");
        assert!(!p.records.is_empty(), "no records at {next} of {end}");
        let infos = rustmq_protocol::batch::validate(&p.records, 64 << 20).unwrap();
        for b in rustmq_protocol::batch::split(&p.records, &infos) {
            let last = rustmq_protocol::batch::last_offset(&b);
            if last >= next {
                raw.extend_from_slice(&b);
                next = last + 1;
            }
        }
    }
    let raw = raw.freeze();
    let records = decode_batches(raw.clone()).unwrap();
    (raw, records)
}

fn values(records: &[ConsumedRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or(b"<none>")).into_owned())
        .collect()
}

fn header<'a>(r: &'a ConsumedRecord, name: &str) -> Vec<&'a [u8]> {
    r.headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_deref().unwrap_or_default())
        .collect()
}

fn tombstone(key: &str) -> OutgoingRecord {
    OutgoingRecord {
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        value: None,
        headers: vec![("h".into(), Bytes::from_static(b"x"))],
        timestamp: 1_700_000_000_000,
    }
}

/// The tombstone dropper with its drop turned into a trap: fails on tombstones only.
fn trap_on_tombstone() -> Vec<u8> {
    let text =
        std::fs::read_to_string(rustmq_etl::examples::dir().join("drop_tombstones.wat")).unwrap();
    let trapping = text.replace("(then (i64.const 1))", "(then unreachable)");
    assert_ne!(trapping, text, "drop_tombstones.wat changed its shape");
    wat::parse_str(trapping).unwrap()
}

fn metric(text: &str, name: &str, module: &str) -> f64 {
    common::sample(text, &format!("rustmq_{name}{{module=\"{module}\"}}")).unwrap_or(0.0)
}

/// Masking and enriching in priority order on the topics the filters name; other topics
/// are stored untouched; per-module figures in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_modules_transform_records_on_the_topics_they_filter() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = etl_node(dir.path()).await;
    n.create_topic("users.signup", 1).await;
    n.create_topic("orders", 1).await;
    let mask = rustmq_etl::examples::c("pii_mask").unwrap();
    let enrich = rustmq_etl::examples::c("enrich").unwrap();
    let mut tag = module_body(
        "tag-edge",
        &enrich,
        filter("prefix", "users."),
        "edge-1",
        reject(),
    );
    tag["priority"] = json!(2);
    deploy(&n, tag).await;
    deploy(
        &n,
        module_body(
            "mask-pii",
            &mask,
            filter("regex", r"^users\."),
            "",
            reject(),
        ),
    )
    .await;

    let client = n.client().await;
    for topic in ["users.signup", "orders"] {
        let producer = ProducerBuilder::new()
            .topic(topic)
            .client(client.clone())
            .build()
            .await
            .unwrap();
        for i in 0..10 {
            producer
                .send(
                    Message::builder()
                        .topic(topic)
                        .key(format!("k{i}"))
                        .payload(format!("alice{i}@example.com paid with 4111111111111111"))
                        .build()
                        .unwrap(),
                )
                .await
                .unwrap();
        }
        producer.close().await.unwrap();
    }
    let (_, users) = read_all(&n, "users.signup", 0).await;
    assert_eq!(users.len(), 10);
    for (i, r) in users.iter().enumerate() {
        let v = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap();
        assert_eq!(v, "******@example.com paid with ****************");
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
        assert_eq!(header(r, "enriched-by"), [&b"edge-1"[..]]);
    }
    let (_, orders) = read_all(&n, "orders", 0).await;
    assert_eq!(orders.len(), 10);
    assert!(orders.iter().all(|r| header(r, "enriched-by").is_empty()));
    assert!(values(&orders)[3].contains("alice3@example.com"));

    let m = n.metrics_text().await;
    assert_eq!(metric(&m, "etl_module_records_total", "mask-pii"), 10.0);
    assert_eq!(metric(&m, "etl_module_records_total", "tag-edge"), 10.0);
    assert_eq!(metric(&m, "etl_module_errors_total", "mask-pii"), 0.0);
    assert_eq!(
        common::sample(
            &m,
            "rustmq_etl_module_record_seconds_count{module=\"tag-edge\"}"
        ),
        Some(10.0)
    );
    assert!(metric(&m, "etl_module_peak_memory_bytes", "tag-edge") >= 65536.0);
    n.stop().await;
}

/// An idempotent producer's batches through a splitter and a tombstone dropper: a batch
/// that grows, one that disappears, retries of both are recognised as duplicates (nothing
/// stored twice) and the producer's next sequence is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_batches_keep_their_sequences_through_splits_and_drops() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = etl_node(dir.path()).await;
    n.create_topic("lines", 1).await;
    let split = rustmq_etl::examples::c("split").unwrap();
    let drop = rustmq_etl::examples::wat("drop_tombstones").unwrap();
    deploy(
        &n,
        module_body(
            "split-lines",
            &split,
            filter("exact", "lines"),
            "",
            reject(),
        ),
    )
    .await;
    deploy(
        &n,
        module_body(
            "drop-tombstones",
            &drop,
            filter("exact", "lines"),
            "",
            reject(),
        ),
    )
    .await;
    let id = n.node.broker().init_producer_id().await;
    assert_eq!(id.error_code, 0, "{id:?}");
    let pid = id.producer_id;
    assert!(pid >= 0);
    let batch = |records: &[OutgoingRecord], seq: i32| {
        encode_batch_idempotent(records, Compression::Lz4, pid, 0, seq).unwrap()
    };
    // 3 records in, 4 out.
    let grows = batch(
        &[
            OutgoingRecord::value("a\nb\nc"),
            tombstone("gone"),
            OutgoingRecord::value("d"),
        ],
        0,
    );
    // 2 records in, none out.
    let vanishes = batch(&[tombstone("t1"), tombstone("t2")], 3);
    let after = batch(&[OutgoingRecord::value("e\nf")], 5);

    let r1 = produce_raw(&n, "lines", grows.clone()).await;
    assert_eq!((r1.error_code, r1.base_offset), (0, 0), "{r1:?}");
    let r2 = produce_raw(&n, "lines", vanishes.clone()).await;
    assert_eq!(r2.error_code, 0, "{r2:?}");
    let r3 = produce_raw(&n, "lines", after).await;
    assert_eq!(r3.error_code, 0, "{r3:?}");
    let (_, end) = n.node.broker().partition_bounds("lines", 0).unwrap();
    // Retries of the growing and the vanishing batch: duplicates, answered with where the
    // first landed.
    let again1 = produce_raw(&n, "lines", grows).await;
    assert_eq!(
        (again1.error_code, again1.base_offset),
        (0, 0),
        "{again1:?}"
    );
    let again2 = produce_raw(&n, "lines", vanishes).await;
    assert_eq!(again2.error_code, 0, "{again2:?}");
    assert_eq!(again2.base_offset, r2.base_offset);
    assert_eq!(n.node.broker().partition_bounds("lines", 0).unwrap().1, end);
    // The next sequence is in order; one that skips is not.
    let next = produce_raw(&n, "lines", batch(&[OutgoingRecord::value("g")], 6)).await;
    assert_eq!(next.error_code, 0, "{next:?}");
    let skipped = produce_raw(&n, "lines", batch(&[OutgoingRecord::value("h")], 9)).await;
    assert_eq!(
        skipped.error_code,
        ErrorCode::OutOfOrderSequence as i32,
        "{skipped:?}"
    );
    let (_, stored) = read_all(&n, "lines", 0).await;
    assert_eq!(values(&stored), ["a", "b", "c", "d", "e", "f", "g"]);

    // The client's idempotent producer through the same modules.
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("lines")
        .config(ProducerConfig {
            idempotent: true,
            ack_level: AckLevel::All,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let mut acks = Vec::new();
    for i in 0..500 {
        acks.push(
            producer
                .send_async(
                    Message::builder()
                        .topic("lines")
                        .payload(format!("{i}-x\n{i}-y"))
                        .build()
                        .unwrap(),
                )
                .await
                .unwrap(),
        );
    }
    for a in acks {
        a.await.unwrap();
    }
    producer.close().await.unwrap();
    let (_, stored) = read_all(&n, "lines", 0).await;
    let tail = values(&stored[7..]);
    let want: Vec<String> = (0..500)
        .flat_map(|i| [format!("{i}-x"), format!("{i}-y")])
        .collect();
    assert_eq!(tail, want);
    n.stop().await;
}

/// `reject` (the default): the whole produce fails with `ETL_REJECTED` naming the module,
/// nothing is stored, and the partition takes the next produce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reject_policy_refuses_the_produce_and_stores_nothing() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = etl_node(dir.path()).await;
    n.create_topic("strict", 1).await;
    deploy(
        &n,
        module_body(
            "no-tombstones",
            &trap_on_tombstone(),
            filter("exact", "strict"),
            "",
            reject(),
        ),
    )
    .await;
    let refused = produce_raw(
        &n,
        "strict",
        encode_batch(
            &[OutgoingRecord::value("fine"), tombstone("bad")],
            Compression::None,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(
        refused.error_code,
        ErrorCode::EtlRejected as i32,
        "{refused:?}"
    );
    assert!(
        refused.error_message.contains("no-tombstones"),
        "{}",
        refused.error_message
    );
    assert_eq!(n.node.broker().partition_bounds("strict", 0), Some((0, 0)));
    let ok = produce_raw(
        &n,
        "strict",
        encode_batch(&[OutgoingRecord::value("fine")], Compression::None).unwrap(),
    )
    .await;
    assert_eq!((ok.error_code, ok.base_offset), (0, 0), "{ok:?}");
    // The client sees a typed, non-retriable error (from a module that fails on anything:
    // the client cannot send tombstones).
    n.create_topic("always", 1).await;
    deploy(
        &n,
        module_body(
            "always-traps",
            &rustmq_etl::examples::with_process("unreachable").unwrap(),
            filter("exact", "always"),
            "",
            reject(),
        ),
    )
    .await;
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("always")
        .client(client)
        .build()
        .await
        .unwrap();
    let err = producer
        .send(
            Message::builder()
                .topic("always")
                .payload("p")
                .build()
                .unwrap(),
        )
        .await;
    match err {
        Err(rustmq_client::ClientError::Server { code, .. }) => {
            assert_eq!(code, ErrorCode::EtlRejected);
            assert!(!code.is_retriable());
        }
        other => panic!("expected ETL_REJECTED, got {other:?}"),
    }
    let m = n.metrics_text().await;
    // The refused batch stopped at its first failing record; the later good produce added none.
    assert_eq!(metric(&m, "etl_module_errors_total", "no-tombstones"), 1.0);
    assert!(metric(&m, "etl_module_errors_total", "always-traps") >= 1.0);
    n.stop().await;
}

/// `dead_letter`: the records a module fails on go, as they came plus where from and why,
/// to the dead-letter topic before the produce is acknowledged; the rest go on. A missing
/// dead-letter topic refuses the produce rather than lose the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_policy_sets_failing_records_aside() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = etl_node(dir.path()).await;
    n.create_topic("in", 1).await;
    n.create_topic("in.dlq", 1).await;
    n.create_topic("lost", 1).await;
    let wasm = trap_on_tombstone();
    deploy(
        &n,
        module_body(
            "to-dlq",
            &wasm,
            filter("exact", "in"),
            "",
            json!({"action": "dead_letter", "topic": "in.dlq"}),
        ),
    )
    .await;
    deploy(
        &n,
        module_body(
            "to-nowhere",
            &wasm,
            filter("exact", "lost"),
            "",
            json!({"action": "dead_letter", "topic": "no.such.topic"}),
        ),
    )
    .await;
    let r = produce_raw(
        &n,
        "in",
        encode_batch(
            &[
                OutgoingRecord::value("v1"),
                tombstone("k2"),
                OutgoingRecord::value("v3"),
            ],
            Compression::Zstd,
        )
        .unwrap(),
    )
    .await;
    assert_eq!(r.error_code, 0, "{r:?}");
    let (_, kept) = read_all(&n, "in", 0).await;
    assert_eq!(values(&kept), ["v1", "v3"]);
    let (_, dead) = read_all(&n, "in.dlq", 0).await;
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.key.as_deref(), Some(&b"k2"[..]));
    assert_eq!(d.value, None);
    assert_eq!(d.timestamp, 1_700_000_000_000);
    assert_eq!(header(d, "h"), [&b"x"[..]]);
    assert_eq!(header(d, "rustmq.etl.source"), [&b"in/0"[..]]);
    let why = String::from_utf8_lossy(header(d, "rustmq.etl.error")[0]).into_owned();
    assert!(why.contains("to-dlq"), "{why}");

    let r = produce_raw(
        &n,
        "lost",
        encode_batch(&[tombstone("k")], Compression::None).unwrap(),
    )
    .await;
    assert_eq!(r.error_code, ErrorCode::EtlRejected as i32, "{r:?}");
    assert!(r.error_message.contains("no.such.topic"), "{r:?}");
    assert_eq!(n.node.broker().partition_bounds("lost", 0), Some((0, 0)));
    n.stop().await;
}

/// Limits through the broker: a module that never returns is stopped at its time limit, a
/// memory bomb fails at its cap; their policies (drop, pass) apply, the produce succeeds
/// and the broker keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_modules_are_stopped_and_the_broker_serves_on() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = etl_node(dir.path()).await;
    n.create_topic("spin", 1).await;
    n.create_topic("bomb", 1).await;
    let spin =
        rustmq_etl::examples::with_process("(loop $forever (br $forever)) i64.const 0").unwrap();
    let mut body = module_body(
        "spin",
        &spin,
        filter("exact", "spin"),
        "",
        json!({"action": "drop"}),
    );
    body["execution_timeout_ms"] = json!(300);
    deploy(&n, body).await;
    let bomb = rustmq_etl::examples::with_process(
        "(loop $grow (br_if $grow (i32.ge_s (memory.grow (i32.const 16)) (i32.const 0)))) unreachable",
    )
    .unwrap();
    let mut body = module_body(
        "bomb",
        &bomb,
        filter("exact", "bomb"),
        "",
        json!({"action": "pass"}),
    );
    body["memory_limit_bytes"] = json!(4 << 20);
    deploy(&n, body).await;

    let one = || encode_batch(&[OutgoingRecord::value("r")], Compression::None).unwrap();
    let r = produce_raw(&n, "spin", one()).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    assert_eq!(n.node.broker().partition_bounds("spin", 0), Some((0, 0)));
    let r = produce_raw(&n, "bomb", one()).await;
    assert_eq!((r.error_code, r.base_offset), (0, 0), "{r:?}");
    let (_, stored) = read_all(&n, "bomb", 0).await;
    assert_eq!(values(&stored), ["r"]);

    let m = n.metrics_text().await;
    assert_eq!(metric(&m, "etl_module_timeouts_total", "spin"), 1.0);
    assert_eq!(metric(&m, "etl_module_drops_total", "spin"), 1.0);
    assert_eq!(metric(&m, "etl_module_errors_total", "bomb"), 1.0);
    let peak = metric(&m, "etl_module_peak_memory_bytes", "bomb");
    assert!(peak > 0.0 && peak <= (4 << 20) as f64, "peak {peak}");
    // Both again: recycled instances, same outcome.
    assert_eq!(produce_raw(&n, "spin", one()).await.error_code, 0);
    assert_eq!(produce_raw(&n, "bomb", one()).await.base_offset, 1);
    n.stop().await;
}

/// With ETL off, with ETL on and no module for the topic, and with a module that keeps
/// every record as it is, the stored batch is the producer's (only the offset and leader
/// epoch fields, which the broker always sets, differ).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_bytes_are_the_produced_bytes_when_no_module_changes_them() {
    common::init_tracing();
    let produced = encode_batch(
        &(0..50)
            .map(|i| OutgoingRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("value {i} {}", "x".repeat(i * 7)))),
                headers: vec![("h".into(), Bytes::from(format!("{i}")))],
                timestamp: 1_700_000_000_000 + i as i64,
            })
            .collect::<Vec<_>>(),
        Compression::Lz4,
    )
    .unwrap();
    let same = |stored: &Bytes| {
        assert_eq!(stored.len(), produced.len());
        // baseOffset (0..8) and partitionLeaderEpoch (12..16) are the broker's to set.
        assert_eq!(stored[8..12], produced[8..12]);
        assert_eq!(stored[16..], produced[16..]);
    };
    let off = tempfile::tempdir().unwrap();
    let n = TestNode::start(off.path()).await;
    n.create_topic("t", 1).await;
    assert_eq!(produce_raw(&n, "t", produced.clone()).await.error_code, 0);
    same(&read_all(&n, "t", 0).await.0);
    assert!(!n.metrics_text().await.contains("etl_pipeline_version"));
    n.stop().await;

    let on = tempfile::tempdir().unwrap();
    let n = etl_node(on.path()).await;
    n.create_topic("t", 1).await;
    n.create_topic("u", 1).await;
    let noop = rustmq_etl::examples::wat("noop").unwrap();
    deploy(
        &n,
        module_body("elsewhere", &noop, filter("exact", "other"), "", reject()),
    )
    .await;
    deploy(
        &n,
        module_body("keep-all", &noop, filter("exact", "u"), "", reject()),
    )
    .await;
    assert_eq!(produce_raw(&n, "t", produced.clone()).await.error_code, 0);
    same(&read_all(&n, "t", 0).await.0);
    assert_eq!(produce_raw(&n, "u", produced.clone()).await.error_code, 0);
    same(&read_all(&n, "u", 0).await.0);
    let m = n.metrics_text().await;
    assert_eq!(metric(&m, "etl_module_records_total", "keep-all"), 50.0);
    assert_eq!(metric(&m, "etl_module_records_total", "elsewhere"), 0.0);
    n.stop().await;
}

/// Redeploying a module while 100k records are produced: no produce fails, and every
/// stored record carries the tag of exactly one module version (a request runs under one
/// pipeline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_during_100k_produces_fail_none_and_tag_each_record_once() {
    common::init_tracing();
    const TOTAL: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let n = Arc::new(etl_node(dir.path()).await);
    n.create_topic("hot", 4).await;
    let enrich = rustmq_etl::examples::c("enrich").unwrap();
    let body = move |v: u32| {
        module_body(
            "tagger",
            &enrich,
            filter("exact", "hot"),
            &format!("v{v}"),
            reject(),
        )
    };
    deploy(&n, body(1)).await;

    let acked = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    // The ETL version the second deployment made (0 until then).
    let second = Arc::new(AtomicU64::new(0));
    let swapper = {
        let (n, acked, done, second) = (n.clone(), acked.clone(), done.clone(), second.clone());
        let body = body.clone();
        tokio::spawn(async move {
            let mut swaps = 0u32;
            for v in 2..=6 {
                // Swap at a fifth, two fifths... of the acknowledged records, without
                // pausing the producer.
                while acked.load(Ordering::Relaxed) < u64::from(v - 1) * TOTAL / 6 {
                    if done.load(Ordering::Relaxed) {
                        return swaps;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let (status, env) = post_module(&n, &body(v)).await;
                assert_eq!(status, 201, "{env}");
                if v == 2 {
                    second.store(env["data"]["version"].as_u64().unwrap(), Ordering::Relaxed);
                }
                swaps += 1;
            }
            swaps
        })
    };
    let client = n.client().await;
    let producer = ProducerBuilder::new()
        .topic("hot")
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            ..Default::default()
        })
        .client(client)
        .build()
        .await
        .unwrap();
    let mut pending = std::collections::VecDeque::new();
    for i in 0..TOTAL {
        pending.push_back(
            producer
                .send_async(
                    Message::builder()
                        .topic("hot")
                        .key(format!("k{}", i % 64))
                        .payload(format!("record {i}"))
                        .build()
                        .unwrap(),
                )
                .await
                .unwrap(),
        );
        // Halfway, wait for the second version so at least two are in the log whatever
        // the machine's speed.
        if i == TOTAL / 2 {
            loop {
                let v = second.load(Ordering::Relaxed);
                if v > 0 && pipeline_version(&n).await >= v {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        while pending.len() > 2000 {
            pending
                .pop_front()
                .unwrap()
                .await
                .expect("no produce fails");
            acked.fetch_add(1, Ordering::Relaxed);
        }
    }
    for p in pending {
        p.await.expect("no produce fails");
        acked.fetch_add(1, Ordering::Relaxed);
    }
    producer.close().await.unwrap();
    done.store(true, Ordering::Relaxed);
    let swaps = swapper.await.unwrap();
    assert!(swaps >= 1);

    let mut total = 0u64;
    let mut per_version = std::collections::BTreeMap::<String, u64>::new();
    for p in 0..4 {
        let (_, records) = read_all(&n, "hot", p).await;
        for r in &records {
            let tags = header(r, "enriched-by");
            assert_eq!(tags.len(), 1, "record {} of hot/{p}: {tags:?}", r.offset);
            *per_version
                .entry(String::from_utf8_lossy(tags[0]).into_owned())
                .or_default() += 1;
        }
        total += records.len() as u64;
    }
    assert_eq!(total, TOTAL);
    assert!(
        per_version.contains_key("v1") && per_version.len() >= 2,
        "{per_version:?}"
    );
    assert!(
        per_version
            .keys()
            .all(|v| (1..=6).any(|k| *v == format!("v{k}"))),
        "{per_version:?}"
    );
    tracing::info!(?per_version, swaps, "records per module version");
}

/// The admin API refuses what would not run, with the reason, and answers 404 for modules
/// it does not have; list and describe show what runs, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_checks_modules_before_deploying_them() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = etl_node(dir.path()).await;
    let http = reqwest::Client::new();
    let base = format!("{}/api/v1/etl/modules", n.admin_url());
    let noop = rustmq_etl::examples::wat("noop").unwrap();

    let mut not_base64 = module_body("m", &noop, filter("exact", "t"), "", reject());
    not_base64["wasm_base64"] = json!("%%% not base64");
    let importing = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1) (func (export "rustmq_etl_v1"))
            (func (export "alloc") (param i32) (result i32) i32.const 0)
            (func (export "process") (param i32 i32) (result i64) i64.const 0))"#,
    )
    .unwrap();
    let bad_regex = module_body("m", &noop, filter("regex", "(unclosed"), "", reject());
    let no_filter = module_body("m", &noop, json!([]), "", reject());
    let mut bad_priority = module_body("m", &noop, filter("exact", "t"), "", reject());
    bad_priority["priority"] = json!(7);
    let mut unknown_field = module_body("m", &noop, filter("exact", "t"), "", reject());
    unknown_field["retries"] = json!(3);
    for (body, says) in [
        (not_base64, "base64"),
        (
            module_body(
                "m",
                b"\0asm\x01\0\0\0garbage",
                filter("exact", "t"),
                "",
                reject(),
            ),
            "invalid ETL module",
        ),
        (
            module_body("m", &importing, filter("exact", "t"), "", reject()),
            "fd_write",
        ),
        (bad_regex, "unclosed"),
        (no_filter, "filter"),
        (bad_priority, "priority"),
        (
            module_body("bad name!", &noop, filter("exact", "t"), "", reject()),
            "name",
        ),
        (unknown_field, "retries"),
    ] {
        let (status, env) = post_module(&n, &body).await;
        assert_eq!(status, 400, "{env}");
        let error = env["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{says}: {error}");
    }
    let list = common::get_json(&http, &base).await;
    assert_eq!(list["data"]["version"], 0);
    assert_eq!(list["data"]["modules"], json!([]));

    let mut last = module_body("z-format", &noop, filter("suffix", ".out"), "{}", reject());
    last["priority"] = json!(2);
    let v1 = deploy(&n, last).await;
    let v2 = deploy(
        &n,
        module_body("a-validate", &noop, filter("prefix", "in."), "", reject()),
    )
    .await;
    assert!(v2 > v1);
    // The same module and settings again: nothing changes.
    let (status, env) = post_module(
        &n,
        &module_body("a-validate", &noop, filter("prefix", "in."), "", reject()),
    )
    .await;
    assert_eq!((status, env["data"]["version"].as_u64()), (201, Some(v2)));
    let list = common::get_json(&http, &base).await;
    let names: Vec<&str> = list["data"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-validate", "z-format"]);
    let one = common::get_json(&http, &format!("{base}/z-format")).await;
    assert_eq!(one["data"]["priority"], 2);
    assert_eq!(one["data"]["size_bytes"], noop.len());
    assert_eq!(one["data"]["topic_filters"][0]["kind"], "suffix");
    assert_eq!(one["data"]["on_error"]["action"], "reject");
    assert_eq!(one["data"]["digest"].as_str().unwrap().len(), 64);

    for (method, path) in [
        (reqwest::Method::GET, "nope"),
        (reqwest::Method::DELETE, "nope"),
    ] {
        let r = http
            .request(method, format!("{base}/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = http
        .delete(format!("{base}/z-format"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let env: Value = r.json().await.unwrap();
    let v3 = env["data"]["version"].as_u64().unwrap();
    wait_pipeline(&n, v3).await;
    let list = common::get_json(&http, &base).await;
    assert_eq!(list["data"]["modules"].as_array().unwrap().len(), 1);
    n.stop().await;
}
