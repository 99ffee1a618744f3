//! WebAssembly ETL across real processes: 3 controllers and 3 brokers. A module deployed
//! through one controller's admin API (a follower's, so the write is forwarded to the Raft
//! leader) is put in force by every broker, runs on each partition's leader, and is replaced
//! and removed the same way.

#[path = "common/cluster.rs"]
mod cluster;

use std::time::{Duration, Instant};

use base64::Engine;
use cluster::Cluster;
use rustmq_client::{AckLevel, ConsumerConfig, Message, ProducerConfig, StartPosition};
use serde_json::json;

const PARTITIONS: u32 = 3;

/// One sample of a broker's `/metrics` (`series` with its labels), 0 when absent.
async fn metric(b: &cluster::BrokerProc, series: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", b.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Every broker's `rustmq_etl_pipeline_version`, in broker order.
async fn versions(c: &Cluster) -> Vec<u64> {
    let mut out = Vec::new();
    for b in &c.brokers {
        out.push(metric(b, "rustmq_etl_pipeline_version").await as u64);
    }
    out
}

async fn wait_everywhere(c: &Cluster, version: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = versions(c).await;
        if v.iter().all(|&x| x == version) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "brokers run ETL versions {v:?}, not {version}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `n` messages to `topic` (keys spread them over every partition) and reads every
/// partition back: (partition, value, `enriched-by` header values) per record.
async fn round_trip(
    c: &Cluster,
    topic: &str,
    tag: &str,
    n: u32,
) -> Vec<(u32, String, Vec<String>)> {
    let client = c.client().await;
    let producer = rustmq_client::ProducerBuilder::new()
        .topic(topic)
        .client(client.clone())
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            idempotent: true,
            ..Default::default()
        })
        .build()
        .await
        .unwrap();
    for i in 0..n {
        producer
            .send(
                Message::builder()
                    .topic(topic)
                    .key(format!("{tag}-{i}"))
                    .payload(format!("{tag}-{i}"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    producer.close().await.unwrap();
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        let mut consumer = client
            .consumer(topic)
            .partitions(vec![p])
            .config(ConsumerConfig {
                start_position: StartPosition::Earliest,
                ..Default::default()
            })
            .build()
            .await
            .unwrap();
        // Everything this round sent to `p` is there once the consumer reaches the end.
        let end = client
            .list_offset(topic, p, rustmq_protocol::LATEST_TIMESTAMP)
            .await
            .unwrap();
        while out
            .iter()
            .filter(|(q, _, _): &&(u32, String, Vec<String>)| *q == p)
            .count()
            < end as usize
        {
            let m = tokio::time::timeout(Duration::from_secs(30), consumer.receive())
                .await
                .expect("reading back timed out")
                .unwrap();
            let tags = m
                .headers
                .iter()
                .filter(|(k, _)| k == "enriched-by")
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                .collect();
            out.push((p, String::from_utf8_lossy(&m.payload).into_owned(), tags));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_module_deployed_on_one_controller_runs_on_every_broker() {
    let c = Cluster::start(3, "[etl]\nenabled = true\n").await;
    let topic = json!({"name": "orders", "partitions": PARTITIONS, "replication_factor": 3});
    let (code, body) = c.ctl.post_json(0, "/api/v1/topics", topic).await;
    assert!(code == 200 || code == 201, "{code} {body}");
    // Three partitions with RF 3 on three brokers: each broker leads at least one once
    // placement spreads leadership, and every broker follows the others.
    let leaders: std::collections::BTreeSet<usize> = {
        let mut l = std::collections::BTreeSet::new();
        for p in 0..PARTITIONS {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some((b, _)) = c.leader_of("orders", p).await {
                    l.insert(b);
                    break;
                }
                assert!(Instant::now() < deadline, "orders/{p} has no leader");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        l
    };

    let enrich = rustmq_etl::examples::c("enrich").unwrap();
    let leader = c.ctl.leader(Duration::from_secs(10)).await;
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let mut version = 0;
    for tag in ["v1", "v2"] {
        let body = json!({
            "name": "tag",
            "priority": 1,
            "topic_filters": [{"kind": "exact", "pattern": "orders"}],
            "config": tag,
            "wasm_base64": base64::engine::general_purpose::STANDARD.encode(&enrich),
        });
        let (code, env) = c.ctl.post_json(follower, "/api/v1/etl/modules", body).await;
        assert_eq!(code, 201, "{env}");
        version = env["data"]["version"].as_u64().unwrap();
        wait_everywhere(&c, version).await;
        let records = round_trip(&c, "orders", tag, 30).await;
        let this_round: Vec<_> = records
            .iter()
            .filter(|(_, v, _)| v.starts_with(&format!("{tag}-")))
            .collect();
        assert_eq!(this_round.len(), 30);
        for (p, v, tags) in &this_round {
            assert_eq!(tags, &vec![tag.to_string()], "{v} on partition {p}");
        }
        // Every partition got some of them, so every leader ran the module.
        for p in 0..PARTITIONS {
            assert!(
                this_round.iter().any(|(q, _, _)| *q == p),
                "nothing of {tag} on partition {p}"
            );
        }
    }
    // Placement spreads the three leaders over the three brokers, so each ran the module.
    assert_eq!(leaders.len(), 3, "leaders {leaders:?}");
    for b in &c.brokers {
        let ran = metric(b, "rustmq_etl_module_records_total{module=\"tag\"}").await;
        assert!(ran > 0.0, "broker {} never ran the module", b.id);
    }
    let removed = reqwest::Client::new()
        .delete(c.ctl.url(follower, "/api/v1/etl/modules/tag"))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status().as_u16(), 200);
    wait_everywhere(&c, version + 1).await;
    let records = round_trip(&c, "orders", "plain", 9).await;
    for (_, v, tags) in records.iter().filter(|(_, v, _)| v.starts_with("plain-")) {
        assert!(tags.is_empty(), "{v} was tagged {tags:?} after the removal");
    }
}
