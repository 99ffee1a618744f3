//! The messages of internal RPC: controller <-> controller (Raft) and broker <-> controller
//! or broker <-> broker (forwarded writes, replica fetches). The transport under them is
//! `rustmq_transport::rpc`; here are the closed enums [`Request`] and [`Response`].
//! openraft's messages are serde types, so JSON carries them unchanged; a snapshot chunk's
//! bytes and a replica fetch's records travel as the raw tail after the JSON.

use std::time::Duration;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

pub use rustmq_transport::rpc::{
    INTERNAL_ALPN, MAX_MESSAGE_BYTES, RpcError, RpcSetupError, WireMessage, bind,
};

use crate::metadata::{Command, CommandResult};
use crate::raft::TypeConfig;

/// Calls peers with [`Request`]s; one cached connection per address.
///
/// ```no_run
/// # async fn demo(tls: rustmq_transport::tls::InternalTls) -> Result<(), Box<dyn std::error::Error>> {
/// use rustmq_controller::rpc::{Request, RpcClient};
/// use rustmq_controller::metadata::Command;
/// let client = RpcClient::new(&tls)?;
/// let answer = client
///     .call("127.0.0.1:9094", &Request::Propose(Command::ForgetObjects { keys: vec![] }),
///           std::time::Duration::from_secs(5))
///     .await?;
/// println!("{answer:?}");
/// # Ok(()) }
/// ```
pub type RpcClient = rustmq_transport::rpc::RpcClient<Request, Response>;

/// What serves internal requests (the controller, and the broker's replica fetches).
pub use rustmq_transport::rpc::Handler;

/// Accepts connections until the endpoint closes; each stream is one request.
pub async fn serve(
    endpoint: quinn::Endpoint,
    handler: std::sync::Arc<dyn Handler<Request, Response>>,
) {
    rustmq_transport::rpc::serve(endpoint, handler).await
}

/// A call.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Raft log replication and heartbeats.
    RaftAppend(AppendEntriesRequest<TypeConfig>),
    /// Raft election.
    RaftVote(VoteRequest<u64>),
    /// Raft snapshot transfer (one chunk).
    RaftSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A metadata write forwarded to the leader by a follower (or sent by a broker).
    Propose(Command),
    /// Whether the callee belongs to an initialized cluster, and who leads.
    Status,
    /// Add a voter (forwarded to the leader); answered with `Propose`.
    AddController {
        /// Node id.
        id: u64,
        /// Its internal RPC address.
        addr: String,
    },
    /// Remove a voter (forwarded to the leader); answered with `Propose`.
    RemoveController {
        /// Node id.
        id: u64,
    },
    /// Admit a broker's metadata observer as a Raft learner (forwarded to the leader);
    /// answered with `Propose`.
    AddLearner {
        /// Raft node id (`BROKER_NODE_BASE + broker id`).
        id: u64,
        /// Its internal RPC address.
        addr: String,
    },
    /// A broker is alive (forwarded to the leader); answered with `Propose` (`Refused`
    /// with `UnknownBroker` when it must register first).
    BrokerHeartbeat {
        /// Broker id.
        id: u32,
        /// Its load over the last interval (brokers of older versions send none).
        #[serde(default)]
        load: Option<crate::balance::BrokerLoad>,
    },
    /// The leader's rebalance state and a dry-run plan; `start` also starts a rebalance.
    /// Answered with `Rebalance`.
    Rebalance {
        /// Start one now.
        start: bool,
    },
    /// A follower broker pulls the tail of the partitions it follows from their leader.
    ReplicaFetch(ReplicaFetchRequest),
}

/// A follower's pull from a partition leader (broker to broker).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaFetchRequest {
    /// The fetching follower.
    pub replica_id: u32,
    /// Long poll: answer when data arrives or after this long.
    pub max_wait_ms: u32,
    /// Most record bytes in the answer.
    pub max_bytes: u32,
    /// What the follower wants.
    pub partitions: Vec<ReplicaFetchPartition>,
}

/// One partition of a [`ReplicaFetchRequest`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ReplicaFetchPartition {
    /// Topic id.
    pub topic_id: u64,
    /// Partition.
    pub partition: u32,
    /// The leader epoch the follower believes current.
    pub leader_epoch: i32,
    /// The follower's durable log end: everything below it is on the follower's disk.
    pub fetch_offset: i64,
    /// Leader epoch of the follower's last batch (-1: no local batch).
    pub last_fetched_epoch: i32,
}

/// Why a partition of a replica fetch was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicaFetchError {
    /// The callee does not lead the partition (or does not host it).
    NotLeader,
    /// The follower's epoch is newer than the callee's: the callee is a deposed leader.
    FencedLeaderEpoch,
    /// The follower's epoch is older: it should wait for newer metadata.
    UnknownLeaderEpoch,
}

