//! `rustmq-admin` against a three-controller Raft cluster (in this process, talking Raft over
//! real QUIC with mutual TLS): cluster-health, brokers and controllers in every output format,
//! pointed at a follower, and the error that names an unreachable URL; the day-2 commands,
//! a rolling upgrade of real `rustmq-broker` processes through `--restart-command`, and
//! `rustmq-bench` at a fixed rate against such a process.

use std::process::{Command, Output};

use rustmq_controller::local::LocalCluster;
use rustmq_controller::{Controller, ControllerOptions};
use serde_json::Value;

// Ports below the ephemeral range for the broker processes (shared with the broker's tests).
#[path = "../../broker/tests/common/ports.rs"]
mod ports;

struct Cluster {
    dir: tempfile::TempDir,
    local: LocalCluster,
    admin: Vec<String>,
}

async fn cluster() -> Cluster {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let local = LocalCluster::start(dir.path(), 3).await.unwrap();
    let mut admin = Vec::new();
    for c in &local.controllers {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        admin.push(format!("http://{}", l.local_addr().unwrap()));
        let app = rustmq_controller::api::router(c.clone(), None);
        tokio::spawn(async move { axum::serve(l, app).await });
    }
    Cluster { dir, local, admin }
}

fn admin(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rustmq-admin"))
        .arg("--api-url")
        .arg(url)
        .args(args)
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_commands_in_every_format_from_a_follower() {
    let c = cluster().await;
    let leader = c.local.leader().expect("a leader");
    let follower = c.admin[(leader + 1) % 3].clone();
    // The CLI waits in a blocking child process; keep the runtime free for the controllers.
    let run = |args: Vec<&'static str>| {
        let url = follower.clone();
        tokio::task::spawn_blocking(move || admin(&url, &args))
    };

    // The first leader names the cluster once; every controller then holds the same id.
    let mut id = String::new();
    for _ in 0..100 {
        id = c.local.controllers[leader].metadata().cluster_id.clone();
        if !id.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(id.len(), 32, "a 128-bit id: {id:?}");
    let health = ok(&run(vec!["cluster-health", "--no-color"]).await.unwrap());
    assert!(health.contains("Cluster: healthy"), "{health}");
    assert!(health.contains(&format!("Id: {id}")), "{health}");
    assert!(
        !health.contains('\u{1b}'),
        "no ANSI escapes with --no-color: {health}"
    );
    for id in ["controller-1", "controller-2", "controller-3"] {
        assert!(health.contains(id), "{health}");
    }

    let json: Value =
        serde_json::from_str(&ok(&run(vec!["controllers", "list", "--format", "json"])
            .await
            .unwrap()))
        .unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|c| c["role"] == "leader").count(), 1);

    let yaml: Value =
        serde_norway::from_str(&ok(&run(vec!["controllers", "list", "--format", "yaml"])
            .await
            .unwrap()))
        .unwrap();
    assert_eq!(yaml, json);

    let csv = ok(&run(vec!["controllers", "list", "--format", "csv"])
        .await
        .unwrap());
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "CONTROLLER,NODE ID,ROLE,ADDRESS");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines.iter().any(|l| l.contains(",leader,")), "{csv}");

    let brokers = ok(&run(vec!["brokers", "list", "--format", "csv"])
        .await
        .unwrap());
    assert_eq!(brokers.trim(), "BROKER,HOST,QUIC,RPC,RACK,ONLINE");

    // Membership through the CLI: a fourth controller (started knowing the voters and
    // itself) is added, then removed again.
    let raft4 = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut peers = c.local.peers.clone();
    peers.insert(4, raft4.to_string());
    let mut o = ControllerOptions::single_node(c.dir.path().join("c4"));
    o.node_id = 4;
    o.advertised_addr = raft4.to_string();
    o.peers = peers;
    o.rpc_listen = vec![raft4];
    o.tls = Some(c.local.tls.clone());
    let fourth = Controller::open(o).await.unwrap();
    let added = ok(&tokio::task::spawn_blocking({
        let (url, addr) = (follower.clone(), raft4.to_string());
        move || admin(&url, &["controllers", "add", "controller-4", &addr])
    })
    .await
    .unwrap());
    assert!(added.contains("controller-4 is a voter"), "{added}");
    let listed: Value =
        serde_json::from_str(&ok(&run(vec!["controllers", "list", "--format", "json"])
            .await
            .unwrap()))
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");
    let removed = ok(&run(vec!["controllers", "remove", "controller-4"])
        .await
        .unwrap());
    assert!(removed.contains("controller-4 removed"), "{removed}");
    let e = run(vec!["controllers", "remove", "controller-9"])
        .await
        .unwrap();
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("not a member"));
    fourth.shutdown().await;

    // Healthy can also mean "this many brokers online", and the CLI can wait for it (what
    // `make cluster` does before it returns).
    let e = run(vec!["cluster-health", "--expect-brokers", "1"])
        .await
        .unwrap();
    assert!(!e.status.success());
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(
        stderr.contains("0 of the 1 expected brokers are registered and online"),
        "{stderr}"
    );
    let waiting = run(vec![
        "cluster-health",
        "--expect-brokers",
        "1",
        "--wait",
        "60s",
    ]);
    let ctl = c.local.controllers[leader].clone();
    ctl.register_broker(rustmq_controller::metadata::BrokerRegistration {
        id: 7,
        host: "127.0.0.1".into(),
        port_quic: 1,
        port_rpc: 2,
        rack_id: "r".into(),
        incarnation: 1,
        empty_log: false,
    })
    .await
    .unwrap();
    let beating = tokio::spawn(async move {
        loop {
            let _ = ctl.broker_heartbeat(7, None).await;
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let waited = ok(&waiting.await.unwrap());
    assert!(waited.contains("broker-7"), "{waited}");
    beating.abort();

    // An unreachable controller: the error names the URL that failed.
    let e = tokio::task::spawn_blocking(|| admin("http://127.0.0.1:1", &["cluster-health"]))
        .await
        .unwrap();
    assert!(!e.status.success());
    let stderr = String::from_utf8_lossy(&e.stderr);
    assert!(stderr.contains("http://127.0.0.1:1/health"), "{stderr}");
    c.local.shutdown().await;
}

/// The day-2 commands against the Raft cluster through a follower (the rebalance plan is
/// the leader's: the follower forwards the request over internal RPC). Brokers here are
/// registrations with heartbeats, so nothing actually moves; what the commands plan, refuse
/// and say is what is checked. Real moves are tested with broker processes in
/// broker/tests/replication.rs and on Kubernetes in operator/tests/cluster_e2e.rs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_two_commands_plan_refuse_and_explain() {
    let c = cluster().await;
    let leader = c.local.leader().expect("a leader");
    let follower = c.admin[(leader + 1) % 3].clone();
    let run = |args: Vec<String>| {
        let url = follower.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            admin(&url, &args)
        })
    };
    let ctl = c.local.controllers[leader].clone();
    let register = |id: u32| {
        let ctl = ctl.clone();
        async move {
            ctl.register_broker(rustmq_controller::metadata::BrokerRegistration {
                id,
                host: "127.0.0.1".into(),
                port_quic: 1,
                port_rpc: 2,
                rack_id: "r".into(),
                incarnation: 1,
                empty_log: false,
            })
            .await
            .unwrap();
        }
    };
    for id in 1..=2 {
        register(id).await;
    }
    let beating = {
        let ctl = ctl.clone();
        tokio::spawn(async move {
            loop {
                for id in 1..=4 {
                    let _ = ctl.broker_heartbeat(id, None).await;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        })
    };
    ctl.create_topic(
        "spread",
        8,
        1,
        rustmq_controller::metadata::TopicConfig::default(),
    )
    .await
    .unwrap();
    // Two brokers join: the plan moves replicas onto them.
    for id in 3..=4 {
        register(id).await;
    }
    let plan = ok(
        &run(vec!["rebalance".into(), "--format".into(), "json".into()])
            .await
            .unwrap(),
    );
    let plan: Value = serde_json::from_str(&plan).unwrap();
    let moves = plan["plan"]["replica_moves"].as_array().unwrap();
    assert_eq!(moves.len(), 4, "{plan}");
    assert!(moves.iter().all(|m| m["to"] == 3 || m["to"] == 4), "{plan}");
    let table = ok(&run(vec!["rebalance".into()]).await.unwrap());
    assert!(table.contains("4 replica moves"), "{table}");
    assert!(table.contains("replica broker-"), "{table}");

    // Removing brokers below a topic's replication factor is refused.
    ctl.create_topic(
        "wide",
        1,
        3,
        rustmq_controller::metadata::TopicConfig::default(),
    )
    .await
    .unwrap();
    let refused = run(vec![
        "scaling".into(),
        "remove-brokers".into(),
        "1".into(),
        "2".into(),
    ])
    .await
    .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("refused: topic wide has replication factor 3"),
        "{err}"
    );

    // A rolling upgrade without a way to restart processes says what to do.
    let roll = run(vec![
        "operations".into(),
        "rolling-upgrade".into(),
        "--version".into(),
        "2.0.0".into(),
    ])
    .await
    .unwrap();
    assert!(!roll.status.success());
    let err = String::from_utf8_lossy(&roll.stderr);
    assert!(err.contains("kubectl patch rustmqcluster"), "{err}");
    assert!(err.contains("--restart-command"), "{err}");

    // Status: every broker, the controllers (the follower cannot know their lag).
    let status = ok(&run(vec![
        "operations".into(),
        "status".into(),
        "--format".into(),
        "json".into(),
    ])
    .await
    .unwrap());
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["brokers"].as_array().unwrap().len(), 4, "{status}");
    assert_eq!(
        status["controllers"].as_array().unwrap().len(),
        3,
        "{status}"
    );
    assert_eq!(status["rebalance"]["state"], "idle", "{status}");
    beating.abort();
    c.local.shutdown().await;
}

