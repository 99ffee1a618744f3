//! A node agent standing in for the kubelet of one Node (tests only: there is no container
//! runtime here). It binds the namespace's pods to its Node, runs each pod's container as the
//! real RustMQ process built from this workspace, in the pod's own network namespace, with
//! the pod's command, environment (downward API included), ConfigMap volumes (rewritten when
//! the ConfigMap changes, as the kubelet does), Secret volumes and one persistent directory
//! per PersistentVolumeClaim (kept across pod restarts, as a PersistentVolume would be). It
//! reports the pod's IP, `Running` and the readiness its probe finds, restarts a container
//! that exits, and stops the process when the pod is deleted. It also writes the hosts file
//! that stands in for cluster DNS: the StatefulSet pods' names and each Service's name over
//! its EndpointSlices.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EnvVar, Node, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use parking_lot::Mutex;
use serde_json::json;

use super::network::{PodNamespace, PodNetwork};

const DOMAIN: &str = "cluster.local";

/// One pod whose container runs here.
struct Running {
    uid: String,
    child: tokio::process::Child,
    _netns: PodNamespace,
    ip: String,
    ready: Option<bool>,
    restarts: i32,
    started: Instant,
    exited: Option<Instant>,
    /// When the readiness probe last ran (it runs every `periodSeconds`, as the kubelet's).
    probed: Option<Instant>,
    pod: Pod,
}

struct Agent {
    client: Client,
    namespace: String,
    node: String,
    network: PodNetwork,
    root: PathBuf,
    binaries: HashMap<String, PathBuf>,
    api: std::net::SocketAddr,
    running: Mutex<HashMap<String, Running>>,
    http: reqwest::Client,
}

/// The agent; stops every process it started when dropped.
pub struct NodeAgent {
    agent: Arc<Agent>,
    task: tokio::task::JoinHandle<()>,
}