/// The leader's answer to a [`ReplicaFetchRequest`]. Record bytes travel after the JSON on
/// the same stream (not inside it), in partition order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReplicaFetchResponse {
    /// One entry per partition asked for.
    pub partitions: Vec<ReplicaPartitionData>,
    /// Every partition's records, concatenated.
    #[serde(skip)]
    pub records: bytes::Bytes,
}

/// One partition of a [`ReplicaFetchResponse`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaPartitionData {
    /// Topic id.
    pub topic_id: u64,
    /// Partition.
    pub partition: u32,
    /// Set when nothing was served.
    pub error: Option<ReplicaFetchError>,
    /// The leader's high watermark.
    pub high_watermark: i64,
    /// The leader's log start offset.
    pub log_start_offset: i64,
    /// Offsets below this are in object storage: a follower behind it skips ahead (uploaded
    /// data moves by metadata only).
    pub uploaded_end: i64,
    /// Set when the follower's log diverges from the leader's: truncate to this offset.
    pub diverging_end_offset: Option<i64>,
    /// Bytes of this partition in `records`.
    pub records_len: u32,
}

/// An answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    /// To [`Request::RaftAppend`].
    RaftAppend(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    /// To [`Request::RaftVote`].
    RaftVote(Result<VoteResponse<u64>, RaftError<u64>>),
    /// To [`Request::RaftSnapshot`].
    RaftSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// To [`Request::Propose`].
    Propose(Result<CommandResult, ProposeError>),
    /// To [`Request::Status`].
    Status {
        /// The callee has Raft state (it is or was a member of a cluster).
        initialized: bool,
        /// The leader it knows of.
        leader: Option<u64>,
        /// Its current term.
        term: u64,
    },
    /// To [`Request::ReplicaFetch`] (record bytes follow the JSON).
    ReplicaFetch(ReplicaFetchResponse),
    /// To [`Request::Rebalance`].
    Rebalance(Result<crate::RebalanceStatus, ProposeError>),
    /// The request could not be handled at all (decode failure, shutting down).
    Failed(String),
}

/// Why a forwarded write was not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ProposeError {
    /// The receiver is not the leader either (leadership moved meanwhile).
    #[error("not the leader")]
    NotLeader {
        /// The leader it knows of.
        leader_hint: Option<u64>,
    },
    /// A membership change was refused.
    #[error("membership change refused: {0}")]
    Membership(String),
    /// The leader could not commit in time (it lost its majority).
    #[error("not committed within {0:?}")]
    CommitTimeout(Duration),
    /// Raft failed on the leader.
    #[error("raft: {0}")]
    Raft(String),
}

impl WireMessage for Request {
    /// A snapshot chunk's bytes travel raw after the JSON instead of as an array of numbers.
    fn encode(&self) -> Result<(Vec<u8>, &[u8]), serde_json::Error> {
        match self {
            Request::RaftSnapshot(r) => {
                let head = Request::RaftSnapshot(InstallSnapshotRequest {
                    vote: r.vote,
                    meta: r.meta.clone(),
                    offset: r.offset,
                    data: Vec::new(),
                    done: r.done,
                });
                Ok((serde_json::to_vec(&head)?, &r.data))
            }
            _ => Ok((serde_json::to_vec(self)?, &[])),
        }
    }

    fn has_tail(&self) -> bool {
        matches!(self, Request::RaftSnapshot(_))
    }

    fn attach_tail(&mut self, tail: Vec<u8>) -> Result<(), String> {
        if let Request::RaftSnapshot(r) = self {
            r.data = tail;
        }
        Ok(())
    }
}

impl WireMessage for Response {
    /// A replica fetch's records travel raw after the JSON (`records` is not serialized).
    fn encode(&self) -> Result<(Vec<u8>, &[u8]), serde_json::Error> {
        let tail: &[u8] = match self {
            Response::ReplicaFetch(r) => &r.records,
            _ => &[],
        };
        Ok((serde_json::to_vec(self)?, tail))
    }

    fn has_tail(&self) -> bool {
        matches!(self, Response::ReplicaFetch(_))
    }

    fn attach_tail(&mut self, tail: Vec<u8>) -> Result<(), String> {
        if let Response::ReplicaFetch(r) = self {
            let expected: usize = r.partitions.iter().map(|p| p.records_len as usize).sum();
            if tail.len() != expected {
                return Err(format!("{} record bytes, expected {expected}", tail.len()));
            }
            r.records = tail.into();
        }
        Ok(())
    }
}
