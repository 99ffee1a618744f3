//! `controller.toml`: the seed's `[controller]` and `[raft]` sections plus `[tls]`, every
//! key optional, `RUSTMQ_<SECTION>__<KEY>` environment variables on top.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::ControllerOptions;
use rustmq_transport::tls::InternalTls;

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Parse or type error.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A value is out of range or inconsistent.
    #[error("invalid configuration: {key}: {reason}")]
    Value {
        /// Dotted key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// `defaults`, then the TOML `file` (if any), then `RUSTMQ_<SECTION>__<KEY>` variables, then
/// the seed's flat `RUSTMQ_ADMIN_*` rate-limit variables: the layering of both `broker.toml`
/// and `controller.toml`. Errors name the key.
pub fn load_layered<T>(defaults: &T, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + serde::de::DeserializeOwned,
{
    let mut fig = Figment::from(Serialized::defaults(defaults));
    if let Some(f) = file {
        if !f.exists() {
            return Err(ConfigError::Invalid(format!(
                "config file {} does not exist",
                f.display()
            )));
        }
        fig = fig.merge(Toml::file(f));
    }
    // Only variables with a section separator are config keys (RUSTMQ_LOG etc. are not).
    fig = fig.merge(
        Env::prefixed("RUSTMQ_")
            .filter(|k| k.as_str().contains("__"))
            .split("__"),
    );
    fig = fig.merge(rustmq_transport::ratelimit::env_provider());
    fig.extract().map_err(|e| ConfigError::Invalid(describe(e)))
}

/// One line per figment error, each naming its key.
fn describe(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let path = e.path.join(".");
            // Where the bad value came from: the file, or which environment variables.
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(src) => format!(" (in {src})"),
                    None => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("key '{path}'{source}: {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The whole `controller.toml`.
///
/// ```
/// use rustmq_controller::config::ControllerConfig;
/// let c = ControllerConfig::load(None).unwrap();
/// assert_eq!(c.controller.http_listen.port(), 9642);
/// assert_eq!(c.node_id().unwrap(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerConfig {
    /// `[controller]`
    pub controller: ControllerSection,
    /// `[raft]`
    pub raft: RaftSection,
    /// `[tls]`
    pub tls: TlsSection,
    /// `[admin]`
    pub admin: AdminSection,
    /// `[autobalancer]`
    pub autobalancer: AutoBalancerSection,
    /// `[audit]`: ACL and certificate changes made through this controller's admin API.
    /// Unset path: `<data_dir>/audit/audit.log`.
    pub audit: rustmq_security::audit::AuditConfig,
    /// `[telemetry]` trace export (OTLP).
    pub telemetry: rustmq_transport::telemetry::TelemetryConfig,
}

/// `[autobalancer]`: rebalancing bounds, and whether the leader rebalances on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoBalancerSection {
    /// Start rebalances on its own. Off by default: every leadership move makes producers
    /// of the moved partitions retry once (`NOT_LEADER`), which an operator should choose.
    pub enabled: bool,
    /// A broker above this fraction of its CPU is a reason to rebalance.
    pub cpu_threshold: f64,
    /// A broker above this fraction of its memory is a reason to rebalance.
    pub memory_threshold: f64,
    /// How far (a fraction of the mean) the busiest broker's leader load may be above the
    /// mean before the auto-balancer acts.
    pub leader_imbalance: f64,
    /// Quiet time after a rebalance before the auto-balancer starts another.
    pub cooldown_seconds: u64,
    /// How often the leader checks the balance and drives a running rebalance.
    pub check_interval_ms: u64,
    /// A rebalance still moving after this long is given up (its moves so far stay).
    pub rebalance_timeout_ms: u64,
    /// Replica moves in flight at once.
    pub max_concurrent_moves: usize,
    /// Leadership moves per round.
    pub max_leader_moves: usize,
    /// Fraction of the cluster's replicas that may start moving per minute (the operator
    /// copies the brokers' `scaling.traffic_migration_rate` here).
    pub migration_rate: f64,
}

impl Default for AutoBalancerSection {
    fn default() -> Self {
        let d = crate::balance::BalancerOptions::default();
        Self {
            enabled: d.enabled,
            cpu_threshold: d.cpu_threshold,
            memory_threshold: d.memory_threshold,
            leader_imbalance: d.leader_imbalance,
            cooldown_seconds: d.cooldown.as_secs(),
            check_interval_ms: d.check_interval.as_millis() as u64,
            rebalance_timeout_ms: d.rebalance_timeout.as_millis() as u64,
            max_concurrent_moves: d.limits.max_replica_moves,
            max_leader_moves: d.limits.max_leader_moves,
            migration_rate: d.migration_rate,
        }
    }
}

impl AutoBalancerSection {
    /// The balancer's options, or the key that is out of range.
    pub fn options(&self) -> Result<crate::balance::BalancerOptions, ConfigError> {
        let bad = |key: &str, reason: &str| ConfigError::Value {
            key: format!("autobalancer.{key}"),
            reason: reason.into(),
        };
        for (key, v) in [
            ("cpu_threshold", self.cpu_threshold),
            ("memory_threshold", self.memory_threshold),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(bad(key, "must be a fraction in (0, 1]"));
            }
        }
        if !(self.leader_imbalance >= 0.0 && self.leader_imbalance.is_finite()) {
            return Err(bad("leader_imbalance", "must be a fraction of at least 0"));
        }
        if !(self.migration_rate > 0.0 && self.migration_rate <= 1.0) {
            return Err(bad("migration_rate", "must be a fraction in (0, 1]"));
        }
        if self.check_interval_ms == 0 {
            return Err(bad("check_interval_ms", "must be at least 1"));
        }
        if self.max_concurrent_moves == 0 {
            return Err(bad("max_concurrent_moves", "must be at least 1"));
        }
        Ok(crate::balance::BalancerOptions {
            enabled: self.enabled,
            cpu_threshold: self.cpu_threshold,
            memory_threshold: self.memory_threshold,
            leader_imbalance: self.leader_imbalance,
            cooldown: Duration::from_secs(self.cooldown_seconds),
            check_interval: Duration::from_millis(self.check_interval_ms),
            rebalance_timeout: Duration::from_millis(self.rebalance_timeout_ms),
            limits: crate::balance::PlanLimits {
                max_replica_moves: self.max_concurrent_moves,
                max_leader_moves: self.max_leader_moves,
            },
            migration_rate: self.migration_rate,
        })
    }
}

/// `[admin]`: the admin REST API (its address is `controller.http_listen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSection {
    /// Replaces the port of `controller.http_listen` when set (the seed's `admin.port`).
    pub port: Option<u16>,
    /// How often the leader looks for brokers whose heartbeats stopped.
    pub health_check_interval_ms: u64,
    /// A broker without a heartbeat for this long is marked offline: no new partitions
    /// are placed on it (and, with replication, its leaderships move).
    pub health_timeout_ms: u64,
    /// CORS headers allowing any origin (browser dashboards).
    pub enable_cors: bool,
    /// One `info` log line per request: method, path, status, duration.
    pub log_requests: bool,
    /// `[admin.rate_limiting]`
    pub rate_limiting: rustmq_transport::ratelimit::RateLimitConfig,
    /// Serve the admin API over HTTPS with this node's `[tls]` certificate; a client
    /// certificate of the cluster CA is taken when presented (admin writes use it).
    pub https: bool,
    /// Every request but `/health`, `/metrics`, the OpenAPI file, the CA and its CRL needs
    /// a caller (certificate or bearer token): an admin certificate or a super-user may do
    /// anything, another principal what the ACLs grant it (describe for reads).
    pub require_authentication: bool,
    /// Principals allowed every write.
    pub super_users: Vec<String>,
    /// Rules turning a certificate's identity into a principal.
    pub principal_mapping_rules: Vec<String>,
    /// `[admin.jwt]`: bearer tokens for writes.
    pub jwt: rustmq_security::jwt::JwtConfig,
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            https: false,
            require_authentication: false,
            super_users: Vec::new(),
            principal_mapping_rules: vec!["DEFAULT".into()],
            jwt: Default::default(),
            port: None,
            health_check_interval_ms: 100,
            health_timeout_ms: 1500,
            enable_cors: false,
            log_requests: false,
            rate_limiting: Default::default(),
        }
    }
}

