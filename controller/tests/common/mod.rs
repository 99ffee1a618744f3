//! A controller cluster of real `rustmq-controller` processes on 127.0.0.1: config files,
//! ports, kill -9, restarts, and helpers that talk to it through the admin API and internal
//! RPC the way brokers and operators do.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use rustmq_controller::metadata::{BrokerRegistration, Command as MetaCommand};
use rustmq_controller::rpc::{Request, Response, RpcClient};
use rustmq_transport::tls::InternalTls;

pub struct Node {
    pub id: u64,
    pub raft: SocketAddr,
    /// The address peers use: the fault proxy in front of `raft` when proxied.
    pub peer: SocketAddr,
    pub http: SocketAddr,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
    env: Vec<(String, String)>,
}

pub struct Cluster {
    pub root: tempfile::TempDir,
    pub nodes: Vec<Node>,
    pub tls: InternalTls,
    pub http: reqwest::Client,
    /// Real listener addresses whose UDP traffic the fault proxies drop.
    blocked: Blocked,
    /// Extra environment of every controller process (config overrides).
    env: Vec<(String, String)>,
    /// Heartbeat tasks of the brokers the test registered, by broker id.
    beating: Mutex<HashMap<u32, tokio::task::JoinHandle<()>>>,
}

type Blocked = Arc<Mutex<HashSet<SocketAddr>>>;

/// A UDP relay in front of one controller's internal RPC listener. Peers are configured with
/// the relay's address; it forwards each datagram from a dedicated upstream socket per
/// sender, so replies find their way back. Datagrams to or from a blocked node are dropped,
/// which is a network partition as QUIC sees it (the kernel here has no netem, and network
/// namespaces need root, which the CI machine may not give the tests).
fn spawn_proxy(front: std::net::UdpSocket, upstream: SocketAddr, blocked: Blocked) {
    front.set_nonblocking(true).unwrap();
    let front = Arc::new(UdpSocket::from_std(front).unwrap());
    tokio::spawn(async move {
        let mut relays: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((n, src)) = front.recv_from(&mut buf).await else {
                return;
            };
            let cut = {
                let b = blocked.lock().unwrap();
                b.contains(&src) || b.contains(&upstream)
            };
            if cut {
                continue;
            }
            let relay = match relays.get(&src) {
                Some(r) => r.clone(),
                None => {
                    let r = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                    r.connect(upstream).await.unwrap();
                    let (back, front, blocked) = (r.clone(), front.clone(), blocked.clone());
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 65_536];
                        while let Ok(n) = back.recv(&mut buf).await {
                            let cut = {
                                let b = blocked.lock().unwrap();
                                b.contains(&src) || b.contains(&upstream)
                            };
                            if !cut {
                                let _ = front.send_to(&buf[..n], src).await;
                            }
                        }
                    });
                    relays.insert(src, r.clone());
                    r
                }
            };
            let _ = relay.send(&buf[..n]).await;
        }
    });
}

fn free_udp() -> SocketAddr {
    rustmq_transport::testing::loopback_addr()
}

fn free_tcp() -> SocketAddr {
    rustmq_transport::testing::loopback_addr()
}

impl Cluster {
    /// Writes configs for `voters` controllers (ids 1..=voters) and starts them all.
    pub fn start(voters: u64) -> Self {
        Self::start_with(voters, false, &[])
    }

    /// Like [`Cluster::start`], with every controller reached by its peers through a fault
    /// proxy, so [`Cluster::isolate`] can cut it off.
    pub fn start_proxied(voters: u64) -> Self {
        Self::start_with(voters, true, &[])
    }

    fn start_with(voters: u64, proxied: bool, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let blocked: Blocked = Arc::default();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let root = tempfile::tempdir().unwrap();
        let certs = root.path().join("certs");
        let tls: InternalTls = rustmq_transport::tls::ensure_dev_certificates(&certs)
            .unwrap()
            .into();
        let mut nodes: Vec<Node> = (1..=voters)
            .map(|id| Node {
                id,
                peer: ([0, 0, 0, 0], 0).into(),
                raft: free_udp(),
                http: free_tcp(),
                config: root.path().join(format!("controller-{id}.toml")),
                log: root.path().join(format!("controller-{id}.log")),
                child: None,
                env: env.clone(),
            })
            .collect();
        let peers: Vec<String> = nodes
            .iter_mut()
            .map(|n| {
                let addr = if proxied {
                    let front = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                    let a = front.local_addr().unwrap();
                    spawn_proxy(front, n.raft, blocked.clone());
                    a
                } else {
                    n.raft
                };
                n.peer = addr;
                format!("\"controller-{}@{}\"", n.id, addr)
            })
            .collect();
        let peer_list = peers.join(", ");
        for n in &nodes {
            write_config(root.path(), &certs, n, &peer_list);
        }
        for n in &mut nodes {
            n.spawn();
        }
        Self {
            root,
            nodes,
            tls,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            blocked,
            env,
            beating: Mutex::default(),
        }
    }

