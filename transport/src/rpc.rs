//! Internal RPC over QUIC with mutual TLS: the transport controllers (Raft) and brokers
//! (forwarded writes, replica fetches) call each other on. What travels is up to the caller:
//! any pair of [`WireMessage`] types.
//!
//! One bidirectional stream per call: the caller writes `u32 length | JSON request`, then
//! the request's raw tail, and finishes its side; the callee answers `u32 length | JSON
//! response`, then the response's raw tail. Bulk bytes (a snapshot chunk, a replica fetch's
//! records) travel as the tail instead of as a JSON array of numbers. A connection per peer
//! is opened on first use, reused, and dropped on any transport error so the next call
//! reconnects.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::tls::{InternalTls, TlsError};

/// ALPN of internal RPC; a client connection (ALPN `rustmq/1`) cannot reach these handlers.
pub const INTERNAL_ALPN: &[u8] = b"rustmq-internal/1";

/// Largest request or response head or tail (snapshots of big catalogs travel whole).
pub const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;

/// A request or response of internal RPC: a JSON head and, for bulk messages, raw bytes
/// after it.
///
/// ```
/// use rustmq_transport::rpc::WireMessage;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Ping(u32);
/// impl WireMessage for Ping {}
/// let (head, tail) = Ping(7).encode().unwrap();
/// assert_eq!(head, b"7");
/// assert!(tail.is_empty());
/// ```
pub trait WireMessage: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The JSON head and the raw tail. The default: all of it as JSON, no tail.
    fn encode(&self) -> Result<(Vec<u8>, &[u8]), serde_json::Error> {
        Ok((serde_json::to_vec(self)?, &[]))
    }

    /// Whether a tail follows this decoded head.
    fn has_tail(&self) -> bool {
        false
    }

    /// Puts the tail back into the decoded head; an error when it does not fit the head.
    fn attach_tail(&mut self, tail: Vec<u8>) -> Result<(), String> {
        let _ = tail;
        Ok(())
    }
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

/// What serves internal requests.
pub trait Handler<Req, Resp>: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: Req) -> BoxFuture<'_, Resp>;

    /// The answer to a request that could not be read or decoded.
    fn failed(&self, reason: String) -> Resp;
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
    // Replication carries bulk data between brokers: larger datagrams where the path allows.
    t.mtu_discovery_config(Some(crate::udp::mtu_discovery()));
    t
}

/// Binds the internal RPC listener.
pub fn bind(addr: SocketAddr, tls: &InternalTls) -> Result<quinn::Endpoint, RpcSetupError> {
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls.server_config(INTERNAL_ALPN)?)
            .map_err(|e| RpcSetupError::Tls(TlsError::Config(e.to_string())))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport()));
    crate::udp::endpoint(addr, crate::udp::DEFAULT_UDP_BUFFER_BYTES, Some(cfg))
        .map_err(|source| RpcSetupError::Bind { addr, source })
}

/// QUIC application close code of an internal RPC connection whose certificate, though
/// signed by the cluster CA, declares a role other than broker or controller.
pub const CLOSE_NOT_A_MEMBER: u32 = 0x42;