impl ControllerConfig {
    /// The admin API's address: `controller.http_listen`, with `admin.port` if set.
    pub fn http_listen(&self) -> SocketAddr {
        let mut a = self.controller.http_listen;
        if let Some(p) = self.admin.port {
            a.set_port(p);
        }
        a
    }
}

/// `[controller]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControllerSection {
    /// `controller-<n>` or `<n>`: the Raft node id is `n` (at least 1).
    pub node_id: String,
    /// Raft log, vote and snapshots.
    pub data_dir: PathBuf,
    /// Internal RPC between controllers (Raft).
    pub raft_listen: SocketAddr,
    /// Internal RPC from brokers; the same transport and handlers as `raft_listen` (one
    /// listener when both are equal).
    pub rpc_listen: SocketAddr,
    /// Admin REST API.
    pub http_listen: SocketAddr,
}

impl Default for ControllerSection {
    fn default() -> Self {
        Self {
            node_id: "controller-1".into(),
            data_dir: "/var/lib/rustmq/controller".into(),
            raft_listen: ([0, 0, 0, 0], 9095).into(),
            rpc_listen: ([0, 0, 0, 0], 9094).into(),
            http_listen: ([0, 0, 0, 0], 9642).into(),
        }
    }
}

/// `[raft]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftSection {
    /// Every voter as `controller-<n>@host:raft_port`, this one included. Empty: a one-voter
    /// cluster.
    pub peers: Vec<String>,
    /// Lower bound of the randomized election timeout (upper bound: twice this).
    pub election_timeout_ms: u64,
    /// Leader heartbeats.
    pub heartbeat_interval_ms: u64,
    /// Snapshot after this many applied entries.
    pub snapshot_after_logs: u64,
    /// Entries kept behind the snapshot; a follower further behind is sent the snapshot.
    pub logs_kept_after_snapshot: u64,
    /// Timeout of one internal call.
    pub rpc_timeout_ms: u64,
}

