//! A running controller: Raft, the state machine, and what it serves. Split by concern:
//! `forwarding` (writes reach the leader from any node), `membership` (voters and
//! observers joining and leaving), `liveness` (broker heartbeats, registration and
//! controlled shutdown) and `commands` (one typed method per metadata change).

mod commands;
mod forwarding;
mod liveness;
mod membership;
mod rebalance;

pub use rebalance::RebalanceStatus;

use liveness::watch_brokers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, ServerState};
use tokio::sync::watch;

use crate::metadata::{ClusterMetadata, Command};
use crate::raft::{LogStore, Network, Raft, StateMachine};
use crate::{ControllerError, ControllerOptions, rpc};

/// Raft status as the health endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftStatus {
    /// This node id.
    pub node_id: u64,
    /// Whether this node leads.
    pub is_leader: bool,
    /// Current term.
    pub term: u64,
    /// Current leader, if known.
    pub leader: Option<u64>,
    /// This node leads, or has taken entries or a heartbeat from the leader since it
    /// started. A restarted follower knows the leader from its saved vote at once, before
    /// the leader has reached it (the leader may still be calling its old address).
    pub leader_reached: bool,
}

/// A running controller.
pub struct Controller {
    raft: Raft,
    state: StateMachine,
    node_id: u64,
    started: Instant,
    /// Set once a leader's AppendEntries (or snapshot) was accepted here.
    leader_reached: std::sync::atomic::AtomicBool,
    rpc: Option<rpc::RpcClient>,
    rpc_endpoints: Vec<quinn::Endpoint>,
    rpc_timeout: Duration,
    election_timeout: Duration,
    /// Last heartbeat per broker, as this node (when leader) received them. Liveness is
    /// leader-local, as in KRaft: only the resulting online/offline changes go through Raft.
    heartbeats: parking_lot::Mutex<std::collections::HashMap<u32, Instant>>,
    /// Since when each broker has been offline and without replicas, as this node (when
    /// leader) saw it: its metadata observer goes after a grace period.
    gone_since: parking_lot::Mutex<std::collections::HashMap<u32, Instant>>,
    /// The broker's side of broker-to-broker RPC (replica fetches), set by a broker that
    /// embeds this controller as its metadata observer. Weak: the broker holds this
    /// controller, and a strong reference back would keep both (and the broker's caches)
    /// alive after shutdown.
    replica_service: std::sync::OnceLock<std::sync::Weak<dyn ReplicaService>>,
    /// Time from proposing a command on the leader to its commit and apply.
    commit_latency: rustmq_transport::metrics::Latency,
    /// The brokers' load reports (leader-local, from heartbeats).
    loads: crate::balance::LoadReports,
    /// The leader's rebalancing state.
    balancer: parking_lot::Mutex<rebalance::Balancer>,
    /// How rebalances are bounded and when the auto-balancer acts.
    balancer_options: crate::balance::BalancerOptions,
}

/// What a broker serves to other brokers over internal RPC.
pub trait ReplicaService: Send + Sync + 'static {
    /// A follower pulls partition data from this broker (the leader).
    fn replica_fetch(
        &self,
        request: rpc::ReplicaFetchRequest,
    ) -> futures::future::BoxFuture<'_, rpc::ReplicaFetchResponse>;
}

