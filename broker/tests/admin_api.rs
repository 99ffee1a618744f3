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
        ["controller", "wal", "write_cache", "object_storage"]
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
