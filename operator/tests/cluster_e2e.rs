//! End to end on a real control plane: etcd, kube-apiserver and kube-controller-manager
//! (StatefulSet, EndpointSlice, disruption and garbage-collector controllers) built from the
//! Go module proxy, the real `rustmq-operator` (two replicas, one leading), and a node agent
//! running each pod as the real `rustmq-controller` / `rustmq-broker` process in its own
//! network namespace, with an S3 emulator (moto) as the object store.
//!
//! The test process resolves cluster DNS names as the pods do: it runs in a private mount
//! namespace whose /etc/hosts is the agent's hosts file (see `main`), so the client crate
//! dials the bootstrap Service and the brokers' pod names.
//!
//! Not covered here (no kubelet, kube-proxy, CSI or scheduler on this machine): image pulls,
//! Service virtual IPs (names resolve to the ready endpoints instead), real volumes (a kept
//! directory per claim), resource limits and the pods' security context.

mod common;
#[path = "cluster_e2e/day2.rs"]
mod day2;
#[path = "cluster_e2e/secured.rs"]
mod secured;
#[path = "cluster_e2e/security.rs"]
mod security;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::ControlPlane;
use common::bins::workspace_bin;
use common::network::PodNetwork;
use common::node_agent::NodeAgent;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use parking_lot::Mutex;
use rustmq_client::{
    AckLevel, ClientConfig, Message, ProducerBuilder, ProducerConfig, RustMqClient, TlsConfig,
};
use rustmq_operator::crd::{RustMQCluster, Topic};
use serde_json::json;

const NS: &str = "rustmq-e2e";
const IN_NAMESPACE: &str = "RUSTMQ_E2E_HOSTS";

fn main() -> ExitCode {
    // First run: start again inside a private mount namespace with /etc/hosts bound to a
    // file the node agent writes (no threads exist yet, so nothing else is affected).
    let Some(hosts) = std::env::var_os(IN_NAMESPACE) else {
        let dir = std::env::temp_dir().join(format!("rustmq-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, "127.0.0.1 localhost\n").expect("hosts file");
        let exe = std::env::current_exe().expect("test binary");
        let status = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount --bind \"$0\" /etc/hosts && exec \"$@\"")
            .arg(&hosts)
            .arg(exe)
            .args(std::env::args().skip(1))
            .env(IN_NAMESPACE, &hosts)
            .status()
            .expect("unshare (util-linux) runs");
        let _ = std::fs::remove_dir_all(&dir);
        return ExitCode::from(status.code().unwrap_or(1) as u8);
    };
    let hosts = PathBuf::from(hosts);
    let args = libtest_mimic::Arguments::from_args();
    let trials = vec![libtest_mimic::Trial::test(
        "a_rustmq_cluster_runs_on_kubernetes",
        move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(a_rustmq_cluster_runs_on_kubernetes(&hosts));
            Ok(())
        },
    )];
    libtest_mimic::run(&args, trials).exit_code()
}

/// Polls `probe` until it returns `Some`, failing with `what` (and `context()`) after
/// `timeout`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            log_tails()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The upper bound of the histogram bucket holding quantile `q` of a controller's
/// reconcile durations, from the operator's `/metrics` text.
fn quantile(metrics: &str, controller: &str, q: f64) -> String {
    let label = format!("controller=\"{controller}\"");
    let buckets: Vec<(String, f64)> = metrics
        .lines()
        .filter(|l| l.starts_with("rustmq_operator_reconcile_duration_seconds_bucket"))
        .filter(|l| l.contains(&label))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?.to_string();
            let n = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, n))
        })
        .collect();
    let total = buckets.last().map_or(0.0, |b| b.1);
    buckets
        .iter()
        .find(|(_, n)| *n >= q * total)
        .map_or_else(|| "?".into(), |(le, _)| le.clone())
}

/// Log files whose tails a failure prints.
static LOGS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn log_tails() -> String {
    let mut out = String::new();
    for p in LOGS.lock().iter() {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        // The operators' logs are what a failed step is usually explained by: more of them.
        let keep = if p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("operator"))
        {
            120
        } else {
            25
        };
        out.push_str(&format!(
            "--- {}\n{}\n",
            p.display(),
            lines[lines.len().saturating_sub(keep)..].join("\n")
        ));
    }
    out
}