impl NodeAgent {
    /// Starts an agent for Node `node` (created with `zone` as its topology zone) running
    /// the pods of `namespace` on `network`; `api` is the API server's address as pods reach
    /// it; `binaries` maps a container's command to the executable.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        client: Client,
        namespace: &str,
        node: &str,
        zone: &str,
        network: PodNetwork,
        api: std::net::SocketAddr,
        root: &Path,
        binaries: HashMap<String, PathBuf>,
    ) -> Self {
        let nodes: Api<Node> = Api::all(client.clone());
        let n: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node, "labels": {
                "topology.kubernetes.io/zone": zone,
                "kubernetes.io/hostname": node,
            }},
        }))
        .unwrap();
        nodes.create(&PostParams::default(), &n).await.unwrap();
        nodes
            .patch_status(
                node,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "node agent running"}],
                    "addresses": [{"type": "InternalIP", "address": network.host_ip().to_string()}],
                }})),
            )
            .await
            .unwrap();
        let agent = Arc::new(Agent {
            client,
            namespace: namespace.to_string(),
            node: node.to_string(),
            network,
            root: root.to_path_buf(),
            binaries,
            api,
            running: Mutex::new(HashMap::new()),
            // As the kubelet: an HTTPS probe does not verify the certificate.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap(),
        });
        let a = agent.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = a.sync().await {
                    eprintln!("node agent: {e}");
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        Self { agent, task }
    }

    /// The host's address on the pod network (test servers listen there for pods).
    pub fn host_ip(&self) -> std::net::Ipv4Addr {
        self.agent.network.host_ip()
    }

    /// The last lines of a pod's process output (all its runs).
    pub fn logs(&self, pod: &str) -> String {
        let text = std::fs::read_to_string(self.agent.root.join("logs").join(format!("{pod}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Lines of every pod's log (restarts included) that contain one of `needles`, each
    /// after its pod's name: what a failure report needs from logs too long to print.
    pub fn grep_logs(&self, needles: &[&str]) -> String {
        let mut out = String::new();
        let Ok(dir) = std::fs::read_dir(self.agent.root.join("logs")) else {
            return out;
        };
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            let pod = f
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for line in text
                .lines()
                .filter(|l| needles.iter().any(|n| l.contains(n)))
            {
                out.push_str(&format!("{pod}: {line}\n"));
            }
        }
        out
    }

    /// The pods whose processes run now.
    pub fn running(&self) -> Vec<String> {
        let mut v: Vec<String> = self.agent.running.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// Times the container of `pod` was restarted after exiting.
    pub fn restarts(&self, pod: &str) -> i32 {
        self.agent.running.lock().get(pod).map_or(0, |r| r.restarts)
    }

    /// The network namespace (`ip netns exec <name>`) and address of a running pod.
    #[allow(dead_code)]
    pub fn network_of(&self, pod: &str) -> Option<(String, String)> {
        self.agent
            .running
            .lock()
            .get(pod)
            .map(|r| (r._netns.name.clone(), r.ip.clone()))
    }

    /// The persistent directory of a PersistentVolumeClaim.
    pub fn volume(&self, claim: &str) -> PathBuf {
        self.agent.root.join("pvc").join(claim)
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        self.task.abort();
        for (_, mut r) in self.agent.running.lock().drain() {
            let _ = r.child.start_kill();
        }
    }
}

fn signal(child: &tokio::process::Child, sig: rustix::process::Signal) {
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

impl Agent {
    async fn sync(&self) -> Result<(), kube::Error> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = pods.list(&ListParams::default()).await?;
        let mut seen = std::collections::HashSet::new();
        for pod in list.items {
            let name = pod.name_any();
            let spec = pod.spec.clone().unwrap_or_default();
            match spec.node_name.as_deref() {
                None if pod.metadata.deletion_timestamp.is_none() => {
                    self.bind(&pods, &name).await?;
                    continue;
                }
                Some(n) if n == self.node => {}
                _ => continue,
            }
            seen.insert(name.clone());
            let uid = pod.uid().unwrap_or_default();
            if pod.metadata.deletion_timestamp.is_some() {
                let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30);
                self.stop(&name, Duration::from_secs(grace.clamp(0, 30) as u64))
                    .await;
                // As the kubelet does once the containers are gone: the final delete.
                let dp = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(kube::api::Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                let _ = pods.delete(&name, &dp).await;
                continue;
            }
            let stale = self.running.lock().get(&name).is_some_and(|r| r.uid != uid);
            if stale {
                self.stop(&name, Duration::from_secs(5)).await;
            }
            if !self.running.lock().contains_key(&name) {
                if let Err(e) = self.start(&pod).await {
                    eprintln!("node agent: cannot start pod {name}: {e}");
                }
                continue;
            }
            self.supervise(&pods, &name).await?;
            if let Err(e) = self.refresh_config_maps(&pod, &uid).await {
                eprintln!("node agent: cannot refresh the ConfigMaps of pod {name}: {e}");
            }
        }
        // Pods removed without a graceful deletion (forced): their processes go too.
        let gone: Vec<String> = self
            .running
            .lock()
            .keys()
            .filter(|n| !seen.contains(*n))
            .cloned()
            .collect();
        for name in gone {
            self.stop(&name, Duration::from_secs(0)).await;
        }
        self.write_hosts().await
    }

    async fn bind(&self, pods: &Api<Pod>, name: &str) -> Result<(), kube::Error> {
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node},
        });
        let r: Result<serde_json::Value, _> = pods
            .create_subresource("binding", name, &PostParams::default(), &binding)
            .await;
        match r {
            Ok(_) => Ok(()),
            // Bound meanwhile, or gone.
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Stops a pod's process: SIGTERM, then SIGKILL after `grace`.
    async fn stop(&self, name: &str, grace: Duration) {
        let Some(mut r) = self.running.lock().remove(name) else {
            return;
        };
        signal(&r.child, rustix::process::Signal::TERM);
        if tokio::time::timeout(grace, r.child.wait()).await.is_err() {
            let _ = r.child.kill().await;
        }
        let _ = r.child.wait().await;
    }

    /// Checks the process and the readiness probe of a running pod; reports changes.
    async fn supervise(&self, pods: &Api<Pod>, name: &str) -> Result<(), kube::Error> {
        let (probe, ip, exited_now, restart_due) = {
            let mut running = self.running.lock();
            let Some(r) = running.get_mut(name) else {
                return Ok(());
            };
            let exited_now =
                r.exited.is_none() && matches!(r.child.try_wait(), Ok(Some(_)) | Err(_));
            if exited_now {
                r.exited = Some(Instant::now());
            }
            // restartPolicy Always, with a short fixed back-off.
            let restart_due = r
                .exited
                .is_some_and(|t| t.elapsed() > Duration::from_secs(1));
            let container = r.pod.spec.as_ref().map(|s| s.containers[0].clone());
            let period = container
                .as_ref()
                .and_then(|c| c.readiness_probe.as_ref())
                .and_then(|p| p.period_seconds)
                .unwrap_or(10);
            let due = r
                .probed
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(period as u64));
            if !due && !exited_now && r.exited.is_none() {
                return Ok(());
            }
            r.probed = Some(Instant::now());
            (
                container.and_then(|c| probe_of(&c)),
                r.ip.clone(),
                exited_now,
                restart_due,
            )
        };
        if restart_due {
            let (pod, restarts) = {
                let mut running = self.running.lock();
                let r = running.remove(name).unwrap();
                (r.pod.clone(), r.restarts + 1)
            };
            self.start(&pod)
                .await
                .map_err(|e| kube::Error::Service(format!("restarting {name}: {e}").into()))?;
            if let Some(r) = self.running.lock().get_mut(name) {
                r.restarts = restarts;
            }
            return Ok(());
        }
        let ready = if exited_now
            || self
                .running
                .lock()
                .get(name)
                .is_some_and(|r| r.exited.is_some())
        {
            false
        } else {
            match &probe {
                Some((scheme, port, path)) => self
                    .http
                    .get(format!("{scheme}://{ip}:{port}{path}"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                None => true,
            }
        };
        let (changed, restarts, started) = {
            let mut running = self.running.lock();
            let Some(r) = running.get_mut(name) else {
                return Ok(());
            };
            let changed = r.ready != Some(ready);
            r.ready = Some(ready);
            (changed, r.restarts, r.started)
        };
        if changed {
            self.report(pods, name, &ip, ready, restarts, started)
                .await?;
        }
        Ok(())
    }

    async fn report(
        &self,
        pods: &Api<Pod>,
        name: &str,
        ip: &str,
        ready: bool,
        restarts: i32,
        _started: Instant,
    ) -> Result<(), kube::Error> {
        let r = if ready { "True" } else { "False" };
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let container = self
            .running
            .lock()
            .get(name)
            .and_then(|p| p.pod.spec.as_ref().map(|s| s.containers[0].clone()))
            .unwrap_or_default();
        let status = json!({"status": {
            "phase": "Running",
            "hostIP": self.network.host_ip().to_string(),
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": r, "lastTransitionTime": now},
                {"type": "Ready", "status": r, "lastTransitionTime": now},
            ],
            "containerStatuses": [{
                "name": container.name,
                "image": container.image.unwrap_or_default(),
                "imageID": "",
                "ready": ready,
                "started": true,
                "restartCount": restarts,
                "state": {"running": {"startedAt": now}},
            }],
        }});
        match pods
            .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Starts a pod: its init containers, one after the other, each to success, then its
    /// (single) container, as processes in a new network namespace.
    async fn start(&self, pod: &Pod) -> Result<(), String> {
        let name = pod.name_any();
        let spec = pod.spec.clone().unwrap_or_default();
        let container = spec.containers.first().cloned().ok_or("no container")?;
        let uid = pod.uid().unwrap_or_default();
        let netns = self.network.namespace(&name);
        let ip = netns.addr.to_string();
        let volumes = self.volumes(pod, &uid).await?;
        for init in spec.init_containers.clone().unwrap_or_default() {
            let mut child = self.spawn(pod, &init, &volumes, &netns, &ip).await?;
            let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
                .await
                .map_err(|_| format!("init container {} did not finish", init.name))?
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("init container {} failed: {status}", init.name));
            }
        }
        let child = self.spawn(pod, &container, &volumes, &netns, &ip).await?;
        self.running.lock().insert(
            name,
            Running {
                uid,
                child,
                _netns: netns,
                ip,
                ready: None,
                restarts: 0,
                started: Instant::now(),
                exited: None,
                probed: None,
                pod: pod.clone(),
            },
        );
        Ok(())
    }

    /// The pod's volumes as directories: files of ConfigMaps, Secrets and projected sources
    /// (the service-account token included), and a kept directory per claim.
    async fn volumes(&self, pod: &Pod, uid: &str) -> Result<HashMap<String, PathBuf>, String> {
        let spec = pod.spec.clone().unwrap_or_default();
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut out = HashMap::new();
        for v in spec.volumes.clone().unwrap_or_default() {
            let dir = match &v.persistent_volume_claim {
                Some(c) => self.root.join("pvc").join(&c.claim_name),
                None => self.root.join("pods").join(uid).join(&v.name),
            };
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let write = |file: &str, bytes: &[u8]| {
                let path = dir.join(file);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(path, bytes).map_err(|e| e.to_string())
            };
            if let Some(cm) = &v.config_map {
                let c = maps.get(&cm.name).await.map_err(|e| e.to_string())?;
                for (k, text) in c.data.unwrap_or_default() {
                    write(&k, text.as_bytes())?;
                }
            } else if let Some(sv) = &v.secret {
                let name = sv.secret_name.clone().unwrap_or_default();
                let c = secrets.get(&name).await.map_err(|e| e.to_string())?;
                for (k, bytes) in c.data.unwrap_or_default() {
                    write(&k, &bytes.0)?;
                }
            } else if let Some(p) = &v.projected {
                for source in p.sources.clone().unwrap_or_default() {
                    if let Some(t) = source.service_account_token {
                        write(
                            &t.path,
                            self.token(pod, t.expiration_seconds).await?.as_bytes(),
                        )?;
                    }
                    if let Some(cm) = source.config_map {
                        let c = maps.get(&cm.name).await.map_err(|e| e.to_string())?;
                        let data = c.data.unwrap_or_default();
                        for item in cm.items.unwrap_or_default() {
                            if let Some(text) = data.get(&item.key) {
                                write(&item.path, text.as_bytes())?;
                            }
                        }
                    }
                    if let Some(d) = source.downward_api {
                        for item in d.items.unwrap_or_default() {
                            if let Some(f) = item.field_ref {
                                let v = field(pod, &f.field_path, "", &self.node)
                                    .ok_or_else(|| format!("unsupported field {}", f.field_path))?;
                                write(&item.path, v.as_bytes())?;
                            }
                        }
                    }
                }
            }
            out.insert(v.name.clone(), dir);
        }
        Ok(out)
    }

    /// As the kubelet does on each sync: rewrites the files of a running pod's ConfigMap
    /// volumes whose ConfigMap changed, each by a rename, so a reader never sees half a file.
    async fn refresh_config_maps(&self, pod: &Pod, uid: &str) -> Result<(), String> {
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        let volumes = pod.spec.as_ref().and_then(|s| s.volumes.clone());
        for v in volumes.unwrap_or_default() {
            let Some(cm) = &v.config_map else { continue };
            let dir = self.root.join("pods").join(uid).join(&v.name);
            let c = maps.get(&cm.name).await.map_err(|e| e.to_string())?;
            for (k, text) in c.data.unwrap_or_default() {
                let path = dir.join(&k);
                if std::fs::read(&path).is_ok_and(|old| old == text.as_bytes()) {
                    continue;
                }
                let tmp = dir.join(format!("..{k}.tmp"));
                std::fs::write(&tmp, text.as_bytes()).map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// A token of the pod's ServiceAccount, from the TokenRequest API (bound to the pod).
    async fn token(&self, pod: &Pod, expiration: Option<i64>) -> Result<String, String> {
        let sa = pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into());
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let request = json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": expiration.unwrap_or(3607),
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.name_any(), "uid": pod.uid()},
            },
        });
        let answer: serde_json::Value = accounts
            .create_subresource("token", &sa, &PostParams::default(), &request)
            .await
            .map_err(|e| format!("token of ServiceAccount {sa}: {e}"))?;
        answer["status"]["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no token for ServiceAccount {sa}"))
    }

    /// Starts one container of a pod in its network namespace, its volumes bound at their
    /// mount paths (which exist on this host as they would in the image: inside the pod's
    /// mount namespace, which `ip netns exec` makes, the volumes are bound over them).
    async fn spawn(
        &self,
        pod: &Pod,
        container: &Container,
        volumes: &HashMap<String, PathBuf>,
        netns: &PodNamespace,
        ip: &str,
    ) -> Result<tokio::process::Child, String> {
        let name = pod.name_any();
        let env = self.environment(pod, container, ip).await?;
        let command: Vec<String> = container
            .command
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(container.args.clone().unwrap_or_default())
            .map(|a| expand(&a, &env))
            .collect();
        let program = command.first().ok_or("no command")?;
        let exe = self
            .binaries
            .get(program)
            .ok_or_else(|| format!("no executable for command {program}"))?;
        let mut script = String::from("set -e\n");
        for m in container.volume_mounts.clone().unwrap_or_default() {
            let Some(src) = volumes.get(&m.name) else {
                continue;
            };
            let dst = &m.mount_path;
            std::fs::create_dir_all(dst).map_err(|e| format!("mount point {dst}: {e}"))?;
            script.push_str(&format!("mount --bind '{}' '{dst}'\n", src.display()));
        }
        script.push_str("exec \"$@\"\n");
        let logs = self.root.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join(format!("{name}.log")))
            .map_err(|e| e.to_string())?;
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &netns.name, "sh", "-c", &script, "sh"])
            .arg(exe)
            .args(&command[1..])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .kill_on_drop(true);
        cmd.spawn().map_err(|e| e.to_string())
    }

    /// The container's environment as the kubelet builds it: `envFrom`, then `env` in
    /// order, with the downward API and `$(VAR)` references to earlier variables.
    async fn environment(
        &self,
        pod: &Pod,
        c: &Container,
        ip: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        // As the kubelet does for every container: where the API server is (the address the
        // `kubernetes` Service would route to).
        let mut env = BTreeMap::from([
            (
                "KUBERNETES_SERVICE_HOST".to_string(),
                self.api.ip().to_string(),
            ),
            (
                "KUBERNETES_SERVICE_PORT".to_string(),
                self.api.port().to_string(),
            ),
        ]);
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.namespace);
        for from in c.env_from.clone().unwrap_or_default() {
            let prefix = from.prefix.clone().unwrap_or_default();
            if let Some(s) = &from.secret_ref {
                let secret = secrets.get(&s.name).await.map_err(|e| e.to_string())?;
                for (k, v) in secret.data.unwrap_or_default() {
                    env.insert(
                        format!("{prefix}{k}"),
                        String::from_utf8_lossy(&v.0).into_owned(),
                    );
                }
            }
            if let Some(m) = &from.config_map_ref {
                let map = maps.get(&m.name).await.map_err(|e| e.to_string())?;
                for (k, v) in map.data.unwrap_or_default() {
                    env.insert(format!("{prefix}{k}"), v);
                }
            }
        }
        for EnvVar {
            name,
            value,
            value_from,
        } in c.env.clone().unwrap_or_default()
        {
            let v = if let Some(v) = value {
                expand(&v, &env)
            } else if let Some(from) = value_from {
                if let Some(f) = from.field_ref {
                    field(pod, &f.field_path, ip, &self.node)
                        .ok_or_else(|| format!("unsupported fieldRef {}", f.field_path))?
                } else if let Some(s) = from.secret_key_ref {
                    let secret = secrets.get(&s.name).await.map_err(|e| e.to_string())?;
                    let data = secret.data.unwrap_or_default();
                    let bytes = data
                        .get(&s.key)
                        .ok_or_else(|| format!("Secret {} has no key {}", s.name, s.key))?;
                    String::from_utf8_lossy(&bytes.0).into_owned()
                } else if let Some(m) = from.config_map_key_ref {
                    let map = maps.get(&m.name).await.map_err(|e| e.to_string())?;
                    map.data
                        .unwrap_or_default()
                        .get(&m.key)
                        .cloned()
                        .ok_or_else(|| format!("ConfigMap {} has no key {}", m.name, m.key))?
                } else {
                    return Err(format!("unsupported valueFrom of {name}"));
                }
            } else {
                String::new()
            };
            env.insert(name, v);
        }
        Ok(env)
    }

    /// Rewrites the hosts file from the pods and EndpointSlices: what cluster DNS answers.
    async fn write_hosts(&self) -> Result<(), kube::Error> {
        let ns = &self.namespace;
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let slices: Api<EndpointSlice> = Api::namespaced(self.client.clone(), ns);
        let services: Api<Service> = Api::namespaced(self.client.clone(), ns);
        let mut lines = vec!["127.0.0.1 localhost".to_string()];
        for p in pods.list(&ListParams::default()).await?.items {
            let spec = p.spec.clone().unwrap_or_default();
            let ip = p.status.as_ref().and_then(|s| s.pod_ip.clone());
            if let (Some(h), Some(sub), Some(ip)) = (spec.hostname, spec.subdomain, ip) {
                lines.push(format!(
                    "{ip} {h}.{sub}.{ns}.svc.{DOMAIN} {h}.{sub}.{ns}.svc {h}.{sub}"
                ));
            }
        }
        let known: std::collections::HashSet<String> = services
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .map(|s| s.name_any())
            .collect();
        for s in slices.list(&ListParams::default()).await?.items {
            let Some(svc) = s.labels().get("kubernetes.io/service-name").cloned() else {
                continue;
            };
            if !known.contains(&svc) {
                continue;
            }
            for e in s.endpoints {
                let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
                if !ready {
                    continue;
                }
                for a in e.addresses {
                    lines.push(format!("{a} {svc}.{ns}.svc.{DOMAIN} {svc}.{ns}.svc"));
                }
            }
        }
        lines.sort();
        lines.dedup();
        self.network.write_hosts(&(lines.join("\n") + "\n"));
        Ok(())
    }
}