/// Internal RPC is for brokers and controllers only: a certificate of the cluster CA that
/// declares another role (a client's or an admin's, from the same CA) is refused. A
/// certificate without an identity URI (made before roles existed) passes on its CA alone.
fn cluster_member(conn: &quinn::Connection) -> Result<(), String> {
    let certs =
        crate::quic::peer_certificates(conn).ok_or_else(|| "no peer certificate".to_string())?;
    let leaf = certs
        .first()
        .ok_or_else(|| "no peer certificate".to_string())?;
    match rustmq_security::identity::declared_identity(leaf) {
        Ok(Some((role, _))) if !role.is_cluster_member() => Err(format!(
            "a {role} certificate may not speak internal RPC (broker and controller only)"
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Accepts connections until the endpoint closes; each stream is one request.
pub async fn serve<Req: WireMessage, Resp: WireMessage>(
    endpoint: quinn::Endpoint,
    handler: Arc<dyn Handler<Req, Resp>>,
) {
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
            if let Err(reason) = cluster_member(&conn) {
                tracing::warn!(remote = %conn.remote_address(), %reason, "internal rpc peer refused");
                conn.close(
                    quinn::VarInt::from_u32(CLOSE_NOT_A_MEMBER),
                    reason.as_bytes(),
                );
                return;
            }
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

async fn serve_stream<Req: WireMessage, Resp: WireMessage>(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    handler: &dyn Handler<Req, Resp>,
) -> Result<(), String> {
    let response = match read_message::<Req>(&mut recv).await {
        Ok(req) => handler.handle(req).await,
        Err(e) => handler.failed(format!("undecodable request: {e}")),
    };
    write_message(&mut send, &response).await?;
    send.finish().map_err(|e| e.to_string())?;
    // Wait until the peer has the whole answer before the stream is dropped.
    let _ = send.stopped().await;
    Ok(())
}

/// Why a message could not be read: the stream broke, or what came does not decode.
#[derive(Debug, thiserror::Error)]
enum ReadFailure {
    #[error("{0}")]
    Stream(String),
    #[error("{0}")]
    Decode(String),
}

/// Reads a head and, when the head says one follows, its tail.
async fn read_message<M: WireMessage>(recv: &mut quinn::RecvStream) -> Result<M, ReadFailure> {
    let stream = |e: &dyn std::fmt::Display| ReadFailure::Stream(e.to_string());
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(|e| stream(&e))?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(ReadFailure::Decode(format!(
            "message of {len} bytes exceeds {MAX_MESSAGE_BYTES}"
        )));
    }
    let mut head = vec![0u8; len];
    recv.read_exact(&mut head).await.map_err(|e| stream(&e))?;
    let mut message: M =
        serde_json::from_slice(&head).map_err(|e| ReadFailure::Decode(e.to_string()))?;
    if message.has_tail() {
        let tail = recv
            .read_to_end(MAX_MESSAGE_BYTES)
            .await
            .map_err(|e| stream(&e))?;
        message.attach_tail(tail).map_err(ReadFailure::Decode)?;
    }
    Ok(message)
}

async fn write_message<M: WireMessage>(
    send: &mut quinn::SendStream,
    message: &M,
) -> Result<(), String> {
    let (head, tail) = message.encode().map_err(|e| e.to_string())?;
    let len = u32::try_from(head.len()).map_err(|_| "message too large".to_string())?;
    send.write_all(&len.to_be_bytes())
        .await
        .map_err(|e| e.to_string())?;
    send.write_all(&head).await.map_err(|e| e.to_string())?;
    send.write_all(tail).await.map_err(|e| e.to_string())
}

/// Calls peers with `Req` and reads `Resp`; one cached connection per address.
///
/// ```no_run
/// # async fn demo(tls: rustmq_transport::tls::InternalTls) -> Result<(), Box<dyn std::error::Error>> {
/// use rustmq_transport::rpc::{RpcClient, WireMessage};
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Ping(u32);
/// impl WireMessage for Ping {}
/// let client: RpcClient<Ping, Ping> = RpcClient::new(&tls)?;
/// let pong = client.call("127.0.0.1:9094", &Ping(1), std::time::Duration::from_secs(5)).await?;
/// assert_eq!(pong.0, 1);
/// # Ok(()) }
/// ```
pub struct RpcClient<Req, Resp> {
    endpoint: quinn::Endpoint,
    conns: Arc<parking_lot::Mutex<HashMap<String, quinn::Connection>>>,
    messages: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> Clone for RpcClient<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            endpoint: self.endpoint.clone(),
            conns: self.conns.clone(),
            messages: PhantomData,
        }
    }
}

impl<Req: WireMessage, Resp: WireMessage> RpcClient<Req, Resp> {
    /// A client presenting this node's certificate.
    pub fn new(tls: &InternalTls) -> Result<Self, RpcSetupError> {
        let bind: SocketAddr = ([0, 0, 0, 0], 0).into();
        let endpoint = crate::udp::endpoint(bind, crate::udp::DEFAULT_UDP_BUFFER_BYTES, None)
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
            messages: PhantomData,
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
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcError> {
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

    async fn call_inner(&self, addr: &str, request: &Req) -> Result<Resp, RpcError> {
        let conn = self.connection(addr).await?;
        // A peer that refused this node says why in its close.
        let err = |reason: String| RpcError::Connection {
            addr: addr.to_string(),
            reason: match conn.close_reason() {
                Some(quinn::ConnectionError::ApplicationClosed(c))
                    if c.error_code == quinn::VarInt::from_u32(CLOSE_NOT_A_MEMBER) =>
                {
                    format!("refused: {}", String::from_utf8_lossy(&c.reason))
                }
                _ => reason,
            },
        };
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| err(e.to_string()))?;
        write_message(&mut send, request).await.map_err(err)?;
        send.finish().map_err(|e| err(e.to_string()))?;
        read_message(&mut recv).await.map_err(|e| match e {
            ReadFailure::Stream(reason) => err(reason),
            ReadFailure::Decode(reason) => RpcError::BadResponse {
                addr: addr.to_string(),
                reason,
            },
        })
    }

    /// Drops the cached connection to `addr` (the next call reconnects).
    pub fn forget(&self, addr: &str) {
        if let Some(c) = self.conns.lock().remove(addr) {
            c.close(quinn::VarInt::from_u32(0), b"reconnecting");
        }
    }
}
