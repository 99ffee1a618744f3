//! Internal RPC: controller <-> controller (Raft) and broker <-> controller, over QUIC with
//! mutual TLS — the same stack clients use, so the cluster runs one transport.
//!
//! One bidirectional stream per call: the caller writes `u32 length | JSON request` and
//! finishes its side, the callee answers `u32 length | JSON response`. Bulk bytes (a
//! snapshot chunk, a replica fetch's records) follow the JSON raw on the same stream. Requests and responses
//! are the closed enums [`Request`] and [`Response`]; openraft's messages are serde types, so
//! JSON carries them unchanged. A connection per peer is opened on first use, reused, and
//! dropped on any transport error so the next call reconnects.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::metadata::{Command, CommandResult};
use crate::raft::TypeConfig;
use crate::tls::{InternalTls, TlsError};

/// ALPN of internal RPC; a client connection (ALPN `rustmq/1`) cannot reach these handlers.
pub const INTERNAL_ALPN: &[u8] = b"rustmq-internal/1";

/// Largest request or response body (snapshots of big catalogs travel whole).
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

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

/// Transport failures of a call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// The peer could not be reached or the connection broke.
    #[error("internal rpc to {addr} failed: {reason}")]
    Connection {
        /// Peer address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("internal rpc to {addr} timed out after {timeout:?}")]
    Timeout {
        /// Peer address.
        addr: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The peer answered something that does not decode, or the wrong response kind.
    #[error("internal rpc to {addr}: bad response: {reason}")]
    BadResponse {
        /// Peer address.
        addr: String,
        /// Why.
        reason: String,
    },
}

/// What serves internal requests (the controller).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: Request) -> BoxFuture<'_, Response>;
}

fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(1024))
        .stream_receive_window(quinn::VarInt::from_u32(16 * 1024 * 1024))
        .receive_window(quinn::VarInt::from_u32(64 * 1024 * 1024))
        // Idle connections to peers stay open; a dead peer is noticed within 2 s. That bound
        // matters after a restart: the new process cannot answer the old connection (QUIC
        // has no reset a peer would believe), so calls on it time out until it is dropped.
        .keep_alive_interval(Some(Duration::from_millis(500)))
        .max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(
            2_000,
        ))));
    t
}

/// Binds the internal RPC listener.
pub fn bind(addr: SocketAddr, tls: &InternalTls) -> Result<quinn::Endpoint, RpcSetupError> {
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls.server_config(INTERNAL_ALPN)?)
            .map_err(|e| RpcSetupError::Tls(TlsError::Config(e.to_string())))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport()));
    quinn::Endpoint::server(cfg, addr).map_err(|source| RpcSetupError::Bind { addr, source })
}

/// Setting up internal RPC failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcSetupError {
    /// Certificates.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The UDP socket.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// Accepts connections until the endpoint closes; each stream is one request.
pub async fn serve(endpoint: quinn::Endpoint, handler: Arc<dyn Handler>) {
    while let Some(incoming) = endpoint.accept().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    // Most often a peer without a certificate of the cluster CA.
                    tracing::warn!(error = %e, "internal rpc handshake failed");
                    return;
                }
            };
            while let Ok((send, recv)) = conn.accept_bi().await {
                let handler = handler.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_stream(send, recv, handler.as_ref()).await {
                        tracing::debug!(error = %e, "internal rpc stream");
                    }
                });
            }
        });
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    handler: &dyn Handler,
) -> Result<(), String> {
    let body = read_message(&mut recv).await?;
    let response = match serde_json::from_slice::<Request>(&body) {
        Ok(Request::RaftSnapshot(mut r)) => {
            // The chunk's bytes follow the JSON raw (see `encode_request`).
            r.data = recv
                .read_to_end(MAX_MESSAGE_BYTES)
                .await
                .map_err(|e| e.to_string())?;
            handler.handle(Request::RaftSnapshot(r)).await
        }
        Ok(req) => handler.handle(req).await,
        Err(e) => Response::Failed(format!("undecodable request: {e}")),
    };
    let out = serde_json::to_vec(&response).map_err(|e| e.to_string())?;
    write_message(&mut send, &out).await?;
    if let Response::ReplicaFetch(r) = &response {
        send.write_all(&r.records)
            .await
            .map_err(|e| e.to_string())?;
    }
    send.finish().map_err(|e| e.to_string())?;
    // Wait until the peer has the whole answer before the stream is dropped.
    let _ = send.stopped().await;
    Ok(())
}

async fn read_message(recv: &mut quinn::RecvStream) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(format!(
            "message of {len} bytes exceeds {MAX_MESSAGE_BYTES}"
        ));
    }
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(body)
}

async fn write_message(send: &mut quinn::SendStream, body: &[u8]) -> Result<(), String> {
    let len = u32::try_from(body.len()).map_err(|_| "message too large".to_string())?;
    send.write_all(&len.to_be_bytes())
        .await
        .map_err(|e| e.to_string())?;
    send.write_all(body).await.map_err(|e| e.to_string())
}