impl Default for RaftSection {
    fn default() -> Self {
        Self {
            peers: Vec::new(),
            // openraft waits a leader lease (the timeout's upper bound, twice this) plus a
            // randomized timeout after the last heartbeat: 1.5-2 s to notice a dead leader.
            election_timeout_ms: 500,
            heartbeat_interval_ms: 100,
            snapshot_after_logs: 1000,
            logs_kept_after_snapshot: 100,
            rpc_timeout_ms: 5000,
        }
    }
}

/// `[tls]`: certificates of internal RPC (mutual TLS, one cluster CA).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// Cluster CA.
    pub ca_cert: Option<PathBuf>,
    /// This node's certificate chain.
    pub cert: Option<PathBuf>,
    /// This node's key.
    pub key: Option<PathBuf>,
    /// The cluster CA's key: with it, this controller issues certificates through
    /// `/api/v1/certificates` and signs the CRL (a development CA's key is found on its own).
    pub ca_key: Option<PathBuf>,
    /// Without the three files: create (once) a development CA and certificate for
    /// `localhost`/`127.0.0.1` here and use them. Processes sharing the directory trust
    /// each other.
    pub dev_certificates_dir: Option<PathBuf>,
}

impl TlsSection {
    /// The CA that issues certificates through the admin API: `ca_cert` with `ca_key`, or
    /// the development CA.
    pub fn issuing_ca(
        &self,
    ) -> Result<Option<rustmq_security::ca::CertificateAuthority>, rustmq_security::ca::CaError>
    {
        use rustmq_security::ca::CertificateAuthority;
        if let (Some(cert), Some(key)) = (&self.ca_cert, &self.ca_key) {
            return CertificateAuthority::load(cert, key).map(Some);
        }
        match &self.dev_certificates_dir {
            Some(d) if d.join("ca.key").exists() => {
                CertificateAuthority::load(&d.join("ca.pem"), &d.join("ca.key")).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// `controller-7` -> 7; `7` -> 7.
///
/// ```
/// use rustmq_controller::config::parse_node_id;
/// assert_eq!(parse_node_id("controller-003"), Some(3));
/// assert_eq!(parse_node_id("controller-0"), None);
/// assert_eq!(parse_node_id("broker-2"), None);
/// ```
pub fn parse_node_id(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("controller-").unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().filter(|n| *n >= 1)
}

impl ControllerConfig {
    /// Defaults, overridden by the TOML file (if any), then by `RUSTMQ_*__*` variables;
    /// validated.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let c: Self = load_layered(&Self::default(), file)?;
        c.validate()?;
        Ok(c)
    }

    /// The Raft node id: `controller-<n>` or `<n>`, or the host name of one of the
    /// `raft.peers` (its first DNS label or the whole name), so that a StatefulSet pod can
    /// pass its own name (`RUSTMQ_CONTROLLER__NODE_ID=$(POD_NAME)`) and find its id there.
    pub fn node_id(&self) -> Result<u64, ConfigError> {
        let name = &self.controller.node_id;
        if let Some(id) = parse_node_id(name) {
            return Ok(id);
        }
        let peers = self.peers()?;
        let by_host = peers.iter().find(|(_, addr)| {
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            host == name || host.split('.').next() == Some(name.as_str())
        });
        by_host.map(|(id, _)| *id).ok_or_else(|| ConfigError::Value {
            key: "controller.node_id".into(),
            reason: format!(
                "'{name}' is not 'controller-<n>' or '<n>' with n >= 1, nor the host of a raft.peers entry"
            ),
        })
    }

    /// `[raft] peers` as `node id -> address`.
    pub fn peers(&self) -> Result<BTreeMap<u64, String>, ConfigError> {
        let mut out = BTreeMap::new();
        for p in &self.raft.peers {
            let bad = |reason: String| ConfigError::Value {
                key: "raft.peers".into(),
                reason: format!("'{p}': {reason}"),
            };
            let (name, addr) = p
                .split_once('@')
                .ok_or_else(|| bad("expected controller-<n>@host:port".into()))?;
            let id = parse_node_id(name)
                .ok_or_else(|| bad(format!("'{name}' is not controller-<n>")))?;
            if addr
                .rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_none()
            {
                return Err(bad("the address needs a port".into()));
            }
            if out.insert(id, addr.to_string()).is_some() {
                return Err(bad(format!("node id {id} appears twice")));
            }
        }
        Ok(out)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Err((key, reason)) = self.admin.rate_limiting.validate() {
            return Err(ConfigError::Value { key, reason });
        }
        rustmq_security::principal::MappingRules::parse(&self.admin.principal_mapping_rules)
            .map_err(|e| ConfigError::Value {
                key: "admin.principal_mapping_rules".into(),
                reason: e.to_string(),
            })?;
        if self.admin.jwt.enabled
            && let Err(e) = rustmq_security::jwt::validate_config(&self.admin.jwt)
        {
            return Err(ConfigError::Value {
                key: "admin.jwt".into(),
                reason: e.to_string(),
            });
        }
        self.autobalancer.options()?;
        let id = self.node_id()?;
        let peers = self.peers()?;
        if !peers.is_empty() && !peers.contains_key(&id) {
            return Err(ConfigError::Value {
                key: "raft.peers".into(),
                reason: format!("this node ({}) is not in the list", self.controller.node_id),
            });
        }
        if peers.len() == 2 || peers.len() == 4 {
            tracing::warn!(
                voters = peers.len(),
                "an even number of voters tolerates no more failures than one fewer"
            );
        }
        let r = &self.raft;
        if r.heartbeat_interval_ms == 0 {
            return Err(ConfigError::Value {
                key: "raft.heartbeat_interval_ms".into(),
                reason: "must be at least 1".into(),
            });
        }
        if r.election_timeout_ms <= r.heartbeat_interval_ms * 2 {
            return Err(ConfigError::Value {
                key: "raft.election_timeout_ms".into(),
                reason: format!(
                    "must exceed twice raft.heartbeat_interval_ms ({}), or followers start elections against a live leader",
                    r.heartbeat_interval_ms
                ),
            });
        }
        if self.admin.health_check_interval_ms == 0
            || self.admin.health_timeout_ms <= self.admin.health_check_interval_ms
        {
            return Err(ConfigError::Value {
                key: "admin.health_timeout_ms".into(),
                reason: format!(
                    "must exceed admin.health_check_interval_ms ({}), which must be at least 1",
                    self.admin.health_check_interval_ms
                ),
            });
        }
        if r.rpc_timeout_ms == 0 {
            return Err(ConfigError::Value {
                key: "raft.rpc_timeout_ms".into(),
                reason: "must be at least 1".into(),
            });
        }
        let t = &self.tls;
        let given = [&t.ca_cert, &t.cert, &t.key]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if given != 0 && given != 3 {
            return Err(ConfigError::Value {
                key: "tls".into(),
                reason: "ca_cert, cert and key go together".into(),
            });
        }
        if !peers.is_empty() && given == 0 && t.dev_certificates_dir.is_none() {
            return Err(ConfigError::Value {
                key: "tls".into(),
                reason: "a controller with peers needs ca_cert, cert and key (or dev_certificates_dir for a local cluster)".into(),
            });
        }
        Ok(())
    }

    /// Certificates of internal RPC, creating development ones if so configured.
    pub fn internal_tls(&self) -> Result<Option<InternalTls>, rustmq_transport::tls::TlsError> {
        let t = &self.tls;
        if let (Some(ca), Some(cert), Some(key)) = (&t.ca_cert, &t.cert, &t.key) {
            return Ok(Some(InternalTls {
                ca_cert: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            }));
        }
        match &t.dev_certificates_dir {
            Some(d) => Ok(Some(
                rustmq_transport::tls::ensure_dev_certificates(d)?.into(),
            )),
            None => Ok(None),
        }
    }

    /// Options to open the controller with.
    pub fn options(&self) -> Result<ControllerOptions, ConfigError> {
        let id = self.node_id()?;
        let peers = self.peers()?;
        let mut o = ControllerOptions::single_node(self.controller.data_dir.clone());
        o.node_id = id;
        o.advertised_addr = peers
            .get(&id)
            .cloned()
            .unwrap_or_else(|| self.controller.raft_listen.to_string());
        o.heartbeat_interval = Duration::from_millis(self.raft.heartbeat_interval_ms);
        o.election_timeout = Duration::from_millis(self.raft.election_timeout_ms);
        o.snapshot_after_logs = self.raft.snapshot_after_logs;
        o.logs_kept_after_snapshot = self.raft.logs_kept_after_snapshot;
        o.rpc_timeout = Duration::from_millis(self.raft.rpc_timeout_ms);
        o.broker_heartbeat_timeout = Duration::from_millis(self.admin.health_timeout_ms);
        o.broker_check_interval = Duration::from_millis(self.admin.health_check_interval_ms);
        o.rpc_listen = vec![self.controller.raft_listen];
        if self.controller.rpc_listen != self.controller.raft_listen {
            o.rpc_listen.push(self.controller.rpc_listen);
        }
        o.tls = self.internal_tls().map_err(|e| ConfigError::Value {
            key: "tls".into(),
            reason: e.to_string(),
        })?;
        o.peers = peers;
        o.balancer = self.autobalancer.options()?;
        Ok(o)
    }
}

#[cfg(test)]
// figment's Jail closures return its (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    /// Every `config/controller*.toml` loads: the samples cannot drift from the loader.
    #[test]
    fn every_sample_config_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        figment::Jail::expect_with(|_| {
            let mut n = 0;
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "toml")
                    && p.file_name()
                        .is_some_and(|f| f.to_string_lossy().starts_with("controller"))
                {
                    let c = ControllerConfig::load(Some(&p))
                        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                    assert_eq!(c.peers().unwrap().len(), 3, "{}", p.display());
                    n += 1;
                }
            }
            assert!(n >= 5, "sample configs found: {n}");
            Ok(())
        });
    }

    fn load_str(toml: &str) -> Result<ControllerConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, toml).unwrap();
        ControllerConfig::load(Some(&p))
    }

    #[test]
    fn a_pod_finds_its_node_id_by_its_host_name_in_the_peers() {
        let peers = "[raft]\npeers = [\"controller-1@rmq-controller-0.rmq-controller.ns.svc:9095\", \"controller-2@rmq-controller-1.rmq-controller.ns.svc:9095\", \"controller-3@rmq-controller-2.rmq-controller.ns.svc:9095\"]\n[tls]\ndev_certificates_dir = \"/tmp/unused\"\n";
        for (name, id) in [
            ("rmq-controller-1", 2),
            ("rmq-controller-2.rmq-controller.ns.svc", 3),
            ("controller-1", 1),
        ] {
            let toml = format!("[controller]\nnode_id = \"{name}\"\n{peers}");
            let c: ControllerConfig = Figment::from(Toml::string(&toml)).extract().unwrap();
            assert_eq!(c.node_id().unwrap(), id, "{name}");
        }
        let toml = format!("[controller]\nnode_id = \"rmq-controller-7\"\n{peers}");
        let c: ControllerConfig = Figment::from(Toml::string(&toml)).extract().unwrap();
        assert!(
            c.node_id()
                .unwrap_err()
                .to_string()
                .contains("nor the host of a raft.peers entry")
        );
    }

    #[test]
    fn bad_configs_name_the_key() {
        let cases = [
            (
                "[controller]\nnode_id = \"broker-x\"\n",
                "controller.node_id",
            ),
            (
                "[controller]\nnode_id = \"controller-0\"\n",
                "controller.node_id",
            ),
            ("[raft]\npeers = [\"controller-2@h:9095\"]\n", "raft.peers"),
            ("[raft]\npeers = [\"controller-1\"]\n", "raft.peers"),
            ("[raft]\npeers = [\"controller-1@h\"]\n", "raft.peers"),
            (
                "[raft]\npeers = [\"controller-1@h:1\", \"controller-1@g:1\"]\n",
                "raft.peers",
            ),
            (
                "[raft]\nelection_timeout_ms = 100\n",
                "raft.election_timeout_ms",
            ),
            ("[tls]\nca_cert = \"/x\"\n", "tls"),
            (
                "[raft]\npeers = [\"controller-1@h:1\", \"controller-2@g:1\"]\n",
                "tls",
            ),
            ("[raft]\nelection_timeout = 100\n", "election_timeout"),
            ("[controller]\nhttp_listen = \"nowhere\"\n", "http_listen"),
            (
                "[admin.rate_limiting]\ntrusted_proxies = [\"proxy\"]\n",
                "admin.rate_limiting.trusted_proxies",
            ),
            (
                "[admin.rate_limiting.endpoints]\n\"topics\" = { burst_size = 1, refill_rate = 1 }\n",
                "admin.rate_limiting.endpoints",
            ),
            (
                "[admin.rate_limiting.endpoints]\n\"/x\" = { burst_size = 0, refill_rate = 1 }\n",
                "burst_size",
            ),
            ("[admin]\nautobalancer = true\n", "autobalancer"),
        ];
        // In a jail: figment's lock keeps another test's environment variables out.
        figment::Jail::expect_with(|_| {
            for (toml, key) in cases {
                let e = load_str(toml).unwrap_err().to_string();
                assert!(e.contains(key), "{toml:?}: {e}");
            }
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[controller]\nnode_id = \"controller-1\"\n[raft]\npeers = [\"controller-1@a:1\", \"controller-2@b:1\", \"controller-3@c:1\"]\n[tls]\ndev_certificates_dir = \"certs\"\n",
            )?;
            jail.set_env("RUSTMQ_CONTROLLER__NODE_ID", "controller-3");
            jail.set_env("RUSTMQ_RAFT__HEARTBEAT_INTERVAL_MS", "50");
            // The seed's flat admin variables.
            jail.set_env("RUSTMQ_ADMIN_RATE_LIMITING_ENABLED", "false");
            jail.set_env("RUSTMQ_ADMIN_GLOBAL_BURST_SIZE", "7");
            jail.set_env("RUSTMQ_ADMIN_PER_IP_REFILL_RATE", "9");
            jail.set_env("RUSTMQ_ADMIN_CLEANUP_INTERVAL_SECONDS", "60");
            let c = ControllerConfig::load(Some(Path::new("c.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.node_id().map_err(|e| e.to_string())?, 3);
            assert_eq!(c.raft.heartbeat_interval_ms, 50);
            let r = &c.admin.rate_limiting;
            assert!(!r.enabled);
            assert_eq!(r.global_burst_size, 7);
            assert_eq!(r.per_ip_refill_rate, 9);
            assert_eq!(r.cleanup_interval_seconds, 60);
            jail.set_env("RUSTMQ_ADMIN_GLOBAL_BURST_SIZE", "0");
            let e = ControllerConfig::load(Some(Path::new("c.toml"))).unwrap_err();
            assert!(
                e.to_string()
                    .contains("admin.rate_limiting.global_burst_size"),
                "{e}"
            );
            jail.set_env("RUSTMQ_ADMIN_GLOBAL_BURST_SIZE", "many");
            let e = ControllerConfig::load(Some(Path::new("c.toml"))).unwrap_err();
            let e = e.to_string().to_lowercase();
            assert!(
                e.contains("global_burst_size") && e.contains("rustmq_admin_"),
                "{e}"
            );
            Ok(())
        });
    }
}