/// The operator as a process; killed when dropped.
struct Operator {
    child: Child,
    listen: std::net::SocketAddr,
}

impl Operator {
    fn start(kubeconfig: &Path, dir: &Path, name: &str) -> Self {
        let listen = rustmq_transport::testing::loopback_addr();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        LOGS.lock().push(log.clone());
        let child = Command::new(env!("CARGO_BIN_EXE_rustmq-operator"))
            .args(["--listen", &listen.to_string(), "--topic-resync", "3s"])
            .args(["--lease-seconds", "6"])
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", NS)
            .env("POD_NAME", name)
            .env("RUSTMQ_LOG", "info,kube=warn")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start rustmq-operator");
        Self { child, listen }
    }

    async fn health(&self) -> Option<serde_json::Value> {
        reqwest::get(format!("http://{}/health", self.listen))
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.listen))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    fn memory_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Operator {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's S3 on the pod network's host address.
struct S3 {
    child: Child,
    endpoint: String,
}

impl S3 {
    async fn start(ip: std::net::Ipv4Addr) -> Self {
        let port = rustmq_transport::testing::loopback_addr().port();
        let child = Command::new("moto_server")
            .args(["-H", &ip.to_string(), "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts (make test installs moto[server])");
        let endpoint = format!("http://{ip}:{port}");
        let http = reqwest::Client::new();
        wait_for("moto", Duration::from_secs(60), || {
            let http = http.clone();
            let url = format!("{endpoint}/rustmq-e2e");
            async move {
                http.put(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
            }
        })
        .await;
        Self { child, endpoint }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in rustmq_operator::crd::all() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    for (_, crd) in rustmq_operator::crd::all() {
        let name = crd.name_any();
        wait_for(
            &format!("CRD {name} established"),
            Duration::from_secs(30),
            || {
                let crds = crds.clone();
                let name = name.clone();
                async move {
                    let c = crds.get(&name).await.ok()?;
                    c.status?
                        .conditions?
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(())
                }
            },
        )
        .await;
    }
}

fn condition<'a>(
    conditions: &'a [k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The `Degraded` condition of cluster `name`, once it is `True`.
async fn degraded_condition(
    clusters: &Api<RustMQCluster>,
    name: &str,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    wait_for(
        &format!("cluster {name} Degraded"),
        Duration::from_secs(60),
        || async {
            let st = clusters.get(name).await.ok()?.status?;
            let c = condition(&st.conditions, "Degraded")?.clone();
            (c.status == "True").then_some(c)
        },
    )
    .await
}

async fn events_with_reason(client: &Client, reason: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), NS);
    let mut out = Vec::new();
    for e in events
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if e.reason.as_deref() == Some(reason) {
            out.push(e.message.unwrap_or_default());
        }
    }
    // events.k8s.io/v1 Events (what kube-runtime's recorder writes) appear in core/v1 too.
    out
}

fn cluster_spec(name: &str, s3: &str, broker_config: serde_json::Value) -> RustMQCluster {
    serde_json::from_value(json!({
        "apiVersion": "rustmq.io/v1alpha1",
        "kind": "RustMQCluster",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "version": "test",
            "controllers": {"replicas": 3},
            "brokers": {"replicas": 3},
            "objectStorage": {"s3": {
                "bucket": "rustmq-e2e",
                "prefix": name,
                "region": "us-east-1",
                "endpoint": s3,
                "credentialsSecret": "s3-credentials",
            }},
            "brokerConfig": broker_config,
        },
    }))
    .unwrap()
}

fn topic_spec(name: &str, partitions: i32, config: serde_json::Value, policy: &str) -> Topic {
    serde_json::from_value(json!({
        "apiVersion": "rustmq.io/v1alpha1",
        "kind": "Topic",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "clusterRef": "rmq",
            "partitions": partitions,
            "replicationFactor": 3,
            "config": config,
            "deletionPolicy": policy,
        },
    }))
    .unwrap()
}

async fn apply<K>(api: &Api<K>, object: &K)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.patch(
        &object.name_any(),
        &PatchParams::apply("rustmq-e2e").force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap();
}

async fn rustmq_client(bootstrap: &str, ca_pem: String) -> RustMqClient {
    RustMqClient::new(ClientConfig {
        brokers: vec![bootstrap.to_string()],
        tls: TlsConfig {
            ca_cert_pem: Some(ca_pem),
            ..Default::default()
        },
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        ..Default::default()
    })
    .await
    .expect("client connects through the bootstrap Service")
}

