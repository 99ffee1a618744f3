//! Real processes: 3 `rustmq-controller`s (the controller crate's harness) and N
//! `rustmq-broker`s in observer mode on 127.0.0.1, sharing one local object store directory
//! (as brokers share a bucket), with kill -9, SIGTERM and restarts.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustmq_client::{ClientConfig, RustMqClient};

#[path = "../../../controller/tests/common/mod.rs"]
pub mod controllers;

pub struct BrokerProc {
    pub id: u32,
    pub quic: SocketAddr,
    /// Internal RPC (heartbeats, metadata, replica fetches).
    pub rpc: SocketAddr,
    pub http: SocketAddr,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

pub struct Cluster {
    pub ctl: controllers::Cluster,
    pub brokers: Vec<BrokerProc>,
}

fn free_udp() -> SocketAddr {
    rustmq_transport::testing::loopback_addr()
}

fn free_tcp() -> SocketAddr {
    rustmq_transport::testing::loopback_addr()
}

impl Cluster {
    /// 3 controllers and `brokers` brokers; `extra` is appended to every broker.toml.
    pub async fn start(brokers: u32, extra: &str) -> Self {
        Self::start_with(brokers, extra, false).await
    }

    /// Like [`Cluster::start`], with the controllers and every broker's internal RPC behind
    /// the harness's UDP fault proxies (brokers advertise their proxy's port), so
    /// [`Cluster::cut_off`] can isolate a broker from the controllers and the other brokers.
    pub async fn start_with(brokers: u32, extra: &str, proxied: bool) -> Self {
        let ctl = if proxied {
            controllers::Cluster::start_proxied(3)
        } else {
            controllers::Cluster::start(3)
        };
        Self::with_controllers(ctl, brokers, extra).await
    }

    /// Like [`Cluster::start`], with `env` set for every controller process (for example
    /// `RUSTMQ_AUTOBALANCER__ENABLED=true`).
    #[allow(dead_code)]
    pub async fn start_with_controller_env(
        brokers: u32,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let ctl = controllers::Cluster::start_with_env(3, env);
        Self::with_controllers(ctl, brokers, extra).await
    }

    async fn with_controllers(ctl: controllers::Cluster, brokers: u32, extra: &str) -> Self {
        let proxied = ctl.is_proxied();
        ctl.leader(Duration::from_secs(30)).await;
        let root = ctl.root.path().to_path_buf();
        let endpoints: Vec<String> = ctl
            .nodes
            .iter()
            .map(|n| format!("\"{}\"", n.peer))
            .collect();
        let mut procs = Vec::new();
        for id in 1..=brokers {
            let b = BrokerProc {
                id,
                rpc: free_udp(),
                quic: free_udp(),
                http: free_tcp(),
                config: root.join(format!("broker-{id}.toml")),
                log: root.join(format!("broker-{id}.log")),
                child: None,
            };
            let advertised = if proxied {
                format!("advertised_rpc_port = {}\n", ctl.proxy(b.rpc).port())
            } else {
                String::new()
            };
            let toml = format!(
                "[broker]\nid = {id}\nrack_id = \"rack-{id}\"\ndata_dir = \"{data}\"\n\n\
                 [network]\nquic_listen = \"{quic}\"\nrpc_listen = \"{rpc}\"\n{advertised}\n\
                 [admin]\nhttp_listen = \"{http}\"\n\n\
                 [controller]\nendpoints = [{endpoints}]\ndev_certificates_dir = \"{certs}\"\n\n\
                 [object_storage]\nstorage_type = \"Local\"\nlocal_path = \"{objects}\"\n\n{extra}\n",
                data = root.join(format!("broker-{id}")).display(),
                quic = b.quic,
                rpc = b.rpc,
                http = b.http,
                endpoints = endpoints.join(", "),
                certs = root.join("certs").display(),
                objects = root.join("objects").display(),
            );
            std::fs::write(&b.config, toml).unwrap();
            procs.push(b);
        }
        let mut c = Self {
            ctl,
            brokers: procs,
        };
        for i in 0..c.brokers.len() {
            c.spawn(i);
        }
        c.wait_online(brokers as usize, Duration::from_secs(60))
            .await;
        c
    }

    pub fn spawn(&mut self, i: usize) {
        let b = &mut self.brokers[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&b.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_rustmq-broker"))
            .arg("--config")
            .arg(&b.config)
            .env("RUSTMQ_LOG", "info,openraft=warn")
            .env("RUSTMQ_ADMIN_RATE_LIMITING_ENABLED", "false")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        b.child = Some(child);
    }

    /// SIGKILL.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.brokers[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for the process to exit (a controlled shutdown).
    pub fn terminate(&mut self, i: usize) -> Duration {
        let started = Instant::now();
        if let Some(mut c) = self.brokers[i].child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
        started.elapsed()
    }

    /// Every datagram between broker i's internal RPC and the controllers or the other
    /// brokers is dropped from now on, both directions: heartbeats, metadata, Raft, replica
    /// fetches (needs [`Cluster::start_with`] `proxied`). Clients still reach it.
    pub fn cut_off(&self, i: usize) {
        self.ctl.block(self.brokers[i].rpc);
    }

    /// Undoes [`Cluster::cut_off`].
    pub fn reconnect(&self, i: usize) {
        self.ctl.unblock(self.brokers[i].rpc);
    }

    /// Index of the broker leading `topic`/`partition` per the controllers, and its epoch.
    pub async fn leader_of(&self, topic: &str, partition: u32) -> Option<(usize, i64)> {
        let t = self.topic(topic).await;
        let p = &t["partition_assignments"][partition as usize];
        let id: usize = p["leader"]
            .as_str()?
            .strip_prefix("broker-")?
            .parse()
            .ok()?;
        Some((id - 1, p["leader_epoch"].as_i64()?))
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.brokers[i].child.is_some()
    }

    /// Brokers the controllers consider online.
    pub async fn online(&self) -> usize {
        for i in 0..self.ctl.nodes.len() {
            let (code, v) = self.ctl.get_json(i, "/api/v1/brokers").await;
            if code == 200 {
                return v["data"]
                    .as_array()
                    .map(|a| a.iter().filter(|b| b["online"] == true).count())
                    .unwrap_or(0);
            }
        }
        0
    }

    pub async fn wait_online(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.online().await < n {
            assert!(
                Instant::now() < deadline,
                "{n} brokers not online within {within:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A topic's partitions as the controllers hold them.
    pub async fn topic(&self, name: &str) -> serde_json::Value {
        for i in 0..self.ctl.nodes.len() {
            let (code, v) = self
                .ctl
                .get_json(i, &format!("/api/v1/topics/{name}"))
                .await;
            if code == 200 {
                return v["data"].clone();
            }
        }
        serde_json::Value::Null
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig {
            brokers: self.brokers.iter().map(|b| b.quic.to_string()).collect(),
            ..Default::default()
        };
        c.tls.ca_cert = Some(self.ctl.root.path().join("certs").join("ca.pem"));
        c
    }

    pub async fn client(&self) -> RustMqClient {
        RustMqClient::new(self.client_config()).await.unwrap()
    }

    pub fn logs(&self) -> String {
        let mut out = self.ctl.logs();
        for b in &self.brokers {
            let text = std::fs::read_to_string(&b.log).unwrap_or_default();
            let tail: Vec<&str> = text
                .lines()
                .rev()
                .take(
                    std::env::var("RUSTMQ_TEST_LOG_LINES")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(40),
                )
                .collect();
            out.push_str(&format!("--- broker {} ---\n", b.id));
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.brokers.len() {
            self.kill(i);
        }
    }
}
