//! The QUIC listener: accepts connections, reads one frame per bidirectional stream, hands the
//! decoded request to the [`Broker`], and writes one response frame.
//!
//! A bad request never costs more than its own stream: an oversized, undecodable or unknown
//! frame gets an `ErrorResponse` frame with a typed code, and a failed handshake ends only
//! that connection; the accept loop keeps accepting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use quinn::{Endpoint, RecvStream, SendStream, VarInt};
use rustmq_protocol::ApiKey;
use rustmq_protocol::frame::{
    self, FLAG_ERROR, FLAG_RESPONSE, FrameError, FrameHeader, HEADER_LEN,
};
use rustmq_protocol::proto::{self, ErrorCode};
use tokio::sync::watch;

use crate::broker::Broker;
use crate::config::NetworkSection;

/// Errors binding the listener.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// TLS config unusable for QUIC.
    #[error("tls config unusable for QUIC: {0}")]
    Tls(String),
    /// Binding the UDP socket.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// Binds the QUIC endpoint with the `[network]` settings.
pub fn bind(
    addr: SocketAddr,
    tls: rustls::ServerConfig,
    net: &NetworkSection,
) -> Result<Endpoint, ServerError> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let q = &net.quic_config;
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(VarInt::from_u32(q.max_concurrent_bidi_streams))
        .max_concurrent_uni_streams(VarInt::from_u32(q.max_concurrent_uni_streams))
        .stream_receive_window(VarInt::from_u64(q.max_stream_data).unwrap_or(VarInt::MAX))
        .receive_window(VarInt::from_u64(q.max_connection_data).unwrap_or(VarInt::MAX))
        .send_window(q.max_connection_data)
        .max_idle_timeout(Some(
            Duration::from_millis(q.max_idle_timeout_ms)
                .try_into()
                .unwrap_or(quinn::IdleTimeout::from(VarInt::from_u32(30_000))),
        ));
    t.mtu_discovery_config(Some(large_mtu_discovery()));
    cfg.transport_config(Arc::new(t));
    Endpoint::server(cfg, addr).map_err(|source| ServerError::Bind { addr, source })
}

/// MTU discovery that may grow datagrams far beyond Ethernet's 1500 bytes. Discovery stops at
/// the real path MTU, so ordinary networks are unaffected, while loopback and jumbo-frame
/// networks carry several times fewer packets (per-packet cost dominates QUIC on loopback).
pub fn large_mtu_discovery() -> quinn::MtuDiscoveryConfig {
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(65_000);
    mtu
}

/// Bulk responses go out in pieces of this size.
const BULK_PIECE: usize = 128 * 1024;
/// Longest a bulk piece waits for an idle CPU: bulk reads yield to the tail but always
/// progress, even on a saturated broker.
const BULK_MAX_WAIT: Duration = Duration::from_millis(20);

/// Lets the pieces of large responses (catch-up fetches) out only when a CPU would
/// otherwise idle, so that sending them never delays produce acknowledgements and tail
/// fetches by more than one piece's work.
///
/// A thread under Linux's `SCHED_IDLE` answers each [`BulkGate::pass`]: the kernel runs it
/// only when no ordinary thread wants the CPU, so while the broker's runtime or WAL writer
/// has work, bulk pieces wait (at most `BULK_MAX_WAIT`, 20 ms, each). Elsewhere the thread runs at
/// the lowest nice value and the gate is only a pacing hint.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let gate = rustmq_broker::server::BulkGate::start(1 << 20).unwrap();
/// gate.pass().await; // returns once the gate thread got the CPU (or after 20 ms)
/// # });
/// ```
pub struct BulkGate {
    requests: std::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>,
    /// Responses larger than this go through the gate.
    threshold: usize,
}

impl BulkGate {
    /// Starts the gate thread for responses larger than `threshold` bytes; it ends when the
    /// gate is dropped.
    pub fn start(threshold: usize) -> std::io::Result<Arc<Self>> {
        Self::start_with(threshold, |rx| {
            crate::priority::lower_this_thread(19, true);
            while let Ok(r) = rx.recv() {
                let _ = r.send(());
            }
        })
    }

    /// A gate whose thread runs `answer` on the request queue.
    fn start_with(
        threshold: usize,
        answer: impl FnOnce(std::sync::mpsc::Receiver<tokio::sync::oneshot::Sender<()>>)
        + Send
        + 'static,
    ) -> std::io::Result<Arc<Self>> {
        let (requests, rx) = std::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>();
        std::thread::Builder::new()
            .name("rustmq-bulk-gate".into())
            .spawn(move || answer(rx))?;
        Ok(Arc::new(Self {
            requests,
            threshold,
        }))
    }