/// Reads partition `p` of `topic` from the start to the high watermark.
async fn read_all(c: &RustMqClient, topic: &str, p: u32) -> BTreeMap<i64, Bytes> {
    let hw = c.list_offset(topic, p, -1).await.unwrap();
    let mut consumer = c.consumer(topic).partitions(vec![p]).build().await.unwrap();
    let mut out = BTreeMap::new();
    while (out.len() as i64) < hw {
        let m = tokio::time::timeout(Duration::from_secs(30), consumer.receive())
            .await
            .expect("consume within 30 s")
            .unwrap();
        out.insert(m.offset, m.payload);
    }
    out
}

async fn a_rustmq_cluster_runs_on_kubernetes(hosts: &Path) {
    // The pod network first: the API server listens on its host address, which the pods
    // (the brokers' init containers) reach.
    let network = PodNetwork::new(hosts);
    let cp = ControlPlane::start_with_controller_manager(network.host_ip()).await;
    let client = cp.client.clone();
    install_crds(&client).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();

    let root = tempfile::tempdir().unwrap();
    let binaries = HashMap::from([
        (
            "rustmq-broker".to_string(),
            workspace_bin("rustmq-broker", "rustmq-broker"),
        ),
        (
            "rustmq-controller".to_string(),
            workspace_bin("rustmq-controller", "rustmq-controller"),
        ),
        (
            "rustmq-node-label".to_string(),
            PathBuf::from(env!("CARGO_BIN_EXE_rustmq-node-label")),
        ),
    ]);
    let agent = NodeAgent::start(
        client.clone(),
        NS,
        "node-a",
        "zone-a",
        network,
        cp.api,
        root.path(),
        binaries,
    )
    .await;
    for i in 0..5 {
        for c in ["controller", "broker"] {
            LOGS.lock()
                .push(root.path().join("logs").join(format!("rmq-{c}-{i}.log")));
        }
    }
    let s3 = S3::start(agent.host_ip()).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let creds: Secret = serde_json::from_value(json!({
        "metadata": {"name": "s3-credentials"},
        "stringData": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &creds)
        .await
        .unwrap();

    // Two operator replicas: one takes the Lease and acts, the other waits.
    let mut operators = [
        Operator::start(&cp.kubeconfig, root.path(), "operator-a"),
        Operator::start(&cp.kubeconfig, root.path(), "operator-b"),
    ];
    let leaders = wait_for("one operator leading", Duration::from_secs(60), || async {
        let mut leading = 0;
        for o in &operators {
            let h = o.health().await?;
            leading += usize::from(h["leader"] == true);
        }
        (leading > 0).then_some(leading)
    })
    .await;
    assert_eq!(leaders, 1, "exactly one replica reconciles");

    // 1. A 3-controller, 3-broker cluster becomes Ready.
    let clusters: Api<RustMQCluster> = Api::namespaced(client.clone(), NS);
    let applied = Instant::now();
    let ready_timeout: u64 = std::env::var("RUSTMQ_E2E_READY_TIMEOUT_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    // Day-2 settings for the tests' pace: a broker restart a second at most (instead of
    // three a minute), every replica may move within a minute, and uploads every second (so
    // a moved replica has little unuploaded tail to copy).
    let rmq_spec = |version: &str, brokers: i32| {
        let mut s = cluster_spec(
            "rmq",
            &s3.endpoint,
            json!({
                "operations.upgrade_velocity": "60",
                "scaling.traffic_migration_rate": "1.0",
                "wal.upload_interval_ms": "1000",
            }),
        );
        s.spec.version = version.to_string();
        s.spec.brokers.replicas = brokers;
        s
    };
    apply(&clusters, &rmq_spec("test", 3)).await;
    let debug = |agent: &NodeAgent| {
        let mut s = String::new();
        for p in agent.running() {
            s.push_str(&format!("--- {p}\n{}\n", agent.logs(&p)));
        }
        s.push_str(&log_tails());
        s.push_str(&format!(
            "--- kube-controller-manager\n{}\n",
            cp.log_tail("kube-controller-manager")
        ));
        s
    };
    let ready = tokio::time::timeout(
        Duration::from_secs(ready_timeout),
        wait_for(
            "cluster Ready",
            Duration::from_secs(ready_timeout),
            || async {
                let c = clusters.get("rmq").await.ok()?;
                let st = c.status?;
                (condition(&st.conditions, "Ready")?.status == "True").then_some(st)
            },
        ),
    )
    .await;
    let Ok(status) = ready else {
        let c = clusters.get("rmq").await.unwrap();
        let sets: Vec<String> = Api::<StatefulSet>::namespaced(client.clone(), NS)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|s| format!("{} {:?}", s.name_any(), s.status))
            .collect();
        panic!(
            "cluster not Ready: {:?}\nStatefulSets: {sets:?}\n{}",
            c.status,
            debug(&agent)
        );
    };
    let time_to_ready = applied.elapsed();
    println!("apply to Ready (3 controllers, 3 brokers): {time_to_ready:?}");
    assert_eq!(status.ready_brokers, 3);
    assert_eq!(status.ready_controllers, 3);
    assert_eq!(status.version.as_deref(), Some("test"));
    assert!(
        status
            .cluster_id
            .as_deref()
            .is_some_and(|id| !id.is_empty())
    );
    let bootstrap = status.bootstrap_servers.clone().unwrap();
    // Each broker's rack is its Node's zone, read by its init container.
    let brokers: Vec<rustmq_controller::api::BrokerSummary> = reqwest::get(format!(
        "{}/api/v1/brokers",
        status.admin_url.clone().unwrap()
    ))
    .await
    .unwrap()
    .json::<rustmq_controller::api::Envelope<Vec<_>>>()
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(brokers.len(), 3);
    assert!(brokers.iter().all(|b| b.rack_id == "zone-a"), "{brokers:?}");
    assert_eq!(bootstrap, "rmq-bootstrap.rustmq-e2e.svc.cluster.local:9092");
    assert!(!events_with_reason(&client, "ClusterReady").await.is_empty());
    // What the cluster owns exists: Services, PDBs, the ConfigMap.
    let services: Api<Service> = Api::namespaced(client.clone(), NS);
    for s in ["rmq-broker", "rmq-controller", "rmq-bootstrap", "rmq-admin"] {
        assert!(services.get_opt(s).await.unwrap().is_some(), "Service {s}");
    }
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), NS);
    assert!(pdbs.get_opt("rmq-broker").await.unwrap().is_some());

    // The leading operator dies: the other takes the Lease over and carries on with
    // everything below.
    let mut leading = None;
    for (i, o) in operators.iter().enumerate() {
        if o.health().await.is_some_and(|h| h["leader"] == true) {
            leading = Some(i);
        }
    }
    let dead = leading.expect("a leader");
    operators[dead].kill();
    let standby = 1 - dead;
    wait_for(
        "the standby operator leading",
        Duration::from_secs(60),
        || async { (operators[standby].health().await?["leader"] == true).then_some(()) },
    )
    .await;

    // 2. A Topic, produced to and consumed from through the bootstrap Service.
    let ca = secrets.get("rmq-tls").await.unwrap().data.unwrap()["ca.crt"]
        .0
        .clone();
    let ca = String::from_utf8(ca).unwrap();
    let topics: Api<Topic> = Api::namespaced(client.clone(), NS);
    apply(
        &topics,
        &topic_spec("orders", 3, json!({"retention.ms": "3600000"}), "Delete"),
    )
    .await;
    let topic_ready = |name: &'static str, partitions: i32| {
        let topics = topics.clone();
        async move {
            wait_for(
                &format!("Topic {name} Ready with {partitions} partitions"),
                Duration::from_secs(90),
                || async {
                    let t = topics.get(name).await.ok()?;
                    let st = t.status?;
                    (condition(&st.conditions, "Ready")?.status == "True"
                        && st.partitions == partitions
                        && st.observed_generation == t.metadata.generation)
                        .then_some(st)
                },
            )
            .await
        }
    };
    topic_ready("orders", 3).await;
    let c = rustmq_client(&bootstrap, ca.clone()).await;
    let producer = ProducerBuilder::new()
        .topic("orders")
        .config(ProducerConfig {
            ack_level: AckLevel::All,
            ..Default::default()
        })
        .client(c.clone())
        .build()
        .await
        .unwrap();
    let mut sent = BTreeMap::new();
    for i in 0..60u32 {
        let payload = Bytes::from(format!("order-{i}"));
        let r = producer
            .send(
                Message::builder()
                    .topic("orders")
                    .partition(i % 3)
                    .payload(payload.clone())
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap();
        sent.insert((r.partition, r.offset), payload);
    }
    for p in 0..3 {
        let got = read_all(&c, "orders", p).await;
        for ((sp, off), payload) in &sent {
            if *sp == p {
                assert_eq!(got.get(off), Some(payload), "partition {p} offset {off}");
            }
        }
    }

    // 3. Config and partitions change through the spec.
    let admin = rustmq_operator::admin::AdminApi::new(
        reqwest::Client::new(),
        status.admin_url.clone().unwrap(),
    );
    apply(
        &topics,
        &topic_spec("orders", 5, json!({"retention.ms": "7200000"}), "Delete"),
    )
    .await;
    topic_ready("orders", 5).await;
    let view = admin.topic("orders").await.unwrap().unwrap();
    assert_eq!(view.partitions, 5);
    assert_eq!(view.config.retention_ms, Some(7_200_000));
    let new_partition = producer
        .send(
            Message::builder()
                .topic("orders")
                .partition(4)
                .payload(Bytes::from_static(b"to a new partition"))
                .build()
                .unwrap(),
        )
        .await;
    // The producer learns the new partitions from fresh metadata.
    let new_partition = match new_partition {
        Ok(r) => r,
        Err(_) => {
            let p2 = ProducerBuilder::new()
                .topic("orders")
                .client(rustmq_client(&bootstrap, ca.clone()).await)
                .build()
                .await
                .unwrap();
            p2.send(
                Message::builder()
                    .topic("orders")
                    .partition(4)
                    .payload(Bytes::from_static(b"to a new partition"))
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(new_partition.partition, 4);

    // A change behind the operator's back is put back, with an Event saying so.
    admin
        .alter_topic(
            "orders",
            &rustmq_controller::api::AlterTopicRequest {
                partitions: None,
                config: Some(BTreeMap::from([("retention.ms".into(), "1000".into())])),
            },
        )
        .await
        .unwrap();
    wait_for("drift undone", Duration::from_secs(60), || async {
        let v = admin.topic("orders").await.ok()??;
        (v.config.retention_ms == Some(7_200_000)).then_some(())
    })
    .await;
    wait_for("DriftCorrected event", Duration::from_secs(30), || async {
        (!events_with_reason(&client, "DriftCorrected")
            .await
            .is_empty())
        .then_some(())
    })
    .await;

    // Fewer partitions is refused with a condition; the topic keeps its 5.
    apply(
        &topics,
        &topic_spec("orders", 2, json!({"retention.ms": "7200000"}), "Delete"),
    )
    .await;
    let refused = wait_for("shrink refused", Duration::from_secs(60), || async {
        let st = topics.get("orders").await.ok()?.status?;
        let c = condition(&st.conditions, "Ready")?.clone();
        (c.reason == "PartitionsCannotShrink").then_some(c)
    })
    .await;
    assert_eq!(refused.status, "False");
    assert_eq!(admin.topic("orders").await.unwrap().unwrap().partitions, 5);
    apply(
        &topics,
        &topic_spec("orders", 5, json!({"retention.ms": "7200000"}), "Delete"),
    )
    .await;
    topic_ready("orders", 5).await;

    // 3b. AclRule and Certificate resources.
    security::acls_and_certificates(security::Env {
        client: &client,
        admin: &admin,
        admin_url: status.admin_url.as_deref().unwrap(),
    })
    .await;

    // 4. A deleted broker pod comes back (the StatefulSet recreates it) with its WAL
    //    directory, and nothing acknowledged meanwhile is lost.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let wal_dir = agent.volume("data-rmq-broker-1");
    assert!(
        wal_dir.join("wal").exists(),
        "broker 1 keeps its WAL on its claim"
    );
    let old_uid = pods.get("rmq-broker-1").await.unwrap().uid();
    let acked: Arc<Mutex<Vec<(u32, i64, Bytes)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let acked = acked.clone();
        let stop = stop.clone();
        let producer = ProducerBuilder::new()
            .topic("orders")
            .config(ProducerConfig {
                ack_level: AckLevel::All,
                ..Default::default()
            })
            .client(rustmq_client(&bootstrap, ca.clone()).await)
            .build()
            .await
            .unwrap();
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let payload = Bytes::from(format!("during-restart-{i}"));
                let m = Message::builder()
                    .topic("orders")
                    .payload(payload.clone())
                    .build()
                    .unwrap();
                if let Ok(r) = producer.send(m).await {
                    acked.lock().push((r.partition, r.offset, payload));
                } else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
    };
    wait_for("load running", Duration::from_secs(30), || async {
        (acked.lock().len() >= 20).then_some(())
    })
    .await;
    pods.delete("rmq-broker-1", &DeleteParams::default())
        .await
        .unwrap();
    let back = tokio::time::timeout(
        Duration::from_secs(180),
        wait_for(
            "broker 1 recreated and ready",
            Duration::from_secs(180),
            || async {
                let p = pods.get("rmq-broker-1").await.ok()?;
                let ready = p
                    .status
                    .as_ref()?
                    .conditions
                    .as_ref()?
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                (p.uid() != old_uid && ready).then_some(())
            },
        ),
    )
    .await;
    assert!(
        back.is_ok(),
        "broker 1 did not come back:\n{}",
        debug(&agent)
    );
    let again = tokio::time::timeout(
        Duration::from_secs(120),
        wait_for("cluster Ready again", Duration::from_secs(120), || async {
            let st = clusters.get("rmq").await.ok()?.status?;
            (condition(&st.conditions, "Ready")?.status == "True" && st.ready_brokers == 3)
                .then_some(())
        }),
    )
    .await;
    if again.is_err() {
        let c = clusters.get("rmq").await.unwrap();
        panic!("not Ready again: {:?}\n{}", c.status, debug(&agent));
    }
    let before = acked.lock().len();
    wait_for(
        "load continues after the restart",
        Duration::from_secs(60),
        || async { (acked.lock().len() >= before + 20).then_some(()) },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();
    let acked = acked.lock().clone();
    let c = rustmq_client(&bootstrap, ca.clone()).await;
    let mut stored = HashMap::new();
    for p in 0..5 {
        stored.insert(p, read_all(&c, "orders", p).await);
    }
    for (p, off, payload) in &acked {
        assert_eq!(
            stored[p].get(off),
            Some(payload),
            "acknowledged message at {p}/{off} lost or changed"
        );
    }
    println!(
        "{} messages acknowledged around the broker pod's deletion; all present",
        acked.len()
    );

    // 5. Day-2 operations: rolling upgrades, scaling out and in, refusals.
    day2::day_two(day2::Env {
        client: &client,
        agent: &agent,
        bootstrap: bootstrap.clone(),
        ca: ca.clone(),
        admin: admin.clone(),
        spec: &rmq_spec,
        debug: &|| debug(&agent),
    })
    .await;

    // 6. Reconcile latency with 100 Topics.
    let started = Instant::now();
    for i in 0..100 {
        apply(
            &topics,
            &topic_spec(&format!("bulk-{i:03}"), 1, json!({}), "Delete"),
        )
        .await;
    }
    wait_for("100 topics Ready", Duration::from_secs(300), || async {
        let all = topics.list(&ListParams::default()).await.ok()?;
        let ready = all
            .items
            .iter()
            .filter(|t| t.name_any().starts_with("bulk-"))
            .filter(|t| {
                t.status
                    .as_ref()
                    .and_then(|s| condition(&s.conditions, "Ready"))
                    .is_some_and(|c| c.status == "True")
            })
            .count();
        (ready == 100).then_some(())
    })
    .await;
    println!("100 Topics applied to Ready: {:?}", started.elapsed());
    let mut leading_op = &operators[0];
    for o in &operators {
        if o.health().await.is_some_and(|h| h["leader"] == true) {
            leading_op = o;
        }
    }
    let metrics = leading_op.metrics().await;
    assert!(
        metrics.contains("rustmq_operator_reconciliations_total{controller=\"topic\"}"),
        "{metrics}"
    );
    for q in [0.5, 0.99] {
        println!(
            "topic reconcile latency p{}: <= {} s (histogram bucket bound)",
            (q * 100.0) as u32,
            quantile(&metrics, "topic", q)
        );
    }
    println!(
        "operator peak resident memory: {} KiB",
        leading_op.memory_kib()
    );
    // Deleting a Topic deletes the topic; `Retain` keeps it.
    topics
        .delete("bulk-000", &DeleteParams::default())
        .await
        .unwrap();
    let mut retained = topic_spec("kept", 1, json!({}), "Retain");
    retained.metadata.name = Some("kept".into());
    apply(&topics, &retained).await;
    topic_ready("kept", 1).await;
    topics
        .delete("kept", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("Topic resources gone", Duration::from_secs(60), || async {
        let a = topics.get_opt("bulk-000").await.ok()?;
        let b = topics.get_opt("kept").await.ok()?;
        (a.is_none() && b.is_none()).then_some(())
    })
    .await;
    assert!(admin.topic("bulk-000").await.unwrap().is_none());
    assert!(admin.topic("kept").await.unwrap().is_some());

    // 7. A spec the operator cannot act on: Degraded with the reason and an Event, and
    //    nothing is created for it.
    apply(
        &clusters,
        &cluster_spec("bad", &s3.endpoint, json!({"wal.no_such_setting": "1"})),
    )
    .await;
    let degraded = degraded_condition(&clusters, "bad").await;
    assert_eq!(degraded.reason, "InvalidBrokerConfig");
    assert!(
        degraded.message.contains("no_such_setting"),
        "{}",
        degraded.message
    );
    assert!(
        !events_with_reason(&client, "InvalidBrokerConfig")
            .await
            .is_empty()
    );
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
    assert!(sets.get_opt("bad-broker").await.unwrap().is_none());
    clusters
        .delete("bad", &DeleteParams::default())
        .await
        .unwrap();
    // A spec the API server refuses once rendered (a toleration operator it does not know):
    // the same, with the server's reason.
    let mut refused = cluster_spec("refused", &s3.endpoint, json!({}));
    refused.spec.pod_template.tolerations =
        vec![serde_json::from_value(json!({"key": "k", "operator": "Sometimes"})).unwrap()];
    apply(&clusters, &refused).await;
    let degraded = degraded_condition(&clusters, "refused").await;
    assert_eq!(degraded.reason, "RefusedByApiServer");
    assert!(
        degraded.message.contains("Sometimes"),
        "{}",
        degraded.message
    );
    clusters
        .delete("refused", &DeleteParams::default())
        .await
        .unwrap();

    // 8. Deleting the cluster garbage-collects everything it owns; its Topics' finalizers
    //    are released even though the topics cannot be deleted any more.
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(client.clone());
    assert!(
        bindings
            .get_opt("rustmq-rustmq-e2e-rmq-node-reader")
            .await
            .unwrap()
            .is_some()
    );
    clusters
        .delete("rmq", &DeleteParams::default())
        .await
        .unwrap();
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    wait_for(
        "owned objects collected",
        Duration::from_secs(120),
        || async {
            let gone = sets.get_opt("rmq-broker").await.ok()?.is_none()
                && sets.get_opt("rmq-controller").await.ok()?.is_none()
                && services.get_opt("rmq-bootstrap").await.ok()?.is_none()
                && services.get_opt("rmq-admin").await.ok()?.is_none()
                && maps.get_opt("rmq-config").await.ok()?.is_none()
                && secrets.get_opt("rmq-tls").await.ok()?.is_none()
                && secrets.get_opt("rmq-ca").await.ok()?.is_none()
                && pdbs.get_opt("rmq-broker").await.ok()?.is_none()
                && bindings
                    .get_opt("rustmq-rustmq-e2e-rmq-node-reader")
                    .await
                    .ok()?
                    .is_none()
                && pods
                    .list(&ListParams::default().labels("app.kubernetes.io/instance=rmq"))
                    .await
                    .ok()?
                    .items
                    .is_empty();
            gone.then_some(())
        },
    )
    .await;
    topics
        .delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "Topic of a deleted cluster released",
        Duration::from_secs(60),
        || async { topics.get_opt("orders").await.ok()?.is_none().then_some(()) },
    )
    .await;

    // 9. A cluster with security on, from the operator's certificate to a client's message.
    let certs_dir = tempfile::tempdir().unwrap();
    secured::a_secured_cluster(secured::Env {
        client: &client,
        s3: &s3.endpoint,
        dir: certs_dir.path(),
    })
    .await;
    drop(operators);
    drop(agent);
}
