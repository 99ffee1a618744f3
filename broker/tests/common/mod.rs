//! The one test harness: starts dev-mode nodes in-process on ephemeral ports, connects clients
//! that verify the node's development CA, and restarts nodes on the same data directory.
#![allow(dead_code)]

pub mod disks;
pub mod emulators;
pub mod pki;
pub mod ports;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustmq_broker::Node;
use rustmq_broker::config::BrokerConfig;
use rustmq_client::{ClientConfig, RustMqClient, TlsConfig};
use rustmq_controller::metadata::TopicConfig;

/// A dev-mode config for tests: every listener on an ephemeral 127.0.0.1 port.
pub fn config(dir: &Path) -> BrokerConfig {
    let mut c = BrokerConfig::dev(dir);
    c.network.quic_listen = "127.0.0.1:0".parse().unwrap();
    c.network.rpc_listen = "127.0.0.1:0".parse().unwrap();
    c.admin.http_listen = "127.0.0.1:0".parse().unwrap();
    c.controller.election_timeout_ms = 150;
    c.controller.heartbeat_interval_ms = 50;
    c.groups.initial_rebalance_delay_ms = 300;
    // Tests poll the admin API far above the seed's limits; the limits have their own test.
    c.admin.rate_limiting.enabled = false;
    // `.ci/wal-uring-tests.sh` runs the WAL's tests again on the io_uring backend.
    c.wal.io_backend = wal_backend_under_test();
    c
}

/// `RUSTMQ_WAL__IO_BACKEND` (the broker's own override, which broker processes the tests
/// start take too), else `std`.
pub fn wal_backend_under_test() -> rustmq_broker::wal::IoBackend {
    use rustmq_broker::wal::IoBackend;
    match std::env::var("RUSTMQ_WAL__IO_BACKEND").as_deref() {
        Ok("uring") => IoBackend::Uring,
        Ok("auto") => IoBackend::Auto,
        _ => IoBackend::Std,
    }
}

pub struct TestNode {
    pub node: Node,
    pub dir: PathBuf,
}

impl TestNode {
    pub async fn start(dir: &Path) -> Self {
        Self::start_with(config(dir)).await
    }

    pub async fn start_with(config: BrokerConfig) -> Self {
        let dir = config.broker.data_dir.clone();
        let node = Node::start(config).await.expect("node starts");
        Self { node, dir }
    }

    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            brokers: vec![self.node.quic_addr().to_string()],
            tls: TlsConfig {
                ca_cert: self.node.ca_cert().cloned(),
                ..Default::default()
            },
            request_timeout: Duration::from_secs(20),
            ..Default::default()
        }
    }

    pub async fn client(&self) -> RustMqClient {
        RustMqClient::new(self.client_config())
            .await
            .expect("client connects")
    }

    pub async fn create_topic(&self, name: &str, partitions: u32) {
        self.create_topic_with(name, partitions, TopicConfig::default())
            .await
    }

    pub async fn create_topic_with(&self, name: &str, partitions: u32, config: TopicConfig) {
        self.node
            .controller()
            .create_topic(name, partitions, 1, config)
            .await
            .expect("topic created");
        // The broker picks the topic up from the metadata watch.
        for _ in 0..200 {
            if self.node.broker().partition_bounds(name, 0).is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("broker never saw topic {name}");
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}", self.node.admin_addr())
    }

    /// The node's `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("{}/metrics", self.admin_url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn stop(self) -> PathBuf {
        self.node.shutdown().await;
        self.dir
    }

    /// [`Self::stop`], then checks that nothing keeps the broker, its tier (read cache,
    /// cold-read threads) or its controller alive: a process that stops and starts nodes
    /// (tests, benchmarks, an embedding application) must not pile them up.
    #[allow(dead_code)]
    pub async fn stop_expect_freed(self) -> PathBuf {
        use std::sync::Arc;
        let broker = Arc::downgrade(self.node.broker());
        let tier = Arc::downgrade(self.node.broker().tier());
        let controller = Arc::downgrade(self.node.controller());
        let dir = self.stop().await;
        // Detached read-ahead and connection tasks may hold a reference for a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while broker.strong_count() + tier.strong_count() + controller.strong_count() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "still alive after shutdown: broker {} tier {} controller {}",
                broker.strong_count(),
                tier.strong_count(),
                controller.strong_count()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        dir
    }
}

/// GET `url` and decode the JSON body, whatever the status (errors carry the envelope).
pub async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUSTMQ_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// The value of the first sample of a `/metrics` text whose name and labels are `series`.
#[allow(dead_code)] // not every test binary reads metrics
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
