//! How a controller is started: its Raft identity, peers, storage and timings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rustmq_transport::tls;

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
    /// Rebalancing bounds and the auto-balancer (`[autobalancer]`).
    pub balancer: crate::balance::BalancerOptions,
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
            balancer: Default::default(),
        }
    }
}