/// Broker processes of the test cluster, started (and restarted) by a shell script the way
/// a service manager would; killed when dropped.
struct BrokerProcs {
    dir: std::path::PathBuf,
    ids: Vec<u32>,
    quic: Vec<String>,
}

impl Drop for BrokerProcs {
    fn drop(&mut self) {
        for id in &self.ids {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(format!("broker-{id}.pid"))) {
                let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
            }
        }
    }
}

/// Configures `ids` brokers joining `c`'s controllers as real `rustmq-broker` processes and
/// starts the first `running` of them through `restart.sh ID`: stop the broker whose pid
/// file exists (SIGTERM, its controlled shutdown, then wait), start it again on the same
/// config, write the new pid.
fn start_brokers(c: &Cluster, ids: &[u32], running: usize) -> BrokerProcs {
    let dir = c.dir.path().to_path_buf();
    let binary =
        std::path::Path::new(env!("CARGO_BIN_EXE_rustmq-admin")).with_file_name("rustmq-broker");
    assert!(
        binary.exists(),
        "{} not built: run `cargo build -p rustmq-broker` or `cargo test --workspace`",
        binary.display()
    );
    let endpoints: Vec<String> = c.local.rpc.iter().map(|a| format!("\"{a}\"")).collect();
    let mut quic = Vec::new();
    for id in ids {
        let q = ports::free_loopback_port();
        quic.push(q.to_string());
        let toml = format!(
            "[broker]\nid = {id}\nrack_id = \"rack-{id}\"\ndata_dir = \"{data}\"\n\n\
             [network]\nquic_listen = \"{q}\"\nrpc_listen = \"{rpc}\"\n\n\
             [admin]\nhttp_listen = \"{http}\"\n\n\
             [controller]\nendpoints = [{endpoints}]\ndev_certificates_dir = \"{certs}\"\n\n\
             [object_storage]\nstorage_type = \"Local\"\nlocal_path = \"{objects}\"\n",
            data = dir.join(format!("broker-{id}")).display(),
            rpc = ports::free_loopback_port(),
            http = ports::free_loopback_port(),
            endpoints = endpoints.join(", "),
            certs = dir.join("certs").display(),
            objects = dir.join("objects").display(),
        );
        std::fs::write(dir.join(format!("broker-{id}.toml")), toml).unwrap();
    }
    let script = format!(
        "set -e\ncd '{dir}'\nid=$1\n\
         if [ -f broker-$id.pid ]; then\n  pid=$(cat broker-$id.pid)\n  kill -TERM $pid\n  \
         while kill -0 $pid 2>/dev/null; do sleep 0.1; done\nfi\n\
         RUSTMQ_LOG=info RUSTMQ_ADMIN_RATE_LIMITING_ENABLED=false nohup '{binary}' --config broker-$id.toml >> broker-$id.log 2>&1 < /dev/null &\n\
         echo $! > broker-$id.pid\n",
        dir = dir.display(),
        binary = binary.display(),
    );
    std::fs::write(dir.join("restart.sh"), script).unwrap();
    let procs = BrokerProcs {
        dir,
        ids: ids.to_vec(),
        quic,
    };
    for id in &ids[..running] {
        procs.restart(*id);
    }
    procs
}

