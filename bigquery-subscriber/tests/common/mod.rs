//! What the subscriber's tests run against: a real BigQuery emulator (`bqemulator`, REST on
//! a free port, its DuckDB file kept so it can be stopped and started again), a RustMQ dev
//! node in this process, and the subscriber as a child process (so it can be killed -9) or
//! in-process.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustmq_broker::Node;
use rustmq_broker::config::BrokerConfig;
use rustmq_client::{ClientConfig, RustMqClient, TlsConfig};
use serde_json::{Value, json};

pub const PROJECT: &str = "test-project";
pub const DATASET: &str = "analytics";

/// `target/ci-venv` and `target/bqemu-home`, as `.ci/test-deps` installs them.
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running bqemulator.
pub struct Emulator {
    pub port: u16,
    data: tempfile::TempDir,
    log: PathBuf,
    child: Option<Child>,
}

impl Emulator {
    /// Starts one with an empty persistent catalog and the dataset [`DATASET`].
    pub async fn start() -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut e = Self {
            port: free_port(),
            log: data.path().join("emulator.log"),
            data,
            child: None,
        };
        e.resume().await;
        let (code, body) = e
            .call(
                reqwest::Method::POST,
                "/datasets",
                json!({"datasetReference": {"projectId": PROJECT, "datasetId": DATASET}}),
            )
            .await;
        assert_eq!(code, 200, "create dataset: {body}");
        e
    }

    /// The REST base URL the subscriber is given.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/bigquery/v2", self.port)
    }

    /// Starts it (again) on the same port and data.
    pub async fn resume(&mut self) {
        let bin = std::env::var_os("RUSTMQ_BQEMU_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("ci-venv/bin/bqemulator"));
        let home = std::env::var_os("RUSTMQ_BQEMU_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("bqemu-home"));
        assert!(
            bin.exists(),
            "{} not found: run ./.ci/test-deps (installs bqemulator into target/ci-venv)",
            bin.display()
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("emulator log");
        let child = Command::new(&bin)
            .args([
                "start",
                "--persistent",
                "--project",
                PROJECT,
                "--log-level",
                "warning",
            ])
            .arg("--data-dir")
            .arg(self.data.path().join("db"))
            .args(["--rest-port", &self.port.to_string(), "--grpc-port", "0"])
            // The spatial extension was installed under this HOME; nothing is downloaded.
            .env("HOME", &home)
            .env("BQEMU_TIME_TRAVEL_RETENTION_DAYS", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("bqemulator starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        loop {
            let up = http
                .get(format!("{}/projects/{PROJECT}/datasets", self.endpoint()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "bqemulator did not start: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops it (the data stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A REST call under `/projects/PROJECT`: the status and the JSON body.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .request(
                method,
                format!("{}/projects/{PROJECT}{path}", self.endpoint()),
            )
            .json(&body)
            .send()
            .await
            .expect("emulator answers");
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates `table` with `fields` (BigQuery's JSON form).
    pub async fn create_table(&self, table: &str, fields: Value) {
        let (code, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/datasets/{DATASET}/tables"),
                json!({
                    "tableReference": {"projectId": PROJECT, "datasetId": DATASET, "tableId": table},
                    "schema": {"fields": fields},
                }),
            )
            .await;
        assert_eq!(code, 200, "create table: {body}");
    }

    /// Runs `sql`; the rows as lists of cell values.
    pub async fn query(&self, sql: &str) -> Vec<Vec<Value>> {
        let (code, body) = self
            .call(
                reqwest::Method::POST,
                "/queries",
                json!({"query": sql, "useLegacySql": false, "maxResults": 1_000_000}),
            )
            .await;
        assert_eq!(code, 200, "{sql}: {body}");
        body["rows"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                r["f"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| c["v"].clone())
                    .collect()
            })
            .collect()
    }

    /// `(partition, offset)` of every row of `table`, sorted.
    pub async fn keys(&self, table: &str) -> Vec<(u32, i64)> {
        let mut out: Vec<(u32, i64)> = self
            .query(&format!(
                "SELECT _partition, _offset FROM `{PROJECT}.{DATASET}.{table}`"
            ))
            .await
            .into_iter()
            .map(|r| {
                let n = |v: &Value| v.as_str().and_then(|s| s.parse::<i64>().ok()).unwrap_or(-1);
                (n(&r[0]) as u32, n(&r[1]))
            })
            .collect();
        out.sort();
        out
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The metadata columns plus `fields`.
pub fn with_metadata(fields: Value) -> Value {
    let mut all = vec![
        json!({"name": "_topic", "type": "STRING", "mode": "REQUIRED"}),
        json!({"name": "_partition", "type": "INTEGER", "mode": "REQUIRED"}),
        json!({"name": "_offset", "type": "INTEGER", "mode": "REQUIRED"}),
        json!({"name": "_timestamp", "type": "TIMESTAMP"}),
    ];
    all.extend(fields.as_array().cloned().unwrap_or_default());
    Value::Array(all)
}

/// A dev node in this process.
pub struct Broker {
    pub node: Node,
    pub dir: tempfile::TempDir,
}

impl Broker {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut c = BrokerConfig::dev(dir.path());
        c.network.quic_listen = "127.0.0.1:0".parse().expect("addr");
        c.network.rpc_listen = "127.0.0.1:0".parse().expect("addr");
        c.admin.http_listen = "127.0.0.1:0".parse().expect("addr");
        c.controller.election_timeout_ms = 150;
        c.controller.heartbeat_interval_ms = 50;
        c.groups.initial_rebalance_delay_ms = 300;
        c.admin.rate_limiting.enabled = false;
        let node = Node::start(c).await.expect("node starts");
        Self { node, dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.node.quic_addr()
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.node.ca_cert().cloned().expect("dev CA")
    }

    pub async fn client(&self) -> RustMqClient {
        RustMqClient::new(ClientConfig {
            brokers: vec![self.addr().to_string()],
            tls: TlsConfig {
                ca_cert: Some(self.ca_cert()),
                ..Default::default()
            },
            request_timeout: Duration::from_secs(20),
            ..Default::default()
        })
        .await
        .expect("client connects")
    }

    pub async fn create_topic(&self, name: &str, partitions: u32) {
        self.node
            .controller()
            .create_topic(name, partitions, 1, Default::default())
            .await
            .expect("topic created");
        for _ in 0..400 {
            if self.node.broker().partition_bounds(name, 0).is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("broker never saw topic {name}");
    }

    /// Produces `payloads` to `topic` (keys `k<i>` spread them), acks=all; returns when all
    /// are acknowledged.
    pub async fn produce(&self, topic: &str, payloads: impl IntoIterator<Item = String>) {
        let client = self.client().await;
        let p = rustmq_client::ProducerBuilder::new()
            .topic(topic)
            .client(client.clone())
            .config(rustmq_client::ProducerConfig {
                ack_level: rustmq_client::AckLevel::All,
                ..Default::default()
            })
            .build()
            .await
            .expect("producer");
        let mut acks = Vec::new();
        for (i, v) in payloads.into_iter().enumerate() {
            let m = rustmq_client::Message::builder()
                .topic(topic)
                .key(format!("k{i}"))
                .payload(v)
                .build()
                .expect("message");
            acks.push(p.send_async(m).await.expect("send"));
        }
        for a in acks {
            a.await.expect("acknowledged");
        }
        p.close().await.expect("close");
        client.close().await;
    }
}

/// The environment of a subscriber reading `topic` of `broker` into `table` of `emu`.
pub fn env(emu: &Emulator, broker: &Broker, topic: &str, table: &str) -> Vec<(String, String)> {
    [
        ("GCP_PROJECT_ID", PROJECT.to_string()),
        ("BIGQUERY_DATASET", DATASET.to_string()),
        ("BIGQUERY_TABLE", table.to_string()),
        ("BIGQUERY_ENDPOINT", emu.endpoint()),
        ("AUTH_METHOD", "none".to_string()),
        ("RUSTMQ_TOPIC", topic.to_string()),
        ("RUSTMQ_BROKERS", broker.addr().to_string()),
        (
            "RUSTMQ_CA_CERT",
            broker.ca_cert().to_string_lossy().into_owned(),
        ),
        ("HEALTH_LISTEN", "127.0.0.1:0".to_string()),
        ("MAX_BATCH_LATENCY_MS", "100".to_string()),
        ("RETRY_BASE_MS", "100".to_string()),
        ("RETRY_MAX_MS", "1000".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A subscriber process.
pub struct SubscriberProc {
    pub child: Child,
    pub log: PathBuf,
}

impl SubscriberProc {
    pub fn spawn(env: &[(String, String)], log: PathBuf) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_rustmq-bigquery-subscriber"))
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUSTMQ_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("subscriber starts");
        Self { child, log }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for it to exit; its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait")
    }
}

impl Drop for SubscriberProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `table` holds `n` rows (panics after `within`).
pub async fn wait_rows(emu: &Emulator, table: &str, n: usize, within: Duration) -> Vec<(u32, i64)> {
    let deadline = Instant::now() + within;
    loop {
        let keys = emu.keys(table).await;
        if keys.len() >= n {
            return keys;
        }
        assert!(
            Instant::now() < deadline,
            "{table} holds {} rows, not {n}",
            keys.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A subscriber in this process: stop it with [`InProcess::stop`].
pub struct InProcess {
    pub health: std::sync::Arc<rustmq_bigquery_subscriber::health::Health>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl InProcess {
    /// Starts one configured by `env` (as the binary reads its environment).
    pub async fn start(env: &[(String, String)]) -> Self {
        use rustmq_bigquery_subscriber::{
            config::SubscriberConfig, health::Health, subscriber::Subscriber,
        };
        let vars: std::collections::HashMap<String, String> = env.iter().cloned().collect();
        let config = SubscriberConfig::load(&|k| vars.get(k).cloned()).expect("config");
        let health = Health::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let h = health.clone();
        let task = tokio::spawn(async move {
            let s = Subscriber::start(config, h)
                .await
                .map_err(|e| e.to_string())?;
            s.run(async {
                let _ = rx.await;
            })
            .await
            .map_err(|e| e.to_string())
        });
        Self {
            health,
            stop: Some(tx),
            task,
        }
    }

    /// Asks it to stop (insert what it holds, commit, leave) and waits.
    pub async fn stop(mut self) -> Result<(), String> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.expect("subscriber task")
    }

    /// Its result if it ended by itself.
    pub async fn ended(self) -> Result<(), String> {
        self.task.await.expect("subscriber task")
    }
}

/// Sets `key` in `env`.
pub fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value.to_string()));
}
