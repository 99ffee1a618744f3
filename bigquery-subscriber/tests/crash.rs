//! Kill -9 of the subscriber process at random moments while 20,000 records stream through
//! it: afterwards the table holds every record's row exactly once. Restarts reuse the
//! group instance id (as a StatefulSet pod does), so each comes back without a rebalance.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Broker, Emulator, SubscriberProc, env, set, wait_rows, with_metadata};
use rand::Rng;
use serde_json::json;

const ROWS: usize = 20_000;
const PARTITIONS: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_leaves_every_row_exactly_once() {
    let emu = Emulator::start().await;
    let broker = std::sync::Arc::new(Broker::start().await);
    broker.create_topic("stream", PARTITIONS).await;
    emu.create_table(
        "stream",
        with_metadata(json!([{"name": "n", "type": "INTEGER"}])),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut e = env(&emu, &broker, "stream", "stream");
    set(&mut e, "RUSTMQ_GROUP_INSTANCE_ID", "subscriber-0");
    set(&mut e, "MAX_ROWS_PER_BATCH", "250");
    set(&mut e, "MAX_CONCURRENT_BATCHES", "4");
    // Records keep arriving while the subscriber is killed and restarted.
    let producer = {
        let broker = broker.clone();
        tokio::spawn(async move {
            // At least 24 s of arrivals: longer than the ten kills take.
            for chunk in 0..40 {
                broker
                    .produce(
                        "stream",
                        (chunk * 500..(chunk + 1) * 500).map(|n| json!({"n": n}).to_string()),
                    )
                    .await;
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
        })
    };
    let log = dir.path().join("subscriber.log");
    let mut kills = 0;
    let mut rng = rand::rng();
    while kills < 10 {
        let mut p = SubscriberProc::spawn(&e, log.clone());
        let before = emu.keys("stream").await.len();
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
        p.kill9();
        kills += 1;
        let after = emu.keys("stream").await.len();
        eprintln!("kill -9 #{kills}: table {before} -> {after} rows");
        assert!(after < ROWS, "kill #{kills} came after the work was done");
    }
    producer.await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    set(&mut e, "HEALTH_LISTEN", &format!("127.0.0.1:{port}"));
    let mut last = SubscriberProc::spawn(&e, log.clone());
    let keys = wait_rows(&emu, "stream", ROWS, Duration::from_secs(180)).await;
    // Its /health and /metrics (Prometheus text, and the seed's JSON).
    let base = format!("http://127.0.0.1:{port}");
    let health: serde_json::Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy", "{health}");
    assert!(health["last_successful_insert"].is_string(), "{health}");
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("rustmq_bigquery_rows_inserted_total"),
        "{text}"
    );
    let counters: serde_json::Value = reqwest::get(format!("{base}/metrics?format=json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        counters["messages_received"].as_u64().is_some(),
        "{counters}"
    );
    // Anything still in flight lands, then: exactly the topic's records, once each.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let keys_now = emu.keys("stream").await;
    assert!(
        last.terminate().success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(keys_now.len(), keys.len());
    let mut per_partition: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for (p, o) in &keys_now {
        per_partition.entry(*p).or_default().push(*o);
    }
    let mut total = 0;
    for (p, offsets) in &per_partition {
        let end = broker
            .node
            .broker()
            .partition_bounds("stream", *p)
            .unwrap()
            .1;
        assert_eq!(
            offsets,
            &(0..end).collect::<Vec<_>>(),
            "partition {p}: gaps or duplicates"
        );
        total += offsets.len();
    }
    assert_eq!(total, ROWS);
    let sum = emu
        .query("SELECT SUM(n), COUNT(DISTINCT n) FROM `test-project.analytics.stream`")
        .await;
    assert_eq!(
        sum[0][0],
        json!(((ROWS as i64) * (ROWS as i64 - 1) / 2).to_string())
    );
    assert_eq!(sum[0][1], json!(ROWS.to_string()));
    assert_eq!(kills, 10);
    // SIGTERM committed everything it had inserted: the group's offsets are the ends.
    let client = broker.client().await;
    let parts: Vec<(String, u32)> = (0..PARTITIONS).map(|p| ("stream".to_string(), p)).collect();
    let committed = client
        .fetch_offsets("bigquery-analytics-stream", &parts)
        .await
        .unwrap();
    for p in 0..PARTITIONS {
        let end = broker
            .node
            .broker()
            .partition_bounds("stream", p)
            .unwrap()
            .1;
        assert_eq!(
            committed.get(&("stream".to_string(), p)),
            Some(&end),
            "partition {p}"
        );
    }
}
