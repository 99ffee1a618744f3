//! The chart's monitoring against what it watches: the alert rules load in Prometheus'
//! own `promtool` (built by `.ci/build-promtool.sh`) and pass their unit tests
//! (`tests/monitoring/alerts-test.yaml`), the dashboards are Grafana JSON, and every metric
//! either names exists in the `/metrics` output of a running broker (a dev node, which also
//! hosts a controller) or of the operator.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

mod common;

use bytes::Bytes;
use common::bins::workspace_bin;
use rustmq_broker::child::DevBroker;
use rustmq_client::{ClientConfig, Message, ProducerBuilder, RustMqClient, TlsConfig};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn chart_file(rel: &str) -> PathBuf {
    root().join("charts/rustmq-operator/files").join(rel)
}

fn promtool() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join(".ci/build-promtool.sh"))
        .output()
        .expect("run .ci/build-promtool.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("promtool")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("promtool runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}:\n{text}");
    text
}

#[test]
fn the_alert_rules_load_and_pass_their_unit_tests() {
    let promtool = promtool();
    let rules = chart_file("prometheus-rules.yaml");
    let checked = run(Command::new(&promtool).args(["check", "rules"]).arg(&rules));
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/monitoring/alerts-test.yaml");
    run(Command::new(&promtool).args(["test", "rules"]).arg(&tests));
    // Every alert has a test case.
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    let tests_text = std::fs::read_to_string(&tests).unwrap();
    let alerts: Vec<&str> = rules_text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 9, "{alerts:?}");
    for a in alerts {
        assert!(
            tests_text.contains(&format!("alertname: {a}\n")),
            "no promtool test case for {a}"
        );
    }
}

/// The dashboards: file name, parsed JSON.
fn dashboards() -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(chart_file("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
        out.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            json,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every PromQL expression of the dashboards (panel targets and variable queries).
fn dashboard_queries(d: &serde_json::Value) -> Vec<String> {
    let mut q = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        for t in p["targets"].as_array().into_iter().flatten() {
            q.extend(t["expr"].as_str().map(String::from));
        }
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        q.extend(v["query"]["query"].as_str().map(String::from));
    }
    q
}

#[test]
fn the_dashboards_are_grafana_dashboards_with_queries() {
    let all = dashboards();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "broker.json",
            "cluster-overview.json",
            "consumer-group.json",
            "operator.json",
            "tiered-storage.json",
            "topic.json"
        ]
    );
    let mut uids = BTreeSet::new();
    for (name, d) in &all {
        assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()), "{name}");
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "{name}: uid taken"
        );
        let panels = d["panels"].as_array().unwrap();
        assert!(!panels.is_empty(), "{name}");
        let mut ids = BTreeSet::new();
        for p in panels {
            assert!(
                ids.insert(p["id"].as_i64().unwrap()),
                "{name}: panel id twice"
            );
            assert!(p["gridPos"]["w"].as_i64().is_some(), "{name}: no gridPos");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{name}: {} has no query", p["title"]);
            for t in targets {
                let e = t["expr"].as_str().unwrap_or_default();
                assert!(e.contains("rustmq_"), "{name}: {e}");
                assert_eq!(
                    e.matches('(').count(),
                    e.matches(')').count(),
                    "{name}: {e}"
                );
            }
        }
    }
}

/// Metric names an expression uses (`rustmq_cluster` is a label the PodMonitors add).
fn metric_names(expr: &str) -> Vec<String> {
    let re = regex::Regex::new(r"rustmq_[a-z0-9_]+").unwrap();
    re.find_iter(expr)
        .map(|m| m.as_str().to_string())
        .filter(|n| n != "rustmq_cluster")
        .collect()
}

/// Families a `/metrics` text declares (`# TYPE name kind`).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// Whether `used` (as PromQL names it: counters with `_total`, histograms' `_bucket` ...)
/// is a sample of one of `families`.
fn exposed(used: &str, families: &BTreeSet<String>) -> bool {
    families.contains(used)
        || ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .any(|s| used.strip_suffix(s).is_some_and(|f| families.contains(f)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_alerts_and_dashboards_use_exists() {
    let mut used = BTreeSet::new();
    let rules: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(chart_file("prometheus-rules.yaml")).unwrap(),
    )
    .unwrap();
    for g in rules["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            used.extend(metric_names(r["expr"].as_str().unwrap()));
        }
    }
    for (_, d) in dashboards() {
        for q in dashboard_queries(&d) {
            used.extend(metric_names(&q));
        }
    }

    assert!(
        used.len() > 40,
        "the rules and dashboards name {} metrics",
        used.len()
    );
    // A dev node with a topic that has traffic.
    let dir = tempfile::tempdir().unwrap();
    let dev = DevBroker::spawn(&workspace_bin("rustmq-broker", "rustmq-broker"), dir.path())
        .expect("dev broker starts");
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api/v1/topics", dev.admin))
        .json(&serde_json::json!({"name": "watched", "partitions": 1}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let client = RustMqClient::new(ClientConfig {
        brokers: vec![dev.quic.clone()],
        tls: TlsConfig {
            ca_cert: Some(dev.ca_cert()),
            ..Default::default()
        },
        request_timeout: Duration::from_secs(10),
        ..Default::default()
    })
    .await
    .expect("client connects to the dev node");
    let producer = ProducerBuilder::new()
        .topic("watched")
        .client(client)
        .build()
        .await
        .unwrap();
    producer
        .send(
            Message::builder()
                .topic("watched")
                .payload(Bytes::from_static(b"x"))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let broker_metrics = http
        .get(format!("{}/metrics", dev.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut known = families(&broker_metrics);

    // The operator's, from its own registry after one reconcile and one failure.
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = rustmq_operator::metrics::Metrics::new(&mut registry);
    metrics.reconciled("topic", std::time::Instant::now());
    metrics.failed("topic", &rustmq_operator::Error::Certificate("x".into()));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    known.extend(families(&text));

    let missing: Vec<&String> = used.iter().filter(|u| !exposed(u, &known)).collect();
    assert!(
        missing.is_empty(),
        "alerts or dashboards use metrics no process exposes: {missing:?}\nexposed: {known:?}"
    );
    // The series the alerts group by carry the labels the rules expect.
    assert!(
        broker_metrics.contains("rustmq_topic_messages_in_total{topic=\"watched\"}"),
        "{broker_metrics}"
    );
    drop(dev);
}