impl Controller {
    /// Opens the controller's storage, starts Raft, bootstraps a one-voter cluster on first
    /// start, and waits until it leads.
    pub async fn open(opts: ControllerOptions) -> Result<Arc<Self>, ControllerError> {
        let storage_err = |reason: String| ControllerError::Storage {
            path: opts.data_dir.clone(),
            reason,
        };
        std::fs::create_dir_all(&opts.data_dir).map_err(|e| storage_err(e.to_string()))?;
        let log = LogStore::open(&opts.data_dir.join("raft-log.redb"))
            .map_err(|e| storage_err(e.to_string()))?;
        let state = StateMachine::open(&opts.data_dir).map_err(|e| storage_err(e.to_string()))?;
        let election_ms = opts.election_timeout.as_millis() as u64;
        let config = openraft::Config {
            cluster_name: "rustmq".into(),
            heartbeat_interval: opts.heartbeat_interval.as_millis() as u64,
            election_timeout_min: election_ms,
            election_timeout_max: election_ms * 2,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(opts.snapshot_after_logs),
            max_in_snapshot_log_to_keep: opts.logs_kept_after_snapshot,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ControllerError::Raft(e.to_string()))?;
        let observer = !opts.join.is_empty();
        let clustered = !opts.peers.is_empty() || observer;
        if clustered && (opts.tls.is_none() || opts.rpc_listen.is_empty()) {
            return Err(ControllerError::Raft(
                "a controller with peers needs rpc_listen and internal TLS certificates".into(),
            ));
        }
        if !observer && clustered && !opts.peers.contains_key(&opts.node_id) {
            return Err(ControllerError::Raft(format!(
                "node id {} is not in the peer list {:?}",
                opts.node_id,
                opts.peers.keys().collect::<Vec<_>>()
            )));
        }
        let (network, rpc, endpoints) = match &opts.tls {
            Some(tls) if !opts.rpc_listen.is_empty() => {
                let rpc_err = |e: rpc::RpcSetupError| ControllerError::Raft(e.to_string());
                let endpoints = opts
                    .rpc_listen
                    .iter()
                    .map(|a| rpc::bind(*a, tls))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(rpc_err)?;
                // Calls to peers leave from the Raft listener's port.
                let client =
                    rpc::RpcClient::on_endpoint(endpoints[0].clone(), tls).map_err(rpc_err)?;
                (Network::new(client.clone()), Some(client), endpoints)
            }
            _ => (Network::none(), None, Vec::new()),
        };
        let raft = Raft::new(opts.node_id, Arc::new(config), network, log, state.clone())
            .await
            .map_err(|e| ControllerError::Raft(e.to_string()))?;
        let controller = Arc::new(Self {
            raft,
            state,
            node_id: opts.node_id,
            started: Instant::now(),
            leader_reached: std::sync::atomic::AtomicBool::new(false),
            rpc,
            rpc_endpoints: endpoints.clone(),
            rpc_timeout: opts.rpc_timeout,
            election_timeout: opts.election_timeout,
            heartbeats: parking_lot::Mutex::default(),
            gone_since: parking_lot::Mutex::default(),
            replica_service: std::sync::OnceLock::new(),
            commit_latency: Default::default(),
            loads: Default::default(),
            balancer: Default::default(),
            balancer_options: opts.balancer.clone(),
        });
        if controller.rpc.is_some() {
            // Brokers heartbeat over internal RPC; a dev node's broker lives in-process.
            tokio::spawn(watch_brokers(
                Arc::downgrade(&controller),
                opts.broker_heartbeat_timeout,
                opts.broker_check_interval,
            ));
            tokio::spawn(rebalance::balance(
                Arc::downgrade(&controller),
                opts.balancer.clone(),
            ));
        }
        for endpoint in endpoints {
            // Serving starts before bootstrap: peers' votes and appends must get through.
            tokio::spawn(rpc::serve(endpoint, controller.clone()));
        }
        if observer {
            controller.join_as_observer(&opts).await?;
        } else {
            controller.bootstrap(&opts).await?;
        }
        if !clustered {
            let wait = opts.election_timeout * 10;
            controller
                .raft
                .wait(Some(wait))
                .state(ServerState::Leader, "controller becomes leader")
                .await
                .map_err(|_| ControllerError::NoLeader(wait))?;
            controller.ensure_cluster_id().await?;
        }
        Ok(controller)
    }

    /// On the leader: gives the cluster its id if it has none yet (a new cluster, or one
    /// started by a version that had no ids). Raft makes the first proposal win everywhere.
    async fn ensure_cluster_id(&self) -> Result<(), ControllerError> {
        if !self.metadata().cluster_id.is_empty() {
            return Ok(());
        }
        let id = format!("{:032x}", rand::random::<u128>());
        self.propose_local(Command::SetClusterId { id }).await?;
        tracing::info!(cluster_id = %self.metadata().cluster_id, "cluster id set");
        Ok(())
    }

    /// The internal RPC address this node listens on (the first listener).
    pub fn rpc_addr(&self) -> Option<std::net::SocketAddr> {
        self.rpc_endpoints.first().and_then(|e| e.local_addr().ok())
    }