impl BrokerProcs {
    /// Starts (or restarts) broker `id` as the restart command would.
    fn restart(&self, id: u32) {
        let s = Command::new("sh")
            .arg(self.dir.join("restart.sh"))
            .arg(id.to_string())
            .status()
            .unwrap();
        assert!(s.success());
    }
}

/// Waits (up to 60 s) until the leading controller has `n` brokers registered, none of
/// them offline, and returns that controller.
async fn brokers_registered(c: &Cluster, n: usize) -> std::sync::Arc<Controller> {
    let ctl = c.local.controllers[c.local.leader().expect("a leader")].clone();
    for _ in 0..600 {
        if ctl.metadata().brokers.len() == n && ctl.metadata().offline_brokers.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ctl.metadata().brokers.len(), n, "{n} brokers registered");
    ctl
}

fn pid_of(p: &BrokerProcs, id: u32) -> String {
    std::fs::read_to_string(p.dir.join(format!("broker-{id}.pid"))).unwrap()
}

/// `operations rolling-upgrade --restart-command` against three real broker processes
/// under idempotent acks=all load (RF 3, min ISR 2): every broker is restarted once, in
/// order, each only when it is safe; then `scaling add-brokers 1` waits for a fourth
/// process and rebalances replicas onto it; every acknowledged record is read back once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_upgrade_and_add_brokers_with_real_broker_processes_under_load() {
    use bytes::Bytes;
    use rustmq_client::{
        AckLevel, ClientConfig, Message, ProducerBuilder, ProducerConfig, RustMqClient,
    };
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    let c = cluster().await;
    let procs = start_brokers(&c, &[1, 2, 3, 4], 3);
    let ctl = brokers_registered(&c, 3).await;
    ctl.create_topic(
        "rolled",
        3,
        3,
        rustmq_controller::metadata::TopicConfig {
            min_insync_replicas: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut config = ClientConfig {
        brokers: procs.quic.clone(),
        request_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    config.tls.ca_cert = Some(c.dir.path().join("certs").join("ca.pem"));
    let client = RustMqClient::new(config).await.unwrap();
    let producer = ProducerBuilder::new()
        .topic("rolled")
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            idempotent: true,
            max_retries: 10_000,
            ..Default::default()
        })
        .client(client.clone())
        .build()
        .await
        .unwrap();
    let acked: Arc<Mutex<Vec<(u32, i64, Bytes)>>> = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (acked, failed, stop) = (acked.clone(), failed.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let payload = Bytes::from(format!("roll-{i:08}"));
                let m = Message::builder()
                    .topic("rolled")
                    .key(format!("k{}", i % 16))
                    .payload(payload.clone())
                    .build()
                    .unwrap();
                match producer.send(m).await {
                    Ok(r) => acked.lock().unwrap().push((r.partition, r.offset, payload)),
                    Err(e) => {
                        eprintln!("send {i} failed: {e}");
                        failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            let _ = producer.close().await;
        })
    };
    while acked.lock().unwrap().len() < 50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before: Vec<String> = (1..=3).map(|id| pid_of(&procs, id)).collect();
    let url = c.admin[0].clone();
    let restart = format!("sh '{}' {{id}}", procs.dir.join("restart.sh").display());
    let roll = tokio::task::spawn_blocking(move || {
        admin(
            &url,
            &[
                "operations",
                "rolling-upgrade",
                "--version",
                "2.0.0",
                "--restart-command",
                &restart,
                "--min-isr",
                "2",
                "--timeout",
                "3m",
            ],
        )
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&roll.stdout).to_string();
    let logs: String = (1..=3)
        .map(|id| {
            std::fs::read_to_string(procs.dir.join(format!("broker-{id}.log"))).unwrap_or_default()
        })
        .collect();
    assert!(
        roll.status.success(),
        "{out}\n{}\n{logs}",
        String::from_utf8_lossy(&roll.stderr)
    );
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("restarting ")?.split(':').next())
        .collect();
    assert_eq!(order, ["broker-1", "broker-2", "broker-3"], "{out}");
    assert!(out.contains("rolled 3 brokers to 2.0.0"), "{out}");
    for id in 1..=3u32 {
        assert_ne!(
            pid_of(&procs, id),
            before[id as usize - 1],
            "broker-{id} restarted"
        );
    }

    // A fourth broker: the command waits for it to register, then rebalances onto it.
    let url = c.admin[1].clone();
    let add = tokio::task::spawn_blocking(move || {
        admin(&url, &["scaling", "add-brokers", "1", "--timeout", "3m"])
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    procs.restart(4);
    let add = add.await.unwrap();
    let out = String::from_utf8_lossy(&add.stdout).to_string();
    assert!(
        add.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&add.stderr)
    );
    assert!(out.contains("3 brokers online; start 1 more"), "{out}");
    let hosted = |id: u32| {
        ctl.metadata()
            .topics
            .values()
            .flat_map(|t| t.assignments.iter())
            .filter(|p| p.replicas.contains(&id))
            .count()
    };
    assert!(hosted(4) > 0, "replicas moved onto broker-4: {out}");
    assert!(
        out.contains(&format!("broker-4: {} replicas", hosted(4))),
        "{out}"
    );

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();
    assert_eq!(
        failed.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no send failed"
    );
    let acked = acked.lock().unwrap().clone();
    let mut seen = std::collections::HashMap::new();
    for p in 0..3u32 {
        let hw = client.list_offset("rolled", p, -1).await.unwrap();
        let mut consumer = client
            .consumer("rolled")
            .partitions(vec![p])
            .build()
            .await
            .unwrap();
        let mut n = 0;
        while n < hw {
            let m = tokio::time::timeout(Duration::from_secs(30), consumer.receive())
                .await
                .expect("consume within 30 s")
                .unwrap();
            seen.insert((p, m.offset), m.payload);
            n += 1;
        }
    }
    let mut payloads = std::collections::HashMap::<Bytes, usize>::new();
    for v in seen.values() {
        *payloads.entry(v.clone()).or_default() += 1;
    }
    for (p, off, payload) in &acked {
        assert_eq!(
            seen.get(&(*p, *off)),
            Some(payload),
            "rolled/{p}@{off} lost"
        );
        assert_eq!(payloads[payload], 1, "rolled/{p}@{off} stored twice");
    }
    println!(
        "rolled 3 broker processes and added a fourth under load: {} records acknowledged, each stored once",
        acked.len()
    );
    c.local.shutdown().await;
}

/// `rustmq-bench` at a fixed rate against a real broker process: every message that fell
/// due in the measured window was sent (a late producer catches up, it does not skip),
/// acknowledged and read back by the tail consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_sends_what_falls_due_and_every_message_is_acknowledged() {
    let c = cluster().await;
    let procs = start_brokers(&c, &[1], 1);
    brokers_registered(&c, 1).await;
    let out = c.dir.path().join("bench.json");
    let ca = c.dir.path().join("certs").join("ca.pem");
    let args: Vec<String> = [
        "--brokers",
        &procs.quic[0],
        "--ca-cert",
        &ca.display().to_string(),
        "--api-url",
        &c.admin[0],
        "--topic",
        "paced",
        "--partitions",
        "2",
        "--producers",
        "2",
        "--consumers",
        "1",
        "--message-size",
        "256",
        "--idempotent",
        "--rate",
        "1000",
        "--warmup",
        "1s",
        "--duration",
        "2s",
        "--json",
        &out.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let bench = env!("CARGO_BIN_EXE_rustmq-bench");
    let run = tokio::task::spawn_blocking(move || Command::new(bench).args(&args).output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        run.status.success(),
        "rustmq-bench: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let produce = &report["produce"];
    let sent = produce["sent"].as_u64().unwrap();
    // 1,000 msg/s for 2 s fall due in the window.
    assert!(sent >= 1_000, "sent only {sent}: {report}");
    assert_eq!(produce["failed"], 0, "{report}");
    assert_eq!(produce["messages"].as_u64(), Some(sent), "{report}");
    assert!(produce["send_lag_ms"]["p99"].as_f64().is_some(), "{report}");
    assert!(
        report["consume"]["messages"].as_u64().unwrap() > 0,
        "the tail consumer read nothing: {report}"
    );
    drop(procs);
    c.local.shutdown().await;
}