    /// Waits until the gate thread gets a CPU, at most `BULK_MAX_WAIT` (20 ms).
    pub async fn pass(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.requests.send(tx).is_ok() {
            let _ = tokio::time::timeout(BULK_MAX_WAIT, rx).await;
        }
    }
}

/// Writes the buffers of a response (handed to QUIC as they are, not copied); through
/// `gate` in pieces when together they are larger than its threshold.
async fn write_response(
    send: &mut SendStream,
    mut out: Vec<Bytes>,
    gate: Option<&BulkGate>,
) -> Result<(), quinn::WriteError> {
    let total: usize = out.iter().map(Bytes::len).sum();
    match gate {
        Some(g) if total > g.threshold => {
            for mut part in out {
                while !part.is_empty() {
                    let piece = part.split_to(part.len().min(BULK_PIECE));
                    g.pass().await;
                    send.write_chunk(piece).await?;
                }
            }
            Ok(())
        }
        _ => send.write_all_chunks(&mut out).await,
    }
}

/// Serves connections until `stop` turns true.
pub async fn serve(
    endpoint: Endpoint,
    broker: Arc<Broker>,
    net: NetworkSection,
    mut stop: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let gate = match net.bulk_response_bytes {
        0 => None,
        n => match BulkGate::start(usize::try_from(n).unwrap_or(usize::MAX)) {
            Ok(g) => Some(g),
            Err(e) => {
                tracing::warn!(error = %e, "no bulk gate thread; large responses go out at once");
                None
            }
        },
    };
    let handshake_timeout = Duration::from_millis(net.connection_timeout_ms.max(1));
    loop {
        let incoming = tokio::select! {
            i = endpoint.accept() => match i { Some(i) => i, None => return },
            _ = stop.changed() => return,
        };
        if open.load(Ordering::Relaxed) >= net.max_connections as usize {
            tracing::warn!(remote = %incoming.remote_address(), "connection limit reached; refusing");
            incoming.refuse();
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let broker = broker.clone();
        let open = open.clone();
        let max_frame = net.max_frame_bytes;
        let gate = gate.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match tokio::time::timeout(handshake_timeout, incoming).await {
                Ok(Ok(conn)) => {
                    tracing::debug!(%remote, "client connected");
                    serve_connection(conn, broker, max_frame, gate).await;
                }
                Ok(Err(e)) => tracing::info!(%remote, error = %e, "handshake failed"),
                Err(_) => tracing::info!(%remote, "handshake timed out"),
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn serve_connection(
    conn: quinn::Connection,
    broker: Arc<Broker>,
    max_frame: u32,
    gate: Option<Arc<BulkGate>>,
) {
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let broker = broker.clone();
                let gate = gate.clone();
                tokio::spawn(async move {
                    if let Err(e) =
                        serve_stream(send, recv, &broker, max_frame, gate.as_deref()).await
                    {
                        tracing::debug!(error = %e, "stream ended early");
                    }
                });
            }
            Err(e) => {
                tracing::debug!(error = %e, "connection closed");
                return;
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error(transparent)]
    Read(#[from] quinn::ReadExactError),
    #[error(transparent)]
    Write(#[from] quinn::WriteError),
    #[error(transparent)]
    Closed(#[from] quinn::ClosedStream),
}

async fn serve_stream(
    mut send: SendStream,
    mut recv: RecvStream,
    broker: &Broker,
    max_frame: u32,
    gate: Option<&BulkGate>,
) -> Result<(), StreamError> {
    let mut head = [0u8; HEADER_LEN];
    recv.read_exact(&mut head).await?;
    // 16 bytes always parse without a size limit; the limit is checked below so the error
    // reply can still echo the request id.
    let Ok(header) = FrameHeader::decode(&head, u32::MAX) else {
        return Ok(());
    };
    if header.body_len > max_frame {
        let _ = recv.stop(VarInt::from_u32(1));
        let e = FrameError::TooLarge {
            size: header.body_len,
            max: max_frame,
        };
        return reply_error(send, &header, ErrorCode::FrameTooLarge, e.to_string()).await;
    }
    let body = read_body(&mut recv, header.body_len as usize).await?;
    // Anything after the declared body is not ours to read.
    let _ = recv.stop(VarInt::from_u32(0));
    let api = match header.api() {
        Ok(a) => a,
        Err(e) => {
            return reply_error(send, &header, ErrorCode::UnsupportedApi, e.to_string()).await;
        }
    };
    let response = match dispatch(broker, api, body).await {
        Ok(r) => r,
        Err(e) => {
            return reply_error(send, &header, ErrorCode::InvalidRequest, e.to_string()).await;
        }
    };
    let out = match response {
        // Record batches go out as the buffers they are held in.
        Response::Fetch(m) => frame::encode_fetch_response(
            header.api_key,
            header.api_version,
            header.request_id,
            FLAG_RESPONSE,
            &m,
        ),
        Response::Metadata(m) => encode(&header, &m),
        Response::Produce(m) => encode(&header, &m),
        Response::ListOffsets(m) => encode(&header, &m),
        Response::Health(m) => encode(&header, &m),
        Response::JoinGroup(m) => encode(&header, &m),
        Response::SyncGroup(m) => encode(&header, &m),
        Response::Heartbeat(m) => encode(&header, &m),
        Response::LeaveGroup(m) => encode(&header, &m),
        Response::OffsetCommit(m) => encode(&header, &m),
        Response::OffsetFetch(m) => encode(&header, &m),
        Response::FindCoordinator(m) => encode(&header, &m),
        Response::InitProducerId(m) => encode(&header, &m),
    };
    write_response(&mut send, out, gate).await?;
    send.finish()?;
    Ok(())
}

/// Reads exactly `len` bytes; a body that arrives in one chunk is used without copying.
async fn read_body(recv: &mut RecvStream, len: usize) -> Result<Bytes, StreamError> {
    let mut first: Option<Bytes> = None;
    let mut buf = bytes::BytesMut::new();
    let mut have = 0;
    while have < len {
        let chunk = recv
            .read_chunk(len - have, true)
            .await
            .map_err(|e| StreamError::Read(quinn::ReadExactError::ReadError(e)))?
            .ok_or(StreamError::Read(quinn::ReadExactError::FinishedEarly(
                have,
            )))?;
        have += chunk.bytes.len();
        match first.take() {
            None if buf.is_empty() && have == len => return Ok(chunk.bytes),
            None if buf.is_empty() => first = Some(chunk.bytes),
            Some(f) => {
                buf.reserve(len);
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&chunk.bytes);
            }
            None => buf.extend_from_slice(&chunk.bytes),
        }
    }
    Ok(match first {
        Some(f) => f,
        None => buf.freeze(),
    })
}

enum Response {
    Metadata(proto::MetadataResponse),
    Produce(proto::ProduceResponse),
    Fetch(proto::FetchResponse),
    ListOffsets(proto::ListOffsetsResponse),
    Health(proto::HealthResponse),
    JoinGroup(proto::JoinGroupResponse),
    SyncGroup(proto::SyncGroupResponse),
    Heartbeat(proto::HeartbeatResponse),
    LeaveGroup(proto::LeaveGroupResponse),
    OffsetCommit(proto::OffsetCommitResponse),
    OffsetFetch(proto::OffsetFetchResponse),
    FindCoordinator(proto::FindCoordinatorResponse),
    InitProducerId(proto::InitProducerIdResponse),
}

async fn dispatch(broker: &Broker, api: ApiKey, body: Bytes) -> Result<Response, FrameError> {
    Ok(match api {
        ApiKey::Metadata => Response::Metadata(broker.metadata(frame::decode_body(body)?)),
        ApiKey::Produce => Response::Produce(broker.produce(frame::decode_body(body)?).await),
        ApiKey::Fetch => Response::Fetch(broker.fetch(frame::decode_body(body)?).await),
        ApiKey::ListOffsets => {
            Response::ListOffsets(broker.list_offsets(frame::decode_body(body)?).await)
        }
        ApiKey::Health => {
            let _: proto::HealthRequest = frame::decode_body(body)?;
            Response::Health(broker.health())
        }
        // Group errors travel in each response's error_code, not as error frames.
        ApiKey::JoinGroup => Response::JoinGroup(
            match broker.groups().join(frame::decode_body(body)?).await {
                Ok(r) => r,
                Err((code, msg)) => proto::JoinGroupResponse {
                    error_code: code as i32,
                    error_message: msg,
                    generation_id: -1,
                    ..Default::default()
                },
            },
        ),
        ApiKey::SyncGroup => Response::SyncGroup(
            match broker.groups().sync(frame::decode_body(body)?).await {
                Ok(r) => r,
                Err((code, msg)) => proto::SyncGroupResponse {
                    error_code: code as i32,
                    error_message: msg,
                    assignment: vec![],
                },
            },
        ),
        ApiKey::Heartbeat => {
            let (error_code, error_message) =
                split(broker.groups().heartbeat(frame::decode_body(body)?).await);
            Response::Heartbeat(proto::HeartbeatResponse {
                error_code,
                error_message,
            })
        }
        ApiKey::LeaveGroup => {
            let (error_code, error_message) =
                split(broker.groups().leave(frame::decode_body(body)?).await);
            Response::LeaveGroup(proto::LeaveGroupResponse {
                error_code,
                error_message,
            })
        }
        ApiKey::OffsetCommit => Response::OffsetCommit(
            match broker.groups().commit(frame::decode_body(body)?).await {
                Ok(r) => r,
                Err((code, msg)) => proto::OffsetCommitResponse {
                    error_code: code as i32,
                    error_message: msg,
                    partitions: vec![],
                },
            },
        ),
        ApiKey::InitProducerId => {
            let _: proto::InitProducerIdRequest = frame::decode_body(body)?;
            Response::InitProducerId(broker.init_producer_id().await)
        }
        ApiKey::FindCoordinator => {
            Response::FindCoordinator(broker.groups().find_coordinator(frame::decode_body(body)?))
        }
        ApiKey::OffsetFetch => Response::OffsetFetch(
            match broker.groups().fetch_offsets(frame::decode_body(body)?) {
                Ok(r) => r,
                Err((code, _)) => proto::OffsetFetchResponse {
                    error_code: code as i32,
                    offsets: vec![],
                },
            },
        ),
    })
}

fn split(r: crate::groups::GroupResult<()>) -> (i32, String) {
    match r {
        Ok(()) => (ErrorCode::None as i32, String::new()),
        Err((code, msg)) => (code as i32, msg),
    }
}

/// A response frame, as the one buffer [`write_response`] takes.
fn encode<M: prost::Message>(h: &FrameHeader, m: &M) -> Vec<Bytes> {
    vec![frame::encode(
        h.api_key,
        h.api_version,
        h.request_id,
        FLAG_RESPONSE,
        m,
    )]
}

async fn reply_error(
    mut send: SendStream,
    h: &FrameHeader,
    code: ErrorCode,
    message: String,
) -> Result<(), StreamError> {
    tracing::debug!(?code, %message, request_id = h.request_id, "refusing request");
    let out = frame::encode(
        h.api_key,
        h.api_version,
        h.request_id,
        FLAG_RESPONSE | FLAG_ERROR,
        &proto::ErrorResponse {
            error_code: code as i32,
            message,
        },
    );
    send.write_all(&out).await?;
    send.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_lets_pieces_through_and_its_thread_is_idle_priority() {
        let gate = BulkGate::start(1 << 20).unwrap();
        for _ in 0..100 {
            gate.pass().await;
        }
        #[cfg(target_os = "linux")]
        {
            // Field 41 of /proc/<pid>/task/<tid>/stat is the policy; 5 is SCHED_IDLE.
            let mut policies = Vec::new();
            for t in std::fs::read_dir("/proc/self/task").unwrap() {
                let dir = t.unwrap().path();
                let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
                // Thread names are cut to 15 bytes there.
                if comm.trim() == "rustmq-bulk-gat" {
                    let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
                    let after = &stat[stat.rfind(')').unwrap() + 2..];
                    policies.push(after.split(' ').nth(38).unwrap().to_string());
                }
            }
            assert!(policies.contains(&"5".to_string()), "{policies:?}");
        }
    }

    #[tokio::test]
    async fn a_gate_that_never_gets_the_cpu_still_lets_pieces_through() {
        let (hold, held) = std::sync::mpsc::channel();
        // The thread takes requests and never answers them: a CPU that is never idle.
        let gate = BulkGate::start_with(1 << 20, move |rx| {
            let mut kept = Vec::new();
            while let Ok(r) = rx.recv() {
                kept.push(r);
            }
            let _ = hold.send(kept.len());
        })
        .unwrap();
        let t = std::time::Instant::now();
        for _ in 0..3 {
            gate.pass().await;
        }
        assert!(t.elapsed() >= BULK_MAX_WAIT * 3);
        drop(gate);
        assert_eq!(held.recv().unwrap(), 3);
    }
}