/// Calls peers; one cached connection per address.
///
/// ```no_run
/// # async fn demo(tls: rustmq_controller::tls::InternalTls) -> Result<(), Box<dyn std::error::Error>> {
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
#[derive(Clone)]
pub struct RpcClient {
    endpoint: quinn::Endpoint,
    conns: Arc<parking_lot::Mutex<HashMap<String, quinn::Connection>>>,
}

impl RpcClient {
    /// A client presenting this node's certificate.
    pub fn new(tls: &InternalTls) -> Result<Self, RpcSetupError> {
        let bind: SocketAddr = ([0, 0, 0, 0], 0).into();
        let endpoint = quinn::Endpoint::client(bind)
            .map_err(|source| RpcSetupError::Bind { addr: bind, source })?;
        Self::on_endpoint(endpoint, tls)
    }

    /// A client calling from `endpoint` (a listener's): a node then sends and receives
    /// internal traffic on one UDP port, which is what firewall rules and the test
    /// harness's fault proxy cut to isolate it.
    pub fn on_endpoint(
        mut endpoint: quinn::Endpoint,
        tls: &InternalTls,
    ) -> Result<Self, RpcSetupError> {
        let crypto =
            quinn::crypto::rustls::QuicClientConfig::try_from(tls.client_config(INTERNAL_ALPN)?)
                .map_err(|e| RpcSetupError::Tls(TlsError::Config(e.to_string())))?;
        let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
        cfg.transport_config(Arc::new(transport()));
        endpoint.set_default_client_config(cfg);
        Ok(Self {
            endpoint,
            conns: Arc::default(),
        })
    }

    async fn connection(&self, addr: &str) -> Result<quinn::Connection, RpcError> {
        if let Some(c) = self.conns.lock().get(addr)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let err = |reason: String| RpcError::Connection {
            addr: addr.to_string(),
            reason,
        };
        let (host, _) = addr
            .rsplit_once(':')
            .ok_or_else(|| err("address has no port".into()))?;
        let sock = tokio::net::lookup_host(addr)
            .await
            .map_err(|e| err(e.to_string()))?
            .next()
            .ok_or_else(|| err("address resolves to nothing".into()))?;
        let server_name = host.trim_start_matches('[').trim_end_matches(']');
        let conn = self
            .endpoint
            .connect(sock, server_name)
            .map_err(|e| err(e.to_string()))?
            .await
            .map_err(|e| err(e.to_string()))?;
        self.conns.lock().insert(addr.to_string(), conn.clone());
        Ok(conn)
    }

    /// Sends `request` to `addr` and waits at most `timeout` (connecting included).
    pub async fn call(
        &self,
        addr: &str,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, RpcError> {
        match tokio::time::timeout(timeout, self.call_inner(addr, request)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.forget(addr);
                Err(e)
            }
            Err(_) => Err(RpcError::Timeout {
                addr: addr.to_string(),
                timeout,
            }),
        }
    }

    async fn call_inner(&self, addr: &str, request: &Request) -> Result<Response, RpcError> {
        let conn = self.connection(addr).await?;
        let err = |reason: String| RpcError::Connection {
            addr: addr.to_string(),
            reason,
        };
        let (body, tail) = encode_request(request).map_err(|e| err(e.to_string()))?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| err(e.to_string()))?;
        write_message(&mut send, &body).await.map_err(err)?;
        send.write_all(tail).await.map_err(|e| err(e.to_string()))?;
        send.finish().map_err(|e| err(e.to_string()))?;
        let answer = read_message(&mut recv).await.map_err(err)?;
        let mut response: Response =
            serde_json::from_slice(&answer).map_err(|e| RpcError::BadResponse {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        if let Response::ReplicaFetch(r) = &mut response {
            let body = recv
                .read_to_end(MAX_MESSAGE_BYTES)
                .await
                .map_err(|e| err(e.to_string()))?;
            let expected: usize = r.partitions.iter().map(|p| p.records_len as usize).sum();
            if body.len() != expected {
                return Err(RpcError::BadResponse {
                    addr: addr.to_string(),
                    reason: format!("{} record bytes, expected {expected}", body.len()),
                });
            }
            r.records = body.into();
        }
        Ok(response)
    }

    /// Drops the cached connection to `addr` (the next call reconnects).
    pub fn forget(&self, addr: &str) {
        if let Some(c) = self.conns.lock().remove(addr) {
            c.close(quinn::VarInt::from_u32(0), b"reconnecting");
        }
    }
}

/// A request as `(JSON, raw tail)`. A snapshot chunk's bytes travel raw after the JSON, as a
/// replica fetch's records do, instead of as a JSON array of numbers.
fn encode_request(request: &Request) -> Result<(Vec<u8>, &[u8]), serde_json::Error> {
    match request {
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
        _ => Ok((serde_json::to_vec(request)?, &[])),
    }
}