/// The readiness probe's scheme (`http` or `https`), port and path.
fn probe_of(c: &Container) -> Option<(String, u16, String)> {
    let get = c.readiness_probe.as_ref()?.http_get.as_ref()?;
    let port = match &get.port {
        IntOrString::Int(p) => *p as u16,
        IntOrString::String(name) => {
            c.ports
                .as_ref()?
                .iter()
                .find(|p| p.name.as_deref() == Some(name))?
                .container_port as u16
        }
    };
    let scheme = get.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
    Some((scheme, port, get.path.clone().unwrap_or_else(|| "/".into())))
}

/// A downward-API field.
fn field(pod: &Pod, path: &str, ip: &str, node: &str) -> Option<String> {
    let label = |map: &BTreeMap<String, String>, p: &str, prefix: &str| {
        let key = p.strip_prefix(prefix)?.strip_suffix("']")?;
        map.get(key).cloned()
    };
    Some(match path {
        "metadata.name" => pod.name_any(),
        "metadata.namespace" => pod.namespace().unwrap_or_default(),
        "metadata.uid" => pod.uid().unwrap_or_default(),
        "status.podIP" => ip.to_string(),
        "spec.nodeName" => node.to_string(),
        "spec.serviceAccountName" => pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        p if p.starts_with("metadata.labels['") => label(pod.labels(), p, "metadata.labels['")?,
        p if p.starts_with("metadata.annotations['") => {
            label(pod.annotations(), p, "metadata.annotations['")?
        }
        _ => return None,
    })
}

/// Expands `$(VAR)` with earlier variables; `$$(VAR)` stays literal, unknown ones stay.
fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("$(") {
        if rest[..i].ends_with('$') {
            out.push_str(&rest[..i]);
            out.push('(');
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) => {
                let var = &after[..j];
                match env.get(var) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&format!("$({var})")),
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
