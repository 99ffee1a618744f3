//! A real Kubernetes control plane for the operator's tests: etcd and kube-apiserver, built
//! from the Go module proxy by `.ci/build-kube.sh` (cached under `~/.cache/rustmq-kube`),
//! run as child processes on loopback ports, with a token-authenticated admin client.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The control plane's binaries, built on first use (minutes, once per machine).
fn binaries() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/build-kube.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run .ci/build-kube.sh");
    assert!(out.status.success(), "{} failed", script.display());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A process killed with the control plane.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// etcd and kube-apiserver (and, when asked for, kube-controller-manager); stopped when
/// dropped.
pub struct ControlPlane {
    // Dropped in order: the controller manager, the API server, etcd.
    _controller_manager: Option<Proc>,
    _apiserver: Proc,
    _etcd: Proc,
    /// A client with cluster-admin rights.
    pub client: Client,
    /// A kubeconfig file with those rights.
    pub kubeconfig: PathBuf,
    /// The API server's address.
    pub api: std::net::SocketAddr,
    /// The CA of the API server's serving certificate (PEM).
    pub ca_pem: String,
    /// Where the processes keep their state and logs (removed when dropped).
    pub dir: tempfile::TempDir,
}

impl ControlPlane {
    /// etcd and kube-apiserver on 127.0.0.1.
    pub async fn start() -> Self {
        Self::start_inner(false, std::net::Ipv4Addr::LOCALHOST).await
    }

    /// etcd, kube-apiserver (listening on `bind`, which pods reach) and
    /// kube-controller-manager with the controllers RustMQ's objects need: StatefulSets,
    /// EndpointSlices, PodDisruptionBudgets, the garbage collector and the publisher of the
    /// `kube-root-ca.crt` ConfigMap pods verify the API server with.
    pub async fn start_with_controller_manager(bind: std::net::Ipv4Addr) -> Self {
        Self::start_inner(true, bind).await
    }

    async fn start_inner(with_controller_manager: bool, bind: std::net::Ipv4Addr) -> Self {
        let bin = binaries();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let etcd_client = rustmq_transport::testing::loopback_addr();
        let etcd_peer = rustmq_transport::testing::loopback_addr();
        let etcd = Proc(
            Command::new(bin.join("etcd"))
                .args([
                    "--name=default",
                    &format!("--data-dir={}", d.join("etcd").display()),
                    &format!("--listen-client-urls=http://{etcd_client}"),
                    &format!("--advertise-client-urls=http://{etcd_client}"),
                    &format!("--listen-peer-urls=http://{etcd_peer}"),
                    &format!("--initial-advertise-peer-urls=http://{etcd_peer}"),
                    &format!("--initial-cluster=default=http://{etcd_peer}"),
                    "--log-level=warn",
                ])
                .stdout(log(d, "etcd.log"))
                .stderr(log(d, "etcd.log"))
                .spawn()
                .expect("start etcd"),
        );
        // A service-account signing key and one admin token.
        let key = rcgen::KeyPair::generate().unwrap();
        std::fs::write(d.join("sa.key"), key.serialize_pem()).unwrap();
        std::fs::write(d.join("sa.pub"), key.public_key_pem()).unwrap();
        std::fs::write(
            d.join("tokens.csv"),
            "rustmq-test-token,admin,admin,system:masters\n",
        )
        .unwrap();
        let api = std::net::SocketAddr::new(
            bind.into(),
            rustmq_transport::testing::loopback_addr().port(),
        );
        // The API server's serving certificate, from a CA of the test's own, for every
        // address a client dials (the pods use `bind`, as in-cluster clients use the
        // `kubernetes` Service's address).
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test kube CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = rcgen::Issuer::new(ca_params, ca_key);
        let serving_key = rcgen::KeyPair::generate().unwrap();
        let serving = rcgen::CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            bind.to_string(),
            "10.96.0.1".to_string(),
            "kubernetes.default.svc".to_string(),
        ])
        .unwrap()
        .signed_by(&serving_key, &ca)
        .unwrap();
        std::fs::write(d.join("ca.crt"), ca_cert.pem()).unwrap();
        std::fs::write(d.join("apiserver.crt"), serving.pem()).unwrap();
        std::fs::write(d.join("apiserver.key"), serving_key.serialize_pem()).unwrap();
        let mut apiserver = Proc(
            Command::new(bin.join("kube-apiserver"))
                .args([
                    &format!("--etcd-servers=http://{etcd_client}"),
                    &format!("--bind-address={bind}"),
                    &format!("--advertise-address={bind}"),
                    &format!("--tls-cert-file={}", d.join("apiserver.crt").display()),
                    &format!(
                        "--tls-private-key-file={}",
                        d.join("apiserver.key").display()
                    ),
                    &format!("--secure-port={}", api.port()),
                    &format!("--cert-dir={}", d.join("certs").display()),
                    &format!("--token-auth-file={}", d.join("tokens.csv").display()),
                    "--authorization-mode=AlwaysAllow",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    &format!("--service-account-key-file={}", d.join("sa.pub").display()),
                    &format!(
                        "--service-account-signing-key-file={}",
                        d.join("sa.key").display()
                    ),
                    "--service-cluster-ip-range=10.96.0.0/16",
                ])
                .stdout(log(d, "kube-apiserver.log"))
                .stderr(log(d, "kube-apiserver.log"))
                .spawn()
                .expect("start kube-apiserver"),
        );
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://{api}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    token: rustmq-test-token\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\n    namespace: default\ncurrent-context: test\n",
            d.join("ca.crt").display()
        );
        std::fs::write(d.join("kubeconfig"), &kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            Kubeconfig::from_yaml(&kubeconfig).unwrap(),
            &KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        let client = Client::try_from(config).unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = client
                .request_text(http::Request::get("/readyz").body(Vec::new()).unwrap())
                .await;
            if matches!(ready.as_deref(), Ok("ok")) {
                break;
            }
            let exited = apiserver.0.try_wait().ok().flatten();
            assert!(
                Instant::now() < deadline && exited.is_none(),
                "kube-apiserver not ready ({exited:?}): {ready:?}\n{}",
                std::fs::read_to_string(d.join("kube-apiserver.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let controller_manager = with_controller_manager.then(|| {
            Proc(
                Command::new(bin.join("kube-controller-manager"))
                    .args([
                        &format!("--kubeconfig={}", d.join("kubeconfig").display()),
                        "--controllers=statefulset-controller,garbage-collector-controller,endpointslice-controller,disruption-controller,root-ca-certificate-publisher-controller",
                        &format!("--root-ca-file={}", d.join("ca.crt").display()),
                        "--leader-elect=false",
                        "--secure-port=0",
                        "--concurrent-statefulset-syncs=2",
                    ])
                    .stdout(log(d, "kube-controller-manager.log"))
                    .stderr(log(d, "kube-controller-manager.log"))
                    .spawn()
                    .expect("start kube-controller-manager"),
            )
        });
        Self {
            _controller_manager: controller_manager,
            _apiserver: apiserver,
            _etcd: etcd,
            client,
            kubeconfig: d.join("kubeconfig"),
            api,
            ca_pem: ca_cert.pem(),
            dir,
        }
    }

    /// The tail of a process's log (`etcd`, `kube-apiserver`, `kube-controller-manager`).
    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

fn log(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .unwrap()
}