    /// Initializes the cluster exactly once: only on a node with no Raft state, only on the
    /// lowest node id of the peer list, and only when no peer reports an initialized cluster
    /// (a node that lost its disk must not found a second cluster). Others wait to be
    /// contacted by the leader.
    async fn bootstrap(&self, opts: &ControllerOptions) -> Result<(), ControllerError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| ControllerError::Raft(e.to_string()))?;
        if initialized {
            tracing::info!(
                node_id = opts.node_id,
                "controller state recovered from disk"
            );
            return Ok(());
        }
        let members: BTreeMap<u64, BasicNode> = if opts.peers.is_empty() {
            BTreeMap::from([(
                opts.node_id,
                BasicNode {
                    addr: opts.advertised_addr.clone(),
                },
            )])
        } else {
            if opts.peers.keys().next() != Some(&opts.node_id) {
                tracing::info!(
                    node_id = opts.node_id,
                    "no local Raft state; waiting for the cluster's leader to contact this node"
                );
                return Ok(());
            }
            for (id, addr) in &opts.peers {
                if *id == opts.node_id {
                    continue;
                }
                if let Some(rpc) = &self.rpc
                    && let Ok(rpc::Response::Status {
                        initialized: true, ..
                    }) = rpc
                        .call(addr, &rpc::Request::Status, self.rpc_timeout)
                        .await
                {
                    tracing::warn!(
                        node_id = opts.node_id,
                        peer = id,
                        "no local Raft state but controller {id} belongs to a cluster; joining it instead of bootstrapping"
                    );
                    return Ok(());
                }
            }
            opts.peers
                .iter()
                .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
                .collect()
        };
        match self.raft.initialize(members).await {
            Ok(()) => {
                tracing::info!(
                    node_id = opts.node_id,
                    voters = opts.peers.len().max(1),
                    "bootstrapped a new controller cluster"
                );
                Ok(())
            }
            // Another start won the race to bootstrap; the state is on disk either way.
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(ControllerError::Raft(e.to_string())),
        }
    }

    /// Installs the broker's side of broker-to-broker RPC (once). Only a weak reference is
    /// kept: requests get "not a broker" once the broker is dropped.
    pub fn set_replica_service(&self, service: &Arc<dyn ReplicaService>) {
        let _ = self.replica_service.set(Arc::downgrade(service));
    }

    /// The internal RPC client (a broker uses it to reach other brokers).
    pub fn rpc_client(&self) -> Option<&rpc::RpcClient> {
        self.rpc.as_ref()
    }

    /// The latest applied metadata.
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.state.metadata()
    }

    /// A receiver notified on every metadata change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterMetadata>> {
        self.state.subscribe()
    }

    /// Raft status.
    pub fn status(&self) -> RaftStatus {
        let m = self.raft.metrics().borrow().clone();
        RaftStatus {
            node_id: self.node_id,
            is_leader: m.current_leader == Some(self.node_id),
            term: m.current_term,
            leader: m.current_leader,
            leader_reached: m.current_leader == Some(self.node_id)
                || self
                    .leader_reached
                    .load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Time since this controller started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops Raft and internal RPC.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        for e in &self.rpc_endpoints {
            e.close(quinn::VarInt::from_u32(0), b"controller shutting down");
        }
    }
}

impl Controller {
    /// Registers the controller's metrics once: its latency histograms and a collector that
    /// reads Raft and catalog figures at scrape time.
    pub fn register_metrics(self: &Arc<Self>, r: &mut prometheus_client::registry::Registry) {
        r.register(
            "controller_commit_seconds",
            "Time from proposing a metadata command on the leader to its commit and apply",
            self.commit_latency.histogram(),
        );
        r.register(
            "controller_apply_seconds",
            "Time to apply one batch of committed metadata entries",
            self.state.apply_latency().histogram(),
        );
        r.register_collector(Box::new(ControllerFigures(Arc::downgrade(self))));
    }
}

/// Raft and catalog figures, read at each scrape. Weak: the registry must not keep a shut
/// down controller alive.
struct ControllerFigures(std::sync::Weak<Controller>);

impl std::fmt::Debug for ControllerFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControllerFigures")
    }
}

impl prometheus_client::collector::Collector for ControllerFigures {
    fn encode(&self, mut e: prometheus_client::encoding::DescriptorEncoder) -> std::fmt::Result {
        use rustmq_transport::metrics::gauge;
        let Some(c) = self.0.upgrade() else {
            return Ok(());
        };
        let st = c.status();
        let md = c.metadata();
        let e = &mut e;
        gauge(
            e,
            "controller_is_leader",
            "1 when this controller leads",
            i64::from(st.is_leader),
        )?;
        gauge(
            e,
            "controller_raft_term",
            "Current Raft term",
            st.term as i64,
        )?;
        gauge(e, "topics", "Topics", md.topics.len() as i64)?;
        gauge(
            e,
            "catalog_objects",
            "Objects the catalog references",
            md.catalog.objects.len() as i64,
        )?;
        gauge(
            e,
            "catalog_object_bytes",
            "Bytes of the objects the catalog references",
            md.catalog.objects.values().map(|o| o.size).sum::<u64>() as i64,
        )?;
        gauge(
            e,
            "catalog_pending_deletes",
            "Unreferenced objects waiting for their grace period",
            md.catalog.deleting.len() as i64,
        )
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
