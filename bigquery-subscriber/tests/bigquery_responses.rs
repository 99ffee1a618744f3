//! BigQuery's documented answers that the emulator does not give: it ignores `insertId`,
//! accepts rows with type errors or missing REQUIRED fields by failing the whole request, and
//! never reports per-row errors. An HTTP mock (wiremock) plays BigQuery's responses from its
//! REST reference here (`tabledata.insertAll`: `insertErrors` with reason `invalid` for a
//! bad row and `stopped` for the rows of the same request that were not inserted because of
//! it; 429 `rateLimitExceeded`; 400 for a request BigQuery refuses). The broker is real.

mod common;

use std::time::Duration;

use common::{Broker, DATASET, InProcess, PROJECT};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn table_path(table: &str) -> String {
    format!("/bigquery/v2/projects/{PROJECT}/datasets/{DATASET}/tables/{table}")
}

async fn mock_table(server: &MockServer, table: &str) {
    Mock::given(method("GET"))
        .and(path(table_path(table)))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": table},
            "schema": {"fields": common::with_metadata(json!([{"name": "n", "type": "INTEGER"}]))},
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bigquery/v2/projects/{PROJECT}/queries")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "jobComplete": true, "totalRows": "0", "rows": [],
            "jobReference": {"projectId": PROJECT, "jobId": "j1"}})))
        .mount(server)
        .await;
}

/// The `n` values of each insertAll request the mock received for `table`, in order.
async fn inserts(server: &MockServer, table: &str) -> Vec<Vec<i64>> {
    let want = format!("{}/insertAll", table_path(table));
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == want)
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            body["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    assert!(row["insertId"].as_str().unwrap().starts_with("numbers/0/"));
                    row["json"]["n"].as_i64().unwrap()
                })
                .collect()
        })
        .collect()
}

fn env(
    server: &MockServer,
    broker: &Broker,
    table: &str,
    dead: &std::path::Path,
) -> Vec<(String, String)> {
    [
        ("GCP_PROJECT_ID", PROJECT.to_string()),
        ("BIGQUERY_DATASET", DATASET.to_string()),
        ("BIGQUERY_TABLE", table.to_string()),
        ("BIGQUERY_ENDPOINT", format!("{}/bigquery/v2", server.uri())),
        ("AUTH_METHOD", "none".to_string()),
        ("RUSTMQ_TOPIC", "numbers".to_string()),
        ("RUSTMQ_CONSUMER_GROUP", format!("g-{table}")),
        ("RUSTMQ_BROKERS", broker.addr().to_string()),
        (
            "RUSTMQ_CA_CERT",
            broker.ca_cert().to_string_lossy().into_owned(),
        ),
        ("HEALTH_LISTEN", "127.0.0.1:0".to_string()),
        ("MAX_BATCH_LATENCY_MS", "200".to_string()),
        ("RETRY_BASE_MS", "50".to_string()),
        ("RETRY_MAX_MS", "200".to_string()),
        ("MAX_RETRIES", "2".to_string()),
        ("DEAD_LETTER_ACTION", "file".to_string()),
        ("DEAD_LETTER_FILE", dead.to_string_lossy().into_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn dead_letters(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_stopped_rows_are_resent_and_invalid_ones_set_aside() {
    let server = MockServer::start().await;
    let broker = Broker::start().await;
    broker.create_topic("numbers", 1).await;
    broker
        .produce("numbers", (0..5).map(|n| json!({"n": n}).to_string()))
        .await;
    mock_table(&server, "t").await;
    let insert = format!("{}/insertAll", table_path("t"));
    // First answer: throttled. Second: row 2 invalid, the others stopped. Then: inserted.
    Mock::given(method("POST")).and(path(&insert))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {
            "code": 429, "message": "Exceeded rate limits", "status": "RESOURCE_EXHAUSTED",
            "errors": [{"reason": "rateLimitExceeded", "message": "Exceeded rate limits", "domain": "global"}]}})))
        .up_to_n_times(1).with_priority(1).mount(&server).await;
    let stopped = |i: u32| json!({"index": i, "errors": [{"reason": "stopped", "message": ""}]});
    Mock::given(method("POST"))
        .and(path(&insert))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "bigquery#tableDataInsertAllResponse",
            "insertErrors": [stopped(0), stopped(1),
                {"index": 2, "errors": [{"reason": "invalid", "location": "n",
                    "message": "Cannot convert value to integer."}]},
                stopped(3), stopped(4)]})))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(&insert))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"kind": "bigquery#tableDataInsertAllResponse"})),
        )
        .with_priority(3)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let sub = InProcess::start(&env(&server, &broker, "t", &dead)).await;
    wait_for("the rows to be in", async || {
        inserts(&server, "t").await.len() >= 3
    })
    .await;
    wait_for("the dead letter", async || !dead_letters(&dead).is_empty()).await;
    let health = sub.health.clone();
    sub.stop().await.unwrap();
    assert_eq!(
        inserts(&server, "t").await,
        [vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3, 4], vec![0, 1, 3, 4]]
    );
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["offset"], 2);
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("invalid: Cannot convert")
    );
    let c = health.json();
    assert_eq!(
        (c["rows_inserted"].as_u64(), c["rows_resent"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(c["messages_failed"], 1);
    assert_eq!(health.report().status, "healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_is_retried_a_bounded_number_of_times_then_set_aside() {
    let server = MockServer::start().await;
    let broker = Broker::start().await;
    broker.create_topic("numbers", 1).await;
    broker
        .produce("numbers", (0..3).map(|n| json!({"n": n}).to_string()))
        .await;
    mock_table(&server, "r").await;
    Mock::given(method("POST")).and(path(format!("{}/insertAll", table_path("r"))))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": 400, "message": "No such field: n.", "status": "INVALID_ARGUMENT",
            "errors": [{"reason": "invalid", "message": "No such field: n.", "domain": "global"}]}})))
        .mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let sub = InProcess::start(&env(&server, &broker, "r", &dead)).await;
    wait_for("the dead letters", async || dead_letters(&dead).len() >= 3).await;
    sub.stop().await.unwrap();
    // MAX_RETRIES=2: the first attempt and two more, never a fourth.
    assert_eq!(inserts(&server, "r").await.len(), 3);
    let letters = dead_letters(&dead);
    assert_eq!(letters.len(), 3);
    assert!(
        letters
            .iter()
            .all(|l| l["reason"].as_str().unwrap().contains("No such field"))
    );
}
