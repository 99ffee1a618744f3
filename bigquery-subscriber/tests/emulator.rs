//! The subscriber against a real BigQuery emulator (bqemulator, REST) and a real RustMQ node:
//! the three mappings, invalid rows set aside (and only they), two members sharing a topic,
//! the emulator stopped for a while, a table that cannot take the rows, and table creation.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Broker, DATASET, Emulator, InProcess, PROJECT, env, set, wait_rows, with_metadata};
use serde_json::{Value, json};

fn row_values(rows: Vec<Vec<Value>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| match v {
                    Value::String(s) => s,
                    Value::Null => "null".into(),
                    v => v.to_string(),
                })
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_mappings_write_the_rows_they_describe() {
    let emu = Emulator::start().await;
    let broker = Broker::start().await;
    broker.create_topic("events", 1).await;
    let payloads: Vec<String> = (0..20)
        .map(|i| {
            json!({"id": format!("e{i}"), "user": {"id": i, "tags": ["a", format!("t{i}")]},
                   "action": "click", "score": i as f64 / 2.0})
            .to_string()
        })
        .collect();
    broker.produce("events", payloads).await;

    // direct: top-level fields are columns; the nested object is JSON text.
    emu.create_table(
        "direct",
        with_metadata(json!([
        {"name": "id", "type": "STRING"}, {"name": "user", "type": "STRING"},
        {"name": "action", "type": "STRING"}, {"name": "score", "type": "FLOAT"}])),
    )
    .await;
    // nested: RECORD and REPEATED columns.
    emu.create_table("nested", with_metadata(json!([
        {"name": "id", "type": "STRING", "mode": "REQUIRED"},
        {"name": "user", "type": "RECORD", "fields": [
            {"name": "id", "type": "INTEGER"}, {"name": "tags", "type": "STRING", "mode": "REPEATED"}]},
        {"name": "action", "type": "STRING"}, {"name": "score", "type": "FLOAT"}]))).await;
    // custom: picked by dotted path, defaults filled in.
    emu.create_table(
        "custom",
        with_metadata(json!([
        {"name": "event_id", "type": "STRING"}, {"name": "user_id", "type": "INTEGER"},
        {"name": "second_tag", "type": "STRING"}, {"name": "version", "type": "STRING"},
        {"name": "processed_at", "type": "TIMESTAMP"}])),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let custom_file = dir.path().join("custom.toml");
    std::fs::write(
        &custom_file,
        r#"
[schema]
mapping = "custom"
[schema.column_mappings]
"id" = "event_id"
"user.id" = "user_id"
"user.tags.1" = "second_tag"
[schema.default_values]
"version" = "1.0"
"processed_at" = "CURRENT_TIMESTAMP()"
"#,
    )
    .unwrap();

    let mut subs = Vec::new();
    for (table, mapping) in [
        ("direct", "direct"),
        ("nested", "nested"),
        ("custom", "custom"),
    ] {
        let mut e = env(&emu, &broker, "events", table);
        set(&mut e, "SCHEMA_MAPPING", mapping);
        if mapping == "custom" {
            set(&mut e, "CONFIG_FILE", &custom_file.to_string_lossy());
        }
        subs.push(InProcess::start(&e).await);
    }
    for table in ["direct", "nested", "custom"] {
        let keys = wait_rows(&emu, table, 20, Duration::from_secs(60)).await;
        assert_eq!(keys, (0..20).map(|o| (0, o)).collect::<Vec<_>>(), "{table}");
    }
    let t = |name: &str| format!("`{PROJECT}.{DATASET}.{name}`");
    let direct = row_values(
        emu.query(&format!(
            "SELECT id, user, action, score, _topic FROM {} WHERE _offset = 3",
            t("direct")
        ))
        .await,
    );
    assert_eq!(
        direct,
        [[
            "e3",
            r#"{"id":3,"tags":["a","t3"]}"#,
            "click",
            "1.5",
            "events"
        ]]
    );
    let nested = row_values(
        emu.query(&format!(
            "SELECT id, user.id, user.tags FROM {} WHERE _offset = 4",
            t("nested")
        ))
        .await,
    );
    assert_eq!(nested[0][0..2], ["e4".to_string(), "4".to_string()]);
    assert!(nested[0][2].contains("t4"), "{nested:?}");
    let custom = row_values(
        emu.query(&format!(
            "SELECT event_id, user_id, second_tag, version, processed_at FROM {} WHERE _offset = 5",
            t("custom")
        ))
        .await,
    );
    assert_eq!(custom[0][0..4], ["e5", "5", "t5", "1.0"].map(String::from));
    assert_ne!(custom[0][4], "null");
    for s in subs {
        s.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rows_reach_the_dead_letter_topic_and_only_they() {
    let emu = Emulator::start().await;
    let broker = Broker::start().await;
    broker.create_topic("orders", 2).await;
    broker.create_topic("orders.bigquery-dlq", 1).await;
    emu.create_table(
        "orders",
        with_metadata(json!([
        {"name": "order_id", "type": "INTEGER", "mode": "REQUIRED"},
        {"name": "amount", "type": "NUMERIC"}])),
    )
    .await;
    let mut payloads = Vec::new();
    let mut bad = BTreeSet::new();
    for i in 0..200 {
        let p = match i % 20 {
            3 => format!("not json at all {i}"),
            7 => json!({"amount": i}).to_string(),
            11 => json!({"order_id": "eleven", "amount": i}).to_string(),
            15 => json!({"order_id": i, "colour": "red"}).to_string(),
            _ => json!({"order_id": i, "amount": i * 3}).to_string(),
        };
        if matches!(i % 20, 3 | 7 | 11 | 15) {
            bad.insert(p.clone());
        }
        payloads.push(p);
    }
    broker.produce("orders", payloads.clone()).await;
    let mut e = env(&emu, &broker, "orders", "orders");
    set(&mut e, "DEAD_LETTER_ACTION", "dead_letter_queue");
    let sub = InProcess::start(&e).await;
    let good = payloads.len() - bad.len();
    wait_rows(&emu, "orders", good, Duration::from_secs(60)).await;
    // The dead letters: the bad records, each once, with why and from where.
    let client = broker.client().await;
    let mut dlq = client
        .consumer("orders.bigquery-dlq")
        .start_position(rustmq_client::StartPosition::Earliest)
        .build()
        .await
        .unwrap();
    let mut seen = BTreeSet::new();
    while seen.len() < bad.len() {
        let m = tokio::time::timeout(Duration::from_secs(30), dlq.receive())
            .await
            .expect("dead letters arrive")
            .unwrap();
        let why = String::from_utf8_lossy(m.header("rustmq.bigquery.error").unwrap()).into_owned();
        let from =
            String::from_utf8_lossy(m.header("rustmq.bigquery.source").unwrap()).into_owned();
        let payload = String::from_utf8_lossy(&m.payload).into_owned();
        assert!(from.starts_with("orders/"), "{from}");
        match () {
            _ if payload.starts_with("not json") => assert!(why.contains("not JSON"), "{why}"),
            _ if payload.contains("eleven") => assert!(why.contains("is not an INTEGER"), "{why}"),
            _ if payload.contains("colour") => {
                assert!(why.contains("colour: no such column"), "{why}")
            }
            _ => assert!(why.contains("order_id: required and missing"), "{why}"),
        }
        assert!(seen.insert(payload.clone()), "{payload} set aside twice");
    }
    assert_eq!(seen, bad);
    // Let the subscriber finish, then: nothing more in the table or the dead-letter topic.
    let report = sub.health.json();
    sub.stop().await.unwrap();
    assert_eq!(emu.keys("orders").await.len(), good);
    assert_eq!(report["messages_failed"], bad.len());
    let more = tokio::time::timeout(Duration::from_secs(2), dlq.receive()).await;
    assert!(more.is_err(), "an extra dead letter: {more:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_subscribers_in_one_group_share_the_partitions_and_write_each_row_once() {
    let emu = Emulator::start().await;
    let broker = Broker::start().await;
    broker.create_topic("clicks", 4).await;
    emu.create_table(
        "clicks",
        with_metadata(json!([{"name": "n", "type": "INTEGER"}])),
    )
    .await;
    let e = env(&emu, &broker, "clicks", "clicks");
    let a = InProcess::start(&e).await;
    let b = InProcess::start(&e).await;
    broker
        .produce("clicks", (0..4000).map(|n| json!({"n": n}).to_string()))
        .await;
    let keys = wait_rows(&emu, "clicks", 4000, Duration::from_secs(120)).await;
    let distinct: BTreeSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "duplicates in the table");
    let (pa, pb) = (
        a.health.json()["messages_processed"].as_u64().unwrap(),
        b.health.json()["messages_processed"].as_u64().unwrap(),
    );
    assert!(pa > 0 && pb > 0, "one member did everything: {pa} and {pb}");
    assert!(pa + pb >= 4000);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    let n = emu
        .query("SELECT SUM(n) FROM `test-project.analytics.clicks`")
        .await;
    assert_eq!(n[0][0], json!((0..4000).sum::<i64>().to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emulator_outage_degrades_health_and_loses_nothing() {
    let mut emu = Emulator::start().await;
    let broker = Broker::start().await;
    broker.create_topic("metrics", 2).await;
    emu.create_table(
        "metrics",
        with_metadata(json!([{"name": "n", "type": "INTEGER"}])),
    )
    .await;
    let sub = InProcess::start(&env(&emu, &broker, "metrics", "metrics")).await;
    broker
        .produce("metrics", (0..500).map(|n| json!({"n": n}).to_string()))
        .await;
    wait_rows(&emu, "metrics", 500, Duration::from_secs(60)).await;
    assert_eq!(sub.health.report().status, "healthy");
    emu.stop();
    broker
        .produce("metrics", (500..1000).map(|n| json!({"n": n}).to_string()))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sub.health.report().status != "degraded" {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            sub.health.report()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(sub.health.json()["insert_retries"].as_u64().unwrap() >= 2);
    emu.resume().await;
    let keys = wait_rows(&emu, "metrics", 1000, Duration::from_secs(60)).await;
    assert_eq!(keys.len(), 1000, "duplicates after the outage");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sub.health.report().status != "healthy" {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            sub.health.report()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_the_metadata_columns_is_refused_clearly_and_tables_can_be_created() {
    let emu = Emulator::start().await;
    let broker = Broker::start().await;
    broker.create_topic("t", 1).await;
    emu.create_table("plain", json!([{"name": "n", "type": "INTEGER"}]))
        .await;
    let sub = InProcess::start(&env(&emu, &broker, "t", "plain")).await;
    let health = sub.health.clone();
    let e = sub.ended().await.unwrap_err();
    assert!(
        e.contains("table schema mismatch") && e.contains("_topic"),
        "{e}"
    );
    assert_eq!(health.report().status, "unhealthy");
    // A missing table without AUTO_CREATE_TABLE: said so.
    let e = InProcess::start(&env(&emu, &broker, "t", "missing"))
        .await
        .ended()
        .await
        .unwrap_err();
    assert!(
        e.contains("does not exist") && e.contains("AUTO_CREATE_TABLE"),
        "{e}"
    );
    // With it, the table is made from [schema] fields plus the metadata columns.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        r#"
auto_create_table = true
[schema]
mapping = "nested"
[[schema.fields]]
name = "n"
type = "INTEGER"
mode = "REQUIRED"
"#,
    )
    .unwrap();
    let mut e = env(&emu, &broker, "t", "created");
    set(&mut e, "CONFIG_FILE", &file.to_string_lossy());
    let sub = InProcess::start(&e).await;
    broker
        .produce("t", (0..10).map(|n| json!({"n": n}).to_string()))
        .await;
    wait_rows(&emu, "created", 10, Duration::from_secs(60)).await;
    sub.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_view_shows_each_record_once() {
    let emu = Emulator::start().await;
    let broker = Broker::start().await;
    broker.create_topic("v", 1).await;
    emu.create_table(
        "v",
        with_metadata(json!([{"name": "n", "type": "INTEGER"}])),
    )
    .await;
    let mut e = env(&emu, &broker, "v", "v");
    set(&mut e, "CREATE_DEDUP_VIEW", "true");
    let sub = InProcess::start(&e).await;
    broker
        .produce("v", (0..10).map(|n| json!({"n": n}).to_string()))
        .await;
    wait_rows(&emu, "v", 10, Duration::from_secs(60)).await;
    sub.stop().await.unwrap();
    // What an at-least-once path can leave behind: offsets 3 and 7 twice.
    let dup = |o: i64| {
        json!({"json": {"_topic": "v", "_partition": 0, "_offset": o, "n": o,
        "_timestamp": "2030-01-01T00:00:00Z"}})
    };
    let (code, body) = emu
        .call(
            reqwest::Method::POST,
            &format!("/datasets/{DATASET}/tables/v/insertAll"),
            json!({"rows": [dup(3), dup(7)]}),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(emu.keys("v").await.len(), 12);
    let view = emu
        .query(&format!(
            "SELECT _offset, n FROM `{PROJECT}.{DATASET}.v_dedup` ORDER BY _offset"
        ))
        .await;
    let offsets: Vec<String> = view
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(offsets, (0..10).map(|o| o.to_string()).collect::<Vec<_>>());
}
