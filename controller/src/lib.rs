//! RustMQ controller: cluster metadata replicated with Raft (openraft), and the admin REST API.
//!
//! The controller owns topics, partition assignments and broker registrations. Every change
//! is a [`metadata::Command`] committed through Raft and applied by the state machine; there is
//! no other write path. In dev mode one voter runs inside the broker process; a production
//! cluster runs three or five.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rustmq_controller::ControllerError> {
//! use rustmq_controller::{Controller, ControllerOptions, metadata::TopicConfig};
//! let c = Controller::open(ControllerOptions::single_node("/tmp/ctl".into())).await?;
//! c.create_topic("orders", 6, 1, TopicConfig::default()).await?;
//! assert!(c.metadata().topics.contains_key("orders"));
//! # Ok(()) }
//! ```

pub mod api;
pub mod catalog;
pub mod config;
#[cfg(feature = "test-support")]
pub mod local;
pub mod metadata;
pub mod raft;
pub mod rpc;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, ServerState};
use tokio::sync::watch;

use metadata::{
    BrokerRegistration, ClusterMetadata, Command, CommandResult, MetadataError, Topic, TopicConfig,
};
use raft::{LogStore, Network, Raft, StateMachine};
use rustmq_transport::tls;

/// Errors of the controller API.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The change was refused by the state machine.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// This controller is not the Raft leader.
    #[error("this controller is not the leader{}", .leader_hint.map(|l| format!("; leader is controller-{l}")).unwrap_or_default())]
    NotLeader {
        /// The leader, when known.
        leader_hint: Option<u64>,
    },
    /// Raft failed (shutting down, storage error, ...).
    #[error("raft: {0}")]
    Raft(String),
    /// Opening the on-disk state failed.
    #[error("controller storage at {path}: {reason}")]
    Storage {
        /// Path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No leader was elected in time.
    #[error("no controller leader elected within {0:?}")]
    NoLeader(Duration),
    /// A membership change was refused (unknown controller, last voter, change in flight).
    #[error("membership change refused: {0}")]
    Membership(String),
    /// The write was not committed in time (this leader cannot reach a majority); it may
    /// still be applied later if it was replicated.
    #[error("the write was not committed within {0:?}: no majority of controllers reachable")]
    CommitTimeout(Duration),
}

/// How to start a controller.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Raft node id.
    pub node_id: u64,
    /// Directory for the Raft log and snapshots.
    pub data_dir: PathBuf,
    /// Address peers use to reach this controller.
    pub advertised_addr: String,
    /// Leader heartbeat interval.
    pub heartbeat_interval: Duration,
    /// Lower bound of the election timeout (the upper bound is twice this).
    pub election_timeout: Duration,
    /// Take a snapshot after this many log entries.
    pub snapshot_after_logs: u64,
    /// Log entries kept behind a snapshot; a follower further behind gets the snapshot.
    pub logs_kept_after_snapshot: u64,
    /// Every voter of the cluster, this one included (`node id -> advertised address`).
    /// Empty: a one-voter controller without internal RPC (dev mode).
    pub peers: BTreeMap<u64, String>,
    /// Where internal RPC listens (Raft and brokers); required with peers.
    pub rpc_listen: Vec<std::net::SocketAddr>,
    /// Certificates of internal RPC; required with peers.
    pub tls: Option<tls::InternalTls>,
    /// Timeout of one internal call (also bounds forwarding a write to the leader).
    pub rpc_timeout: Duration,
    /// A broker without a heartbeat for this long is marked offline (by the leader).
    pub broker_heartbeat_timeout: Duration,
    /// How often the leader looks for brokers past the timeout.
    pub broker_check_interval: Duration,
    /// Observer mode (a broker): internal RPC addresses of controllers to ask for admission
    /// as a non-voting learner. The node then replicates the metadata log like a voter,
    /// never votes or leads, and forwards its writes to the leader. Empty: a voter.
    pub join: Vec<String>,
}

