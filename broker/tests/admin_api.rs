//! The admin REST API of a dev node: `/health` and `/api/v1/topics`, with the
//! `{success, data, error, leader_hint}` envelope and a status code per kind of error.

mod common;

use common::TestNode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_crud_health_and_errors() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    let base = n.admin_url();
    let http = reqwest::Client::new();

    let h: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["is_leader"], true);
    assert!(h["raft_term"].as_u64().unwrap() >= 1);
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    let names: Vec<&str> = h["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "controller",
            "wal",
            "write_cache",
            "object_storage",
            "replication"
        ]
    );

    let create = |body: Value| {
        http.post(format!("{base}/api/v1/topics"))
            .json(&body)
            .send()
    };
    let r = create(
        json!({"name": "user-events", "partitions": 12, "replication_factor": 1,
        "retention_ms": 604800000, "segment_bytes": 1073741824, "compression_type": "lz4"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let env: Value = r.json().await.unwrap();
    assert_eq!(
        env,
        json!({"success": true, "data": "Topic 'user-events' created", "error": null, "leader_hint": "controller-1"})
    );

    let d: Value = http
        .get(format!("{base}/api/v1/topics/user-events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["data"]["partitions"], 12);
    assert_eq!(
        d["data"]["config"],
        json!({"retention_ms": 604800000, "segment_bytes": 1073741824, "compression_type": "lz4"})
    );
    let a = &d["data"]["partition_assignments"][0];
    assert_eq!(a["leader"], "broker-1");
    assert_eq!(a["in_sync_replicas"], json!(["broker-1"]));
    assert_eq!(a["leader_epoch"], 0);

    let list: Value = http
        .get(format!("{base}/api/v1/topics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // Each kind of bad request: status, envelope, a message that says what to fix.
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"name": "user-events", "partitions": 1}),
            409,
            "already exists",
        ),
        (
            json!({"name": "bad/name", "partitions": 1}),
            400,
            "invalid topic name",
        ),
        (
            json!({"name": "zero", "partitions": 0}),
            400,
            "invalid partition count",
        ),
        (
            json!({"name": "rf", "partitions": 1, "replication_factor": 3}),
            400,
            "insufficient brokers",
        ),
        (
            json!({"name": "cfg", "partitions": 1, "config": {"colour": "blue"}}),
            400,
            "unknown topic config",
        ),
        (
            json!({"name": "cmp", "partitions": 1, "compression_type": "brotli"}),
            400,
            "unknown compression",
        ),
        (
            json!({"name": "neg", "partitions": -1}),
            400,
            "invalid request body",
        ),
        (json!({"partitions": 1}), 400, "invalid request body"),
    ];
    for (body, status, needle) in cases {
        let r = create(body.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let env: Value = r.json().await.unwrap();
        assert_eq!(env["success"], false);
        assert!(
            env["error"].as_str().unwrap().contains(needle),
            "{body}: {}",
            env["error"]
        );
    }
    let r = http
        .post(format!("{base}/api/v1/topics"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = http
        .get(format!("{base}/api/v1/topics/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "topic 'nope' not found"
    );
    let r = http
        .get(format!("{base}/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["success"], false);

    let r = http
        .delete(format!("{base}/api/v1/topics/user-events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .delete(format!("{base}/api/v1/topics/user-events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Nothing the refused requests asked for was created.
    let list: Value = http
        .get(format!("{base}/api/v1/topics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_brokers_and_controller_membership_endpoints() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    let base = n.admin_url();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("{base}{path}");
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    n.create_topic("orders", 2).await;

    let (status, c) = get("/api/v1/cluster").await;
    assert_eq!(status, 200);
    assert_eq!(c["data"]["leader"], "controller-1");
    assert_eq!(c["data"]["healthy"], true);
    assert_eq!(c["data"]["topics"], json!(["orders"]));
    assert_eq!(c["data"]["brokers"][0]["id"], "broker-1");
    assert_eq!(c["data"]["brokers"][0]["online"], true);
    assert_eq!(c["data"]["controllers"][0]["role"], "leader");

    let (status, b) = get("/api/v1/brokers").await;
    assert_eq!(status, 200);
    assert_eq!(b["data"].as_array().unwrap().len(), 1);
    assert!(b["data"][0]["port_quic"].as_u64().unwrap() > 0);

    let (status, l) = get("/api/v1/controllers").await;
    assert_eq!(status, 200);
    assert_eq!(
        l["data"],
        // The leader reports how far each member is behind it: itself, 0.
        json!([{"id": "controller-1", "node_id": 1, "address": l["data"][0]["address"], "role": "leader", "lag": 0}])
    );

    // Error paths: each says what to fix, and the node keeps serving.
    let post = |body: Value| {
        http.post(format!("{base}/api/v1/controllers"))
            .json(&body)
            .send()
    };
    for (body, status, says) in [
        (
            json!({"id": "broker-2", "address": "h:1"}),
            400,
            "expected controller-<n>",
        ),
        (
            json!({"id": "controller-0", "address": "h:1"}),
            400,
            "expected controller-<n>",
        ),
        (
            json!({"id": "controller-2", "address": "nowhere"}),
            400,
            "expected host:port",
        ),
        (json!({"id": "controller-2"}), 400, "invalid request body"),
        // A dev node has no internal RPC: it cannot grow into a cluster.
        (
            json!({"id": "controller-2", "address": "127.0.0.1:1"}),
            400,
            "dev mode",
        ),
    ] {
        let r = post(body.clone()).await.unwrap();
        assert_eq!(r.status(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["success"], false);
        assert!(e["error"].as_str().unwrap().contains(says), "{body}: {e}");
    }
    let del = |id: &str| {
        http.delete(format!("{base}/api/v1/controllers/{id}"))
            .send()
    };
    let r = del("controller-9").await.unwrap();
    assert_eq!(r.status(), 404);
    let r = del("controller-1").await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("last voter"), "{e}");
    let r = del("nonsense").await.unwrap();
    assert_eq!(r.status(), 400);
    let (status, _) = get("/api/v1/controllers").await;
    assert_eq!(status, 200);

    // The OpenAPI document is served as generated.
    let doc = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(doc, rustmq_controller::api::openapi_json());
}

/// `/metrics` is one registry built at start: each family is described once, histograms
/// of produce (by acks level), fetch, WAL and controller latencies count what happened,
/// per-topic counters count records, the coordinator exports group lag, and scraping
/// again counts nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_registered_once_with_latencies_topic_counters_and_group_lag() {
    use rustmq_client::{AckLevel, Message, ProducerBuilder, ProducerConfig};
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let n = TestNode::start(dir.path()).await;
    n.create_topic("metered", 1).await;
    let client = n.client().await;
    for (acks, count) in [(AckLevel::Leader, 3usize), (AckLevel::All, 2)] {
        let producer = ProducerBuilder::new()
            .topic("metered")
            .config(ProducerConfig {
                ack_level: acks,
                batch_size: 1,
                ..Default::default()
            })
            .client(client.clone())
            .build()
            .await
            .unwrap();
        for i in 0..count {
            let m = Message::builder()
                .topic("metered")
                .partition(0)
                .payload(format!("m-{i}"))
                .build()
                .unwrap();
            producer.send(m).await.unwrap();
        }
        producer.close().await.unwrap();
    }
    let mut consumer = client.consumer("metered").build().await.unwrap();
    for _ in 0..5 {
        consumer.receive().await.unwrap();
    }
    client
        .commit_offsets("lagging", None, &[("metered".into(), 0, 2)])
        .await
        .unwrap();

    let first = n.metrics_text().await;
    for family in [
        "rustmq_produce_seconds",
        "rustmq_wal_fsyncs",
        "rustmq_topic_messages_in",
        "rustmq_consumer_group_lag",
        "rustmq_controller_apply_seconds",
    ] {
        let described = first
            .lines()
            .filter(|l| l.starts_with(&format!("# TYPE {family} ")))
            .count();
        assert_eq!(described, 1, "{family} described once:\n{first}");
    }
    let count = |text: &str, series: &str| {
        common::sample(text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert_eq!(
        count(&first, "rustmq_produce_seconds_count{acks=\"leader\"}"),
        3.0
    );
    assert_eq!(
        count(&first, "rustmq_produce_seconds_count{acks=\"all\"}"),
        2.0
    );
    assert_eq!(
        count(&first, "rustmq_topic_messages_in_total{topic=\"metered\"}"),
        5.0
    );
    assert!(count(&first, "rustmq_topic_bytes_in_total{topic=\"metered\"}") > 0.0);
    assert!(count(&first, "rustmq_topic_bytes_out_total{topic=\"metered\"}") > 0.0);
    assert!(count(&first, "rustmq_fetch_seconds_count") >= 1.0);
    // Five produce requests (one message each), each timed from its stream's acceptance.
    for family in ["rustmq_request_read_seconds", "rustmq_request_seconds"] {
        assert_eq!(
            count(&first, &format!("{family}_count{{api=\"produce\"}}")),
            5.0
        );
        assert!(count(&first, &format!("{family}_count{{api=\"metadata\"}}")) >= 1.0);
    }
    // Each successful produce's stages: all five appended and made durable; the two with
    // acks=all also waited for their (here, one) replica.
    for (stage, produces) in [("append", 5.0), ("durable", 5.0), ("replicated", 2.0)] {
        let series = format!("rustmq_produce_stage_seconds_count{{stage=\"{stage}\"}}");
        assert_eq!(count(&first, &series), produces, "{series}");
    }
    assert!(count(&first, "rustmq_wal_queue_wait_seconds_count") >= 5.0);
    // The runtime probe wakes every 10 ms from the broker's start; the traffic above took longer.
    assert!(count(&first, "rustmq_runtime_poll_delay_seconds_count") >= 1.0);
    // The requests above were polled as request tasks, over QUIC connection drivers; the
    // stall counters exist from the start (whether this run stalled is the machine's).
    assert!(count(&first, "rustmq_task_polls_total{task=\"request\"}") >= 5.0);
    assert!(count(&first, "rustmq_task_polls_total{task=\"quic_driver\"}") >= 5.0);
    assert!(count(&first, "rustmq_task_poll_seconds_total{task=\"request\"}") > 0.0);
    assert!(count(&first, "rustmq_runtime_stalls_total") >= 0.0);
    assert!(count(&first, "rustmq_wal_group_commit_seconds_count") >= 5.0);
    assert!(count(&first, "rustmq_wal_fsync_seconds_count") >= 1.0);
    assert!(count(&first, "rustmq_controller_commit_seconds_count") >= 1.0);
    assert!(count(&first, "rustmq_controller_apply_seconds_count") >= 1.0);
    // High watermark 5, committed 2.
    assert_eq!(
        count(
            &first,
            "rustmq_consumer_group_lag{group=\"lagging\",topic=\"metered\",partition=\"0\"}"
        ),
        3.0
    );
    let second = n.metrics_text().await;
    assert_eq!(
        count(&second, "rustmq_produce_seconds_count{acks=\"leader\"}"),
        3.0,
        "a scrape counts nothing"
    );
    assert_eq!(
        count(&second, "rustmq_topic_messages_in_total{topic=\"metered\"}"),
        5.0
    );
}