    /// Whether peers reach the controllers through the fault proxies.
    #[allow(dead_code)]
    pub fn is_proxied(&self) -> bool {
        self.nodes.iter().any(|n| n.peer != n.raft)
    }

    /// Like [`Cluster::start`], every process with these `RUSTMQ_*` overrides.
    pub fn start_with_env(voters: u64, env: &[(&str, &str)]) -> Self {
        Self::start_with(voters, false, env)
    }

    /// Starts one more controller process (next id) that knows the current voters and
    /// itself; it waits to be added through the admin API. Returns its index.
    pub fn add_node(&mut self) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let raft = free_udp();
        let n = Node {
            id,
            peer: raft,
            raft,
            http: free_tcp(),
            config: self.root.path().join(format!("controller-{id}.toml")),
            log: self.root.path().join(format!("controller-{id}.log")),
            child: None,
            env: self.env.clone(),
        };
        let peers: Vec<String> = self
            .nodes
            .iter()
            .chain(std::iter::once(&n))
            .map(|n| format!("\"controller-{}@{}\"", n.id, n.raft))
            .collect();
        write_config(
            self.root.path(),
            &self.root.path().join("certs"),
            &n,
            &peers.join(", "),
        );
        self.nodes.push(n);
        let i = self.nodes.len() - 1;
        self.nodes[i].spawn();
        i
    }

    /// Cuts node i off from every other controller (both directions).
    /// Drops every datagram the fault proxies see from or to `addr` (any process's UDP
    /// address), e.g. a broker's internal RPC address.
    pub fn block(&self, addr: SocketAddr) {
        self.blocked.lock().unwrap().insert(addr);
    }

    /// Starts a fault proxy in front of `upstream` (any process's UDP listener, e.g. a
    /// broker's internal RPC) that obeys [`Cluster::block`] like the controllers' proxies;
    /// returns the address to advertise instead of `upstream`.
    pub fn proxy(&self, upstream: SocketAddr) -> SocketAddr {
        let front = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = front.local_addr().unwrap();
        spawn_proxy(front, upstream, self.blocked.clone());
        addr
    }

    /// Undoes [`Cluster::block`].
    pub fn unblock(&self, addr: SocketAddr) {
        self.blocked.lock().unwrap().remove(&addr);
    }

    pub fn isolate(&self, i: usize) {
        self.blocked.lock().unwrap().insert(self.nodes[i].raft);
    }

    /// Undoes [`Cluster::isolate`].
    pub fn heal(&self, i: usize) {
        self.blocked.lock().unwrap().remove(&self.nodes[i].raft);
    }

    /// `is_leader` of node i, when it answers.
    pub async fn says_it_leads(&self, i: usize) -> Option<bool> {
        self.health(i).await?["is_leader"].as_bool()
    }

    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    pub fn restart(&mut self, i: usize) {
        self.nodes[i].spawn();
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.nodes[i].http)
    }

    /// `/health` of node i, when it answers.
    pub async fn health(&self, i: usize) -> Option<serde_json::Value> {
        let r = self.http.get(self.url(i, "/health")).send().await.ok()?;
        r.json().await.ok()
    }

    /// `/health` of node i once it answers with one `ok` accepts, waiting up to `within`.
    pub async fn health_until(
        &self,
        i: usize,
        within: Duration,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let h = self.health(i).await;
            if let Some(h) = h.as_ref().filter(|h| ok(h)) {
                return h.clone();
            }
            assert!(
                Instant::now() < deadline,
                "node {i}: /health {h:?} within {within:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the running node that says it leads, waiting up to `within`.
    pub async fn leader(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            for i in 0..self.nodes.len() {
                if !self.is_running(i) {
                    continue;
                }
                if let Some(h) = self.health(i).await
                    && h["is_leader"] == serde_json::Value::Bool(true)
                {
                    return i;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader within {within:?}; logs in {}",
                self.root.path().display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Registers a broker the way a broker does: a write over internal RPC (mutual TLS) to
    /// the leader; then heartbeats for it every 200 ms (to any controller that answers)
    /// until [`Cluster::stop_heartbeats`].
    pub async fn register_broker(&self, id: u32, rack: &str) {
        let client = RpcClient::new(&self.tls).unwrap();
        let leader = self.leader(Duration::from_secs(20)).await;
        let r = client
            .call(
                &self.nodes[leader].raft.to_string(),
                &Request::Propose(MetaCommand::RegisterBroker(BrokerRegistration {
                    id,
                    host: "127.0.0.1".into(),
                    port_quic: 9092,
                    port_rpc: 9093,
                    rack_id: rack.into(),
                    incarnation: 0,
                    empty_log: false,
                })),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert!(matches!(r, Response::Propose(Ok(_))), "{r:?}");
        self.start_heartbeats(id);
    }

    /// Heartbeats for broker `id` every 200 ms, as a broker process would.
    pub fn start_heartbeats(&self, id: u32) {
        let client = RpcClient::new(&self.tls).unwrap();
        let addrs: Vec<String> = self.nodes.iter().map(|n| n.raft.to_string()).collect();
        let task = tokio::spawn(async move {
            let mut i = 0usize;
            loop {
                let r = client
                    .call(
                        &addrs[i % addrs.len()],
                        &Request::BrokerHeartbeat { id, load: None },
                        Duration::from_millis(500),
                    )
                    .await;
                if !matches!(r, Ok(Response::Propose(Ok(_)))) {
                    i += 1; // that controller is down or busy: the next one forwards
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        if let Some(old) = self.beating.lock().unwrap().insert(id, task) {
            old.abort();
        }
    }

    /// Broker `id` goes silent.
    pub fn stop_heartbeats(&self, id: u32) {
        if let Some(t) = self.beating.lock().unwrap().remove(&id) {
            t.abort();
        }
    }

    /// `GET /api/v1/brokers` of node i: `broker-<n>` -> online.
    pub async fn brokers_online(&self, i: usize) -> HashMap<String, bool> {
        let v: serde_json::Value = self
            .http
            .get(self.url(i, "/api/v1/brokers"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                (
                    b["id"].as_str().unwrap_or("").to_string(),
                    b["online"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    }

    /// GET `path` on node i: the HTTP status and the JSON body.
    pub async fn get_json(&self, i: usize, path: &str) -> (u16, serde_json::Value) {
        let r = self.http.get(self.url(i, path)).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// POST `body` to `path` on node i: the HTTP status and the JSON body.
    pub async fn post_json(
        &self,
        i: usize,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send_json(reqwest::Method::POST, i, path, body).await
    }

    /// PATCH `body` to `path` on node i: the HTTP status and the JSON body.
    pub async fn patch_json(
        &self,
        i: usize,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        self.send_json(reqwest::Method::PATCH, i, path, body).await
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        i: usize,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let r = self
            .http
            .request(method, self.url(i, path))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// POST /api/v1/topics on node i; the HTTP status and body.
    pub async fn create_topic(
        &self,
        i: usize,
        name: &str,
    ) -> Result<(u16, serde_json::Value), String> {
        let r = self
            .http
            .post(self.url(i, "/api/v1/topics"))
            .json(&serde_json::json!({"name": name, "partitions": 3, "replication_factor": 1}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let body = r.json().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    /// Topic names node i knows.
    pub async fn topics(&self, i: usize) -> Option<Vec<String>> {
        let r = self
            .http
            .get(self.url(i, "/api/v1/topics"))
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        Some(
            v["data"]
                .as_array()?
                .iter()
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect(),
        )
    }

    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                format!(
                    "--- controller-{} ---\n{}",
                    n.id,
                    std::fs::read_to_string(&n.log).unwrap_or_default()
                )
            })
            .collect()
    }
}

/// The `rustmq-controller` binary. Tests of the controller crate get it from Cargo; other
/// crates' tests (which share this harness) find it next to their own test binary in the
/// target directory, building it once when it is not there yet.
pub fn controller_bin() -> PathBuf {
    if let Some(p) = option_env!("CARGO_BIN_EXE_rustmq-controller") {
        return PathBuf::from(p);
    }
    static BUILT: std::sync::Once = std::sync::Once::new();
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in <target>/<profile>/deps");
    let bin = target.join("rustmq-controller");
    BUILT.call_once(|| {
        if bin.exists() {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "-p",
            "rustmq-controller",
            "--bin",
            "rustmq-controller",
        ]);
        if target.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("running cargo build");
        assert!(status.success(), "building rustmq-controller failed");
    });
    bin
}

fn write_config(root: &std::path::Path, certs: &std::path::Path, n: &Node, peers: &str) {
    let toml = format!(
        "[controller]\nnode_id = \"controller-{id}\"\ndata_dir = \"{dir}\"\n\
         raft_listen = \"{raft}\"\nrpc_listen = \"{raft}\"\nhttp_listen = \"{http}\"\n\n\
         [raft]\npeers = [{peers}]\n\n[tls]\ndev_certificates_dir = \"{certs}\"\n",
        id = n.id,
        dir = root.join(format!("data-{}", n.id)).display(),
        raft = n.raft,
        http = n.http,
        certs = certs.display(),
    );
    std::fs::write(&n.config, toml).unwrap();
}

impl Node {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(controller_bin())
            .arg("--config")
            .arg(&self.config)
            .env("RUSTMQ_LOG", "info,openraft=warn")
            // The harness polls /health far above the seed's limits; a test that checks
            // the limits turns them back on through `env`.
            .env("RUSTMQ_ADMIN_RATE_LIMITING_ENABLED", "false")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush beyond what was fsynced.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, t) in self.beating.lock().unwrap().drain() {
            t.abort();
        }
        for n in &mut self.nodes {
            n.kill();
        }
    }
}