/// Raft node id of broker `n`'s metadata observer (brokers and controllers share the id
/// space of the Raft membership; observers sit above every controller id).
pub const BROKER_NODE_BASE: u64 = 1 << 32;

impl ControllerOptions {
    /// Options for a one-voter controller storing its state in `data_dir`.
    pub fn single_node(data_dir: PathBuf) -> Self {
        Self {
            node_id: 1,
            data_dir,
            advertised_addr: "127.0.0.1:9094".into(),
            heartbeat_interval: Duration::from_millis(250),
            election_timeout: Duration::from_millis(1000),
            snapshot_after_logs: 1000,
            logs_kept_after_snapshot: 100,
            peers: BTreeMap::new(),
            rpc_listen: Vec::new(),
            tls: None,
            rpc_timeout: Duration::from_secs(5),
            broker_heartbeat_timeout: Duration::from_millis(1500),
            broker_check_interval: Duration::from_millis(100),
            join: Vec::new(),
        }
    }
}

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
}

/// A running controller.
pub struct Controller {
    raft: Raft,
    state: StateMachine,
    node_id: u64,
    started: Instant,
    rpc: Option<rpc::RpcClient>,
    rpc_endpoints: Vec<quinn::Endpoint>,
    rpc_timeout: Duration,
    election_timeout: Duration,
    /// Last heartbeat per broker, as this node (when leader) received them. Liveness is
    /// leader-local, as in KRaft: only the resulting online/offline changes go through Raft.
    heartbeats: parking_lot::Mutex<std::collections::HashMap<u32, Instant>>,
    /// The broker's side of broker-to-broker RPC (replica fetches), set by a broker that
    /// embeds this controller as its metadata observer. Weak: the broker holds this
    /// controller, and a strong reference back would keep both (and the broker's caches)
    /// alive after shutdown.
    replica_service: std::sync::OnceLock<std::sync::Weak<dyn ReplicaService>>,
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
            rpc,
            rpc_endpoints: endpoints.clone(),
            rpc_timeout: opts.rpc_timeout,
            election_timeout: opts.election_timeout,
            heartbeats: parking_lot::Mutex::default(),
            replica_service: std::sync::OnceLock::new(),
        });
        if controller.rpc.is_some() {
            // Brokers heartbeat over internal RPC; a dev node's broker lives in-process.
            tokio::spawn(watch_brokers(
                Arc::downgrade(&controller),
                opts.broker_heartbeat_timeout,
                opts.broker_check_interval,
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

    /// Observer mode: asks the controllers (any of them forwards to the leader) to add this
    /// node as a learner at its listener's address, then waits until it knows the leader and
    /// has applied the log it was sent.
    async fn join_as_observer(&self, opts: &ControllerOptions) -> Result<(), ControllerError> {
        let advertised_port = opts
            .advertised_addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .filter(|p| *p != 0);
        let listen_port = opts.rpc_listen.first().map(|a| a.port());
        let addr = match self.rpc_addr() {
            // A port of its own is advertised (a proxy or NAT in front): use it verbatim.
            Some(_) if advertised_port.is_some() && advertised_port != listen_port => {
                opts.advertised_addr.clone()
            }
            // Listening on an ephemeral or wildcard address: advertise the host configured
            // in advertised_addr with the port actually bound.
            Some(bound) => match opts.advertised_addr.rsplit_once(':') {
                Some((host, _)) if !host.is_empty() => format!("{host}:{}", bound.port()),
                _ => bound.to_string(),
            },
            None => opts.advertised_addr.clone(),
        };
        let Some(rpc) = &self.rpc else {
            return Err(ControllerError::Raft(
                "observer mode needs internal RPC".into(),
            ));
        };
        let deadline = Instant::now() + opts.rpc_timeout * 6;
        let mut last_error = String::from("no controller answered");
        'admitted: loop {
            for target in &opts.join {
                let request = rpc::Request::AddLearner {
                    id: opts.node_id,
                    addr: addr.clone(),
                };
                match rpc.call(target, &request, opts.rpc_timeout * 6).await {
                    Ok(rpc::Response::Propose(Ok(_))) => break 'admitted,
                    Ok(rpc::Response::Propose(Err(e))) => last_error = format!("{target}: {e}"),
                    Ok(other) => last_error = format!("{target}: unexpected answer {other:?}"),
                    Err(e) => last_error = e.to_string(),
                }
            }
            if Instant::now() >= deadline {
                return Err(ControllerError::Raft(format!(
                    "could not join the controller cluster at {:?}: {last_error}",
                    opts.join
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let wait = opts.rpc_timeout * 2;
        self.raft
            .wait(Some(wait))
            .metrics(
                |m| m.current_leader.is_some() && m.last_applied.is_some(),
                "observer knows the leader and has applied the log",
            )
            .await
            .map_err(|_| ControllerError::NoLeader(wait))?;
        tracing::info!(node_id = opts.node_id, %addr, "joined the controller cluster as an observer");
        Ok(())
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

    /// Applies `cmd` through Raft. On a follower the write is forwarded to the leader over
    /// internal RPC; while no leader is known (an election) it is retried for up to twice the
    /// election timeout, then refused with `NotLeader`.
    async fn propose(&self, cmd: Command) -> Result<CommandResult, ControllerError> {
        self.on_leader(LeaderOp::Write(cmd)).await
    }

    /// Runs `op` here if this node leads, else on the leader (see [`Controller::propose`]).
    async fn on_leader(&self, op: LeaderOp) -> Result<CommandResult, ControllerError> {
        let deadline = Instant::now() + self.election_timeout * 2;
        loop {
            let hint = match self.run_local(op.clone()).await {
                Err(ControllerError::NotLeader { leader_hint }) => leader_hint,
                other => return other,
            };
            let leader_addr = hint.and_then(|id| self.members().get(&id).cloned());
            if let (Some(rpc), Some(addr)) = (&self.rpc, &leader_addr) {
                let request = op.request();
                // A dead leader does not answer; the election that replaces it does. Give up
                // on the forward as soon as this node learns of another leader.
                let mut metrics = self.raft.metrics();
                let moved = metrics.wait_for(|m| m.current_leader != hint);
                tokio::select! {
                    r = rpc.call(addr, &request, op.timeout(self.rpc_timeout)) => match r {
                        Ok(rpc::Response::Propose(Ok(r))) => return Ok(r),
                        Ok(rpc::Response::Propose(Err(rpc::ProposeError::NotLeader { .. }))) => {}
                        Ok(rpc::Response::Propose(Err(e))) => return Err(e.into()),
                        // The leader is unreachable: look again.
                        Ok(_) | Err(_) => {}
                    },
                    _ = moved => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(ControllerError::NotLeader { leader_hint: hint });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn run_local(&self, op: LeaderOp) -> Result<CommandResult, ControllerError> {
        match op {
            LeaderOp::Heartbeat { id } => self.heartbeat_local(id).await,
            LeaderOp::AddLearner { id, addr } => self.add_observer_local(id, addr).await,
            LeaderOp::Write(cmd) => self.propose_local(cmd).await,
            LeaderOp::AddVoter { id, addr } => self.add_voter_local(id, addr).await,
            LeaderOp::RemoveVoter { id } => self.remove_voter_local(id).await,
        }
    }

    /// Adds controller `id` at `addr` as a voter: first as a learner that catches up with the
    /// log (or a snapshot), then promoted through a joint configuration. Runs on the leader;
    /// a follower forwards it. Idempotent: a voter already present is left as it is.
    ///
    /// ```no_run
    /// # async fn demo(c: &rustmq_controller::Controller) -> Result<(), rustmq_controller::ControllerError> {
    /// c.add_controller(4, "controller-4:9095".into()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_controller(&self, id: u64, addr: String) -> Result<(), ControllerError> {
        if id == 0 {
            return Err(ControllerError::Membership(
                "controller ids start at 1".into(),
            ));
        }
        self.on_leader(LeaderOp::AddVoter { id, addr })
            .await
            .map(drop)
    }

    /// Removes controller `id` from the voters (and the cluster). Refused when it would leave
    /// no voter; removing the leader makes it step down once the change commits.
    pub async fn remove_controller(&self, id: u64) -> Result<(), ControllerError> {
        self.on_leader(LeaderOp::RemoveVoter { id }).await.map(drop)
    }

    fn membership_err(
        &self,
        e: RaftError<u64, ClientWriteError<u64, BasicNode>>,
    ) -> ControllerError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                ControllerError::NotLeader {
                    leader_hint: f.leader_id,
                }
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                ControllerError::Membership(e.to_string())
            }
            other => ControllerError::Raft(other.to_string()),
        }
    }

    fn leading(&self) -> Result<openraft::Membership<u64, BasicNode>, ControllerError> {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.node_id) {
            return Err(ControllerError::NotLeader {
                leader_hint: m.current_leader,
            });
        }
        Ok(m.membership_config.membership().clone())
    }

    async fn add_voter_local(
        &self,
        id: u64,
        addr: String,
    ) -> Result<CommandResult, ControllerError> {
        let membership = self.leading()?;
        if membership.voter_ids().any(|v| v == id) {
            return Ok(CommandResult::Ok);
        }
        if self.rpc.is_none() {
            return Err(ControllerError::Membership(
                "this controller runs without internal RPC (dev mode) and cannot have peers".into(),
            ));
        }
        let timeout = self.rpc_timeout * 6;
        if membership.get_node(&id).is_none() {
            // Blocks until the learner has caught up, so promotion does not stall writes.
            let learner = self
                .raft
                .add_learner(id, BasicNode { addr: addr.clone() }, true);
            match tokio::time::timeout(timeout, learner).await {
                Ok(r) => {
                    r.map_err(|e| self.membership_err(e))?;
                }
                Err(_) => {
                    // Do not leave an unreachable learner in the membership.
                    let forget = openraft::ChangeMembers::RemoveNodes([id].into());
                    let _ = tokio::time::timeout(
                        self.rpc_timeout,
                        self.raft.change_membership(forget, false),
                    )
                    .await;
                    return Err(ControllerError::Membership(format!(
                        "controller-{id} at {addr} did not catch up with the log within {timeout:?} (is it running and reachable?); not added"
                    )));
                }
            }
        }
        let promote = openraft::ChangeMembers::AddVoterIds([id].into());
        tokio::time::timeout(
            self.rpc_timeout,
            self.raft.change_membership(promote, false),
        )
        .await
        .map_err(|_| ControllerError::CommitTimeout(self.rpc_timeout))?
        .map_err(|e| self.membership_err(e))?;
        tracing::info!(controller = id, %addr, "controller added as a voter");
        Ok(CommandResult::Ok)
    }

    /// Adds (or re-addresses) a broker's metadata observer. Refused for controller ids:
    /// voters are added through [`Controller::add_controller`].
    async fn add_observer_local(
        &self,
        id: u64,
        addr: String,
    ) -> Result<CommandResult, ControllerError> {
        let membership = self.leading()?;
        if id < BROKER_NODE_BASE {
            return Err(ControllerError::Membership(format!(
                "node id {id} is a controller id; observers are brokers"
            )));
        }
        let node = BasicNode { addr: addr.clone() };
        let timeout = self.rpc_timeout * 6;
        let work = async {
            match membership.get_node(&id) {
                Some(n) if n.addr == addr => {}
                // A broker restarted on another address: only a learner's address changes.
                Some(_) => {
                    self.raft
                        .change_membership(
                            openraft::ChangeMembers::SetNodes([(id, node)].into()),
                            false,
                        )
                        .await
                        .map_err(|e| self.membership_err(e))?;
                }
                None => {
                    self.raft
                        .add_learner(id, node, true)
                        .await
                        .map_err(|e| self.membership_err(e))?;
                }
            }
            Ok(CommandResult::Ok)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| ControllerError::CommitTimeout(timeout))?
    }

    async fn remove_voter_local(&self, id: u64) -> Result<CommandResult, ControllerError> {
        let membership = self.leading()?;
        if membership.get_node(&id).is_none() {
            return Err(ControllerError::Membership(format!(
                "controller-{id} is not a member of this cluster"
            )));
        }
        if membership.voter_ids().all(|v| v == id) {
            return Err(ControllerError::Membership(format!(
                "controller-{id} is the last voter"
            )));
        }
        let change = openraft::ChangeMembers::RemoveVoters([id].into());
        tokio::time::timeout(self.rpc_timeout, self.raft.change_membership(change, false))
            .await
            .map_err(|_| ControllerError::CommitTimeout(self.rpc_timeout))?
            .map_err(|e| self.membership_err(e))?;
        tracing::info!(controller = id, "controller removed");
        Ok(CommandResult::Ok)
    }

    /// Applies `cmd` if this node leads. Bounded by the RPC timeout: a leader cut off from
    /// its quorum cannot commit, and says so instead of hanging.
    async fn propose_local(&self, cmd: Command) -> Result<CommandResult, ControllerError> {
        let written = tokio::time::timeout(self.rpc_timeout, self.raft.client_write(cmd)).await;
        let Ok(written) = written else {
            return Err(ControllerError::CommitTimeout(self.rpc_timeout));
        };
        match written {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ControllerError::NotLeader {
                    leader_hint: f.leader_id,
                })
            }
            Err(e) => Err(ControllerError::Raft(e.to_string())),
        }
    }

    /// Proposes `cmd` and takes its answer out of the result with `pick`: a refusal becomes
    /// the error, and a result `pick` does not expect is reported as a controller bug.
    async fn propose_expect<T>(
        &self,
        cmd: Command,
        pick: impl FnOnce(CommandResult) -> Option<T>,
    ) -> Result<T, ControllerError> {
        match self.propose(cmd).await? {
            CommandResult::Refused(e) => Err(e.into()),
            r => {
                let kind = r.kind();
                pick(r).ok_or_else(|| ControllerError::Raft(format!("unexpected result {kind}")))
            }
        }
    }

    /// Proposes `cmd`; a refusal becomes the error, any other result is success.
    async fn propose_applied(&self, cmd: Command) -> Result<(), ControllerError> {
        self.propose_expect(cmd, |_| Some(())).await
    }

    /// Creates a topic. Partitions are assigned to the registered brokers.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u32,
        config: TopicConfig,
    ) -> Result<Topic, ControllerError> {
        // Validate before proposing so bad requests do not grow the log.
        metadata::validate_topic_name(name)?;
        let created_at =
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        self.propose_expect(
            Command::CreateTopic {
                name: name.to_string(),
                partitions,
                replication_factor,
                config,
                created_at,
            },
            |r| match r {
                CommandResult::TopicCreated(t) => Some(t),
                _ => None,
            },
        )
        .await
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ControllerError> {
        if !self.metadata().topics.contains_key(name) {
            return Err(MetadataError::UnknownTopic(name.to_string()).into());
        }
        self.propose_applied(Command::DeleteTopic {
            name: name.to_string(),
            deleted_at_ms: now_ms(),
        })
        .await
    }

    /// Registers a broker (no-op when the registration is unchanged).
    pub async fn register_broker(&self, broker: BrokerRegistration) -> Result<(), ControllerError> {
        if self.metadata().brokers.get(&broker.id) == Some(&broker) {
            return Ok(());
        }
        self.propose_applied(Command::RegisterBroker(broker)).await
    }

    /// A broker is alive. Runs on the leader (a follower forwards it); marks the broker
    /// online again if its heartbeats had stopped. Refused with `UnknownBroker` when it is
    /// not registered, which tells the broker to register.
    pub async fn broker_heartbeat(&self, id: u32) -> Result<(), ControllerError> {
        match self.on_leader(LeaderOp::Heartbeat { id }).await? {
            CommandResult::Refused(e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn heartbeat_local(&self, id: u32) -> Result<CommandResult, ControllerError> {
        self.leading()?;
        // A leader cut off from its quorum must not keep brokers looking alive while the
        // majority's new leader hears nothing: confirm leadership with a quorum first.
        if !matches!(
            tokio::time::timeout(self.election_timeout, self.raft.ensure_linearizable()).await,
            Ok(Ok(_))
        ) {
            return Err(ControllerError::NotLeader { leader_hint: None });
        }
        let md = self.metadata();
        if !md.brokers.contains_key(&id) {
            return Ok(CommandResult::Refused(MetadataError::UnknownBroker(id)));
        }
        self.heartbeats.lock().insert(id, Instant::now());
        if md.offline_brokers.contains(&id) {
            tracing::info!(broker = id, "broker heartbeats resumed; marking it online");
            return self
                .propose_local(Command::SetBrokerOnline { id, online: true })
                .await;
        }
        Ok(CommandResult::Ok)
    }

    /// Commits consumer-group offsets through Raft; returns how many were stored.
    pub async fn commit_offsets(
        &self,
        group: &str,
        offsets: Vec<metadata::OffsetCommit>,
    ) -> Result<usize, ControllerError> {
        let committed_at_ms = now_ms();
        self.propose_expect(
            Command::CommitOffsets {
                group: group.to_string(),
                offsets,
                committed_at_ms,
            },
            |r| match r {
                CommandResult::OffsetsCommitted(n) => Some(n),
                _ => None,
            },
        )
        .await
    }

    /// Forgets a group's committed offsets.
    pub async fn delete_group_offsets(&self, group: &str) -> Result<(), ControllerError> {
        self.propose(Command::DeleteGroupOffsets {
            group: group.to_string(),
        })
        .await
        .map(drop)
    }

    /// Registers an uploaded object in the catalog. Idempotent for retries: ranges already
    /// uploaded are skipped and an object with nothing new comes back `Redundant`.
    pub async fn register_object(
        &self,
        object: catalog::UploadedObject,
    ) -> Result<catalog::Registered, ControllerError> {
        self.propose_expect(Command::RegisterObject(object), |r| match r {
            CommandResult::ObjectRegistered(r) => Some(r),
            _ => None,
        })
        .await
    }

    /// Replaces the slices a compacted object covers, all or nothing.
    pub async fn compact_object(
        &self,
        object: catalog::UploadedObject,
    ) -> Result<(), ControllerError> {
        self.propose_applied(Command::CompactObject {
            object,
            now_ms: now_ms(),
        })
        .await
    }

    /// Retention in object storage: forget a partition's data below `start_offset`.
    pub async fn trim_partition(
        &self,
        key: catalog::PartitionKey,
        start_offset: i64,
    ) -> Result<(), ControllerError> {
        self.propose(Command::TrimPartition {
            key,
            start_offset,
            now_ms: now_ms(),
        })
        .await
        .map(drop)
    }

    /// Unreferenced objects were deleted from the bucket.
    pub async fn forget_objects(&self, keys: Vec<String>) -> Result<(), ControllerError> {
        self.propose(Command::ForgetObjects { keys })
            .await
            .map(drop)
    }

    /// A partition leader changes the ISR; returns the partition as the controllers now
    /// hold it. Refused with `StaleLeader` when the leader's view is out of date.
    pub async fn alter_isr(
        &self,
        topic_id: u64,
        partition: u32,
        leader: u32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<u32>,
    ) -> Result<metadata::PartitionAssignment, ControllerError> {
        self.propose_expect(
            Command::AlterIsr {
                topic_id,
                partition,
                leader,
                leader_epoch,
                partition_epoch,
                isr,
            },
            |r| match r {
                CommandResult::Partition(a) => Some(a),
                _ => None,
            },
        )
        .await
    }

    /// A broker shuts down: its leaderships move to other in-sync replicas and it leaves
    /// every ISR.
    pub async fn controlled_shutdown(&self, id: u32) -> Result<(), ControllerError> {
        self.propose_applied(Command::ControlledShutdown { id })
            .await
    }

    /// A new idempotent-producer id.
    pub async fn init_producer_id(&self) -> Result<i64, ControllerError> {
        self.propose_expect(Command::InitProducerId, |r| match r {
            CommandResult::ProducerId(id) => Some(id),
            _ => None,
        })
        .await
    }

    /// Moves partitions of `topic` to new replica lists (preferred leader first).
    pub async fn reassign_partitions(
        &self,
        topic: &str,
        targets: Vec<(u32, Vec<u32>)>,
    ) -> Result<(), ControllerError> {
        self.propose_applied(Command::ReassignPartitions {
            topic: topic.to_string(),
            targets,
        })
        .await
    }

    /// Drains a broker: no new replicas go to it, and every replica it holds moves to the
    /// live broker (not already a replica of that partition) holding the fewest replicas,
    /// preferring the drained replica's rack. Leadership moves as each reassignment
    /// completes. Returns the number of partitions being moved.
    pub async fn drain_broker(&self, id: u32) -> Result<usize, ControllerError> {
        self.propose_applied(Command::SetDraining { id, draining: true })
            .await?;
        let md = self.metadata();
        let plan = metadata::drain_plan(&md, id)?;
        let moved = plan.values().map(Vec::len).sum();
        for (topic, targets) in plan {
            self.reassign_partitions(&topic, targets).await?;
        }
        Ok(moved)
    }

    /// Stops draining a broker (it may receive new replicas again).
    pub async fn undrain_broker(&self, id: u32) -> Result<(), ControllerError> {
        self.propose_applied(Command::SetDraining {
            id,
            draining: false,
        })
        .await
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

    /// Node ids of the voters.
    pub fn voters(&self) -> std::collections::BTreeSet<u64> {
        let m = self.raft.metrics().borrow().clone();
        m.membership_config.membership().voter_ids().collect()
    }

    /// Voters and learners with their addresses, as the committed membership says.
    pub fn members(&self) -> BTreeMap<u64, String> {
        let m = self.raft.metrics().borrow().clone();
        m.membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect()
    }
}

/// What only the leader can do; a follower forwards it.
#[derive(Debug, Clone)]
enum LeaderOp {
    Write(Command),
    Heartbeat { id: u32 },
    AddLearner { id: u64, addr: String },
    AddVoter { id: u64, addr: String },
    RemoveVoter { id: u64 },
}

impl LeaderOp {
    fn request(&self) -> rpc::Request {
        match self {
            Self::Write(c) => rpc::Request::Propose(c.clone()),
            Self::AddVoter { id, addr } => rpc::Request::AddController {
                id: *id,
                addr: addr.clone(),
            },
            Self::RemoveVoter { id } => rpc::Request::RemoveController { id: *id },
            Self::Heartbeat { id } => rpc::Request::BrokerHeartbeat { id: *id },
            Self::AddLearner { id, addr } => rpc::Request::AddLearner {
                id: *id,
                addr: addr.clone(),
            },
        }
    }

    /// A new voter first copies the whole log: give it longer than a write.
    fn timeout(&self, rpc_timeout: Duration) -> Duration {
        match self {
            Self::AddVoter { .. } | Self::AddLearner { .. } => rpc_timeout * 6,
            _ => rpc_timeout,
        }
    }
}

impl From<rpc::ProposeError> for ControllerError {
    fn from(e: rpc::ProposeError) -> Self {
        match e {
            rpc::ProposeError::NotLeader { leader_hint } => Self::NotLeader { leader_hint },
            rpc::ProposeError::CommitTimeout(d) => Self::CommitTimeout(d),
            rpc::ProposeError::Membership(m) => Self::Membership(m),
            rpc::ProposeError::Raft(m) => Self::Raft(m),
        }
    }
}

fn to_propose_error(e: ControllerError) -> rpc::ProposeError {
    match e {
        ControllerError::NotLeader { leader_hint } => rpc::ProposeError::NotLeader { leader_hint },
        ControllerError::CommitTimeout(d) => rpc::ProposeError::CommitTimeout(d),
        ControllerError::Membership(m) => rpc::ProposeError::Membership(m),
        other => rpc::ProposeError::Raft(other.to_string()),
    }
}

impl rpc::Handler<rpc::Request, rpc::Response> for Controller {
    fn handle(&self, request: rpc::Request) -> futures::future::BoxFuture<'_, rpc::Response> {
        Box::pin(async move {
            match request {
                rpc::Request::RaftAppend(r) => {
                    rpc::Response::RaftAppend(self.raft.append_entries(r).await)
                }
                rpc::Request::RaftVote(r) => rpc::Response::RaftVote(self.raft.vote(r).await),
                rpc::Request::RaftSnapshot(r) => {
                    rpc::Response::RaftSnapshot(self.raft.install_snapshot(r).await)
                }
                rpc::Request::Propose(cmd) => rpc::Response::Propose(
                    self.run_local(LeaderOp::Write(cmd))
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::AddController { id, addr } => rpc::Response::Propose(
                    self.run_local(LeaderOp::AddVoter { id, addr })
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::AddLearner { id, addr } => rpc::Response::Propose(
                    self.run_local(LeaderOp::AddLearner { id, addr })
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::BrokerHeartbeat { id } => rpc::Response::Propose(
                    self.run_local(LeaderOp::Heartbeat { id })
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::RemoveController { id } => rpc::Response::Propose(
                    self.run_local(LeaderOp::RemoveVoter { id })
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::ReplicaFetch(r) => match self
                    .replica_service
                    .get()
                    .and_then(std::sync::Weak::upgrade)
                {
                    Some(s) => rpc::Response::ReplicaFetch(s.replica_fetch(r).await),
                    None => rpc::Response::Failed("this node is not a broker".into()),
                },
                rpc::Request::Status => {
                    let initialized = self.raft.is_initialized().await.unwrap_or(false);
                    let st = self.status();
                    rpc::Response::Status {
                        initialized,
                        leader: st.leader,
                        term: st.term,
                    }
                }
            }
        })
    }

    fn failed(&self, reason: String) -> rpc::Response {
        rpc::Response::Failed(reason)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The leader's broker liveness check: every `every`, a registered broker without a
/// heartbeat for `timeout` is marked offline through Raft. A node that just became leader
/// counts from its election, so brokers are not failed for heartbeats sent to the old one.
async fn watch_brokers(
    controller: std::sync::Weak<Controller>,
    timeout: Duration,
    every: Duration,
) {
    let mut leading_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(every).await;
        let Some(c) = controller.upgrade() else {
            return;
        };
        if !c.status().is_leader {
            leading_since = None;
            continue;
        }
        let since = *leading_since.get_or_insert_with(Instant::now);
        if let Err(e) = c.ensure_cluster_id().await {
            tracing::warn!(error = %e, "setting the cluster id failed; retrying");
        }
        let md = c.metadata();
        let now = Instant::now();
        let stale: Vec<u32> = {
            let beats = c.heartbeats.lock();
            md.live_brokers()
                .map(|b| b.id)
                .filter(|id| {
                    let last = beats.get(id).copied().unwrap_or(since).max(since);
                    now.duration_since(last) > timeout
                })
                .collect()
        };
        for id in stale {
            tracing::warn!(
                broker = id,
                ?timeout,
                "no heartbeat from broker; marking it offline"
            );
            if let Err(e) = c
                .propose_local(Command::SetBrokerOnline { id, online: false })
                .await
            {
                tracing::warn!(broker = id, error = %e, "marking broker offline failed");
            }
        }
    }
}
