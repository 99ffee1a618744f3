//! The QUIC listener: accepts connections, reads one frame per bidirectional stream, hands the
//! decoded request to the [`Broker`], and writes one response frame.
//!
//! A bad request never costs more than its own stream: an oversized, undecodable or unknown
//! frame gets an `ErrorResponse` frame with a typed code, and a failed handshake ends only
//! that connection; the accept loop keeps accepting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use quinn::{Endpoint, RecvStream, SendStream, VarInt};
use rustmq_protocol::ApiKey;
use rustmq_protocol::frame::{
    self, FLAG_ERROR, FLAG_RESPONSE, FrameError, FrameHeader, HEADER_LEN,
};
use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_transport::quic::FrameBody;
use rustmq_transport::telemetry::TraceParent;
use tokio::sync::watch;
use tracing::Instrument;

use crate::broker::Broker;
use crate::config::NetworkSection;
use crate::task_time::{TaskKind, timed};

mod authorize;
mod bulk;
use authorize::Gate;
pub use bulk::BulkLanes;
use bulk::Lane;

use crate::security::{BrokerSecurity, Session, SessionCell};

use rustmq_protocol::CLOSE_UNAUTHENTICATED;

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
    lanes: &BulkLanes,
) -> Result<Endpoint, ServerError> {
    let cfg = quic_server_config(tls, net)?;
    let socket = rustmq_transport::udp::bind(addr, net.udp_buffer_bytes)
        .map_err(|source| ServerError::Bind { addr, source })?;
    tracing::debug!(%addr, recv_buffer = socket.recv_buffer, send_buffer = socket.send_buffer, "QUIC listener socket");
    Endpoint::new(
        rustmq_transport::udp::endpoint_config(),
        Some(cfg),
        socket.socket,
        lanes.quinn_runtime(),
    )
    .map_err(|source| ServerError::Bind { addr, source })
}

/// The listener's QUIC settings around `tls` (also what a certificate reload installs for
/// new connections).
pub fn quic_server_config(
    tls: rustls::ServerConfig,
    net: &NetworkSection,
) -> Result<quinn::ServerConfig, ServerError> {
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
    t.mtu_discovery_config(Some(rustmq_transport::udp::mtu_discovery()));
    cfg.transport_config(Arc::new(t));
    Ok(cfg)
}

/// Writes the buffers of a response, handed to QUIC as they are (not copied).
async fn write_response(send: &mut SendStream, mut out: Vec<Bytes>) -> Result<(), StreamError> {
    send.write_all_chunks(&mut out).await?;
    send.finish()?;
    Ok(())
}

/// Serves connections until `stop` turns true; `security` authenticates each connection
/// and authorizes each request.
pub async fn serve(
    endpoint: Endpoint,
    broker: Arc<Broker>,
    security: Arc<BrokerSecurity>,
    net: NetworkSection,
    lanes: Arc<BulkLanes>,
    mut stop: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
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
        let security = security.clone();
        let open = open.clone();
        let max_frame = net.max_frame_bytes;
        let lanes = lanes.clone();
        tokio::spawn(timed(TaskKind::Connection, async move {
            let remote = incoming.remote_address();
            let lane = Arc::new(Lane::default());
            let connecting = match lanes.accept(incoming, &lane) {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(%remote, error = %e, "handshake failed");
                    open.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
            };
            match tokio::time::timeout(handshake_timeout, connecting).await {
                Ok(Ok(conn)) => match security.authenticate(&conn) {
                    Ok(session) => {
                        let _registered = security.register(&session, &conn);
                        tracing::debug!(%remote, principal = ?session.identity.as_ref().map(|i| &i.principal), "client connected");
                        let c = Connection {
                            broker,
                            security,
                            session: Arc::new(SessionCell::new(session)),
                            max_frame,
                            lanes,
                            lane,
                        };
                        c.serve(conn).await;
                    }
                    Err(denied) => {
                        tracing::info!(%remote, reason = %denied.message, "client refused");
                        conn.close(
                            VarInt::from_u32(CLOSE_UNAUTHENTICATED),
                            denied.message.as_bytes(),
                        );
                    }
                },
                Ok(Err(e)) => {
                    tracing::info!(%remote, error = %e, "handshake failed");
                    security.handshake_failed(remote, &e.to_string());
                }
                Err(_) => tracing::info!(%remote, "handshake timed out"),
            }
            open.fetch_sub(1, Ordering::Relaxed);
        }));
    }
}

/// When a session must end: notAfter is inclusive, to the second, so the certificate (or
/// token) is expired once that second is over; closing earlier would let the same
/// credential straight back in.
fn expiry_of(session: &Session) -> Option<tokio::time::Instant> {
    session.identity.as_ref().map(|i| {
        let end = jiff::Timestamp::from_second(i.not_after.saturating_add(1))
            .unwrap_or(jiff::Timestamp::MAX);
        let left = end.duration_since(jiff::Timestamp::now());
        tokio::time::Instant::now() + Duration::try_from(left).unwrap_or(Duration::ZERO)
    })
}

/// One authenticated client connection.
struct Connection {
    broker: Arc<Broker>,
    security: Arc<BrokerSecurity>,
    session: Arc<SessionCell>,
    max_frame: u32,
    lanes: Arc<BulkLanes>,
    lane: Arc<Lane>,
}

impl Connection {
    /// Answers the connection's streams until it closes, or until its certificate or
    /// token expires (then it is closed, audited); a new token moves the end.
    async fn serve(self, conn: quinn::Connection) {
        loop {
            let session = self.session.get();
            let expiry = expiry_of(&session);
            let accepted = tokio::select! {
                a = conn.accept_bi() => a,
                _ = self.session.changed() => continue,
                _ = rustmq_transport::time::sleep_until_opt(expiry) => {
                    let why = match session.method {
                        crate::security::AuthMethod::Token => "token expired",
                        _ => "client certificate expired",
                    };
                    self.security.session_closed(&session, why);
                    conn.close(VarInt::from_u32(CLOSE_UNAUTHENTICATED), why.as_bytes());
                    return;
                }
            };
            match accepted {
                Ok((send, recv)) => self.spawn_stream(send, recv),
                Err(e) => {
                    tracing::debug!(error = %e, "connection closed");
                    return;
                }
            }
        }
    }

    fn spawn_stream(&self, send: SendStream, recv: RecvStream) {
        let (broker, lanes, lane) = (self.broker.clone(), self.lanes.clone(), self.lane.clone());
        let (security, session) = (self.security.clone(), self.session.clone());
        let max_frame = self.max_frame;
        let accepted = Instant::now();
        // A bulk connection's requests are answered on the bulk runtime.
        let bulk = lanes.handle().filter(|_| lane.is_bulk()).cloned();
        let on_bulk = bulk.is_some();
        let stream = timed(TaskKind::Request, async move {
            let s = Stream {
                broker: &broker,
                security: &security,
                session: &session,
                max_frame,
                lanes: &lanes,
                lane: &lane,
                on_bulk,
                accepted,
            };
            if let Err(e) = s.serve(send, recv).await {
                tracing::debug!(error = %e, "stream ended early");
            }
        });
        match bulk {
            Some(h) => drop(h.spawn(stream)),
            None => drop(tokio::spawn(stream)),
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
    #[error("bulk runtime: {0}")]
    Bulk(#[from] tokio::task::JoinError),
}

/// What serving one request stream needs.
struct Stream<'a> {
    broker: &'a Broker,
    security: &'a BrokerSecurity,
    session: &'a SessionCell,
    max_frame: u32,
    lanes: &'a Arc<BulkLanes>,
    lane: &'a Lane,
    /// Whether this task runs on the bulk runtime.
    on_bulk: bool,
    /// When the stream was accepted (request timings start there).
    accepted: Instant,
}

impl Stream<'_> {
    async fn serve(&self, send: SendStream, mut recv: RecvStream) -> Result<(), StreamError> {
        let max_frame = self.max_frame;
        let mut head = [0u8; HEADER_LEN];
        match recv.read_exact(&mut head).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(have)) => {
                // No whole header, so no request id to echo: the answer carries zeros.
                let e = FrameError::Truncated {
                    needed: HEADER_LEN,
                    have,
                };
                let h = FrameHeader {
                    body_len: 0,
                    api_key: 0,
                    api_version: 0,
                    request_id: 0,
                    flags: 0,
                };
                return reply_error(send, &h, ErrorCode::InvalidRequest, e.to_string()).await;
            }
            Err(e) => return Err(e.into()),
        }
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
        let body = match read_body(&mut recv, header.body_len as usize).await {
            Ok(b) => b,
            Err(StreamError::Read(quinn::ReadExactError::FinishedEarly(have))) => {
                let e = FrameError::Truncated {
                    needed: header.body_len as usize,
                    have,
                };
                return reply_error(send, &header, ErrorCode::InvalidRequest, e.to_string()).await;
            }
            Err(e) => return Err(e),
        };
        // Anything after the declared body is not ours to read.
        let _ = recv.stop(VarInt::from_u32(0));
        let api = match header.api() {
            Ok(a) => a,
            Err(e) => {
                return reply_error(send, &header, ErrorCode::UnsupportedApi, e.to_string()).await;
            }
        };
        self.broker
            .metrics
            .request_read(api, self.accepted.elapsed());
        let (trace, body) = match frame::split_trace_context(&header, body) {
            Ok(t) => t,
            Err(e) => {
                return reply_error(send, &header, ErrorCode::InvalidRequest, e.to_string()).await;
            }
        };
        // Every log line while the request is handled carries its id and API; with traces
        // exported, the span is the server side of the client's request span.
        let span = tracing::info_span!("request", id = header.request_id, api = ?api,
            otel.kind = "server", otel.name = api.span_name());
        if let Some(parent) = trace.as_ref().and_then(TraceParent::from_binary) {
            parent.adopt(&span);
        }
        let answered = self.handle(api, header, body, send).instrument(span).await;
        self.broker
            .metrics
            .request_answered(api, self.accepted.elapsed());
        answered
    }

    /// Answers one decoded request (inside its span).
    async fn handle(
        &self,
        api: ApiKey,
        header: FrameHeader,
        body: FrameBody,
        send: SendStream,
    ) -> Result<(), StreamError> {
        let broker = self.broker;
        tracing::debug!(bytes = body.remaining(), "request");
        let session = self.session.get();
        // ApiVersions is answered first so a client can learn that it must authenticate.
        if !session.authenticated() && !matches!(api, ApiKey::Authenticate | ApiKey::ApiVersions) {
            self.security
                .unauthenticated_request(&session, header.request_id);
            return reply_error(
                send,
                &header,
                ErrorCode::Unauthorized,
                "authenticate first: send an Authenticate request with a bearer token".into(),
            )
            .await;
        }
        let gate = Gate {
            security: self.security,
            session: &session,
            request_id: header.request_id,
        };
        let response = match dispatch(broker, &gate, self.session, api, body).await {
            Ok(r) => r,
            Err(e) => {
                return reply_error(send, &header, ErrorCode::InvalidRequest, e.to_string()).await;
            }
        };
        let mut reservation = None;
        let mut catching_up = false;
        let out = match response {
            // Record batches go out as the buffers they are held in.
            Response::Fetch(served) => {
                reservation = served.reservation;
                catching_up = served.catching_up;
                frame::encode_fetch_response(
                    header.api_key,
                    header.api_version,
                    header.request_id,
                    FLAG_RESPONSE,
                    &served.response,
                )
            }
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
            Response::Authenticate(m) => encode(&header, &m),
            Response::ApiVersions(m) => encode(&header, &m),
        };
        let sent = self.respond(api, send, out, catching_up).await;
        // The records' room in the fetch budget is free once they are sent.
        drop(reservation);
        sent
    }

    /// Writes the response. A fetch response larger than the bulk threshold that left
    /// records behind (`catching_up`) makes the connection bulk, and is written from the bulk
    /// runtime; any other fetch response makes it ordinary again. A tail consumer of a busy
    /// topic gets large responses too, but it is what the latency is for.
    async fn respond(
        &self,
        api: ApiKey,
        mut send: SendStream,
        out: Vec<Bytes>,
        catching_up: bool,
    ) -> Result<(), StreamError> {
        if api != ApiKey::Fetch {
            return write_response(&mut send, out).await;
        }
        let total: usize = out.iter().map(Bytes::len).sum();
        let big = catching_up && total > self.lanes.threshold();
        self.lane.set_bulk(big);
        if !big {
            return write_response(&mut send, out).await;
        }
        self.lanes.count_bulk_response();
        match self.lanes.handle() {
            Some(h) if !self.on_bulk => {
                h.spawn(async move { write_response(&mut send, out).await })
                    .await?
            }
            _ => write_response(&mut send, out).await,
        }
    }
}

/// Reads exactly `len` bytes, as the chunks they arrived in.
async fn read_body(recv: &mut RecvStream, len: usize) -> Result<FrameBody, StreamError> {
    rustmq_transport::quic::read_body(recv, len)
        .await
        .map_err(StreamError::Read)
}

enum Response {
    Metadata(proto::MetadataResponse),
    Produce(proto::ProduceResponse),
    /// With the room its records hold in the fetch budget, kept until sent.
    Fetch(crate::broker::ServedFetch),
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
    Authenticate(proto::AuthenticateResponse),
    ApiVersions(proto::ApiVersionsResponse),
}

async fn dispatch(
    broker: &Broker,
    gate: &Gate<'_>,
    cell: &SessionCell,
    api: ApiKey,
    body: FrameBody,
) -> Result<Response, FrameError> {
    Ok(match api {
        ApiKey::ApiVersions => {
            let _: proto::ApiVersionsRequest = frame::decode_body(body)?;
            Response::ApiVersions(broker.api_versions(!gate.session.authenticated()))
        }
        ApiKey::Authenticate => {
            let req: proto::AuthenticateRequest = frame::decode_body(body)?;
            Response::Authenticate(
                match gate
                    .security
                    .authenticate_token(gate.session, &req.mechanism, &req.token)
                    .await
                {
                    Ok(s) => {
                        let (principal, not_after) = s
                            .identity
                            .as_ref()
                            .map(|i| (i.principal.clone(), i.not_after))
                            .unwrap_or_default();
                        cell.set(s);
                        proto::AuthenticateResponse {
                            error_code: ErrorCode::None as i32,
                            error_message: String::new(),
                            principal,
                            session_expires_at_ms: not_after.saturating_mul(1000),
                        }
                    }
                    Err(d) => proto::AuthenticateResponse {
                        error_code: ErrorCode::Unauthorized as i32,
                        error_message: d.message,
                        ..Default::default()
                    },
                },
            )
        }
        ApiKey::Metadata => {
            let req: proto::MetadataRequest = frame::decode_body(body)?;
            let mut resp = broker.metadata(req.clone());
            gate.metadata(&req, &mut resp);
            Response::Metadata(resp)
        }
        ApiKey::Produce => {
            let mut req = frame::decode_body(body)?;
            let denied = gate.produce(&mut req);
            let mut resp = broker.produce(req).await;
            resp.topics.extend(denied);
            Response::Produce(resp)
        }
        ApiKey::Fetch => {
            let mut req = frame::decode_body(body)?;
            let denied = gate.fetch(&mut req);
            let mut served = broker.fetch_reserved(req).await;
            served.response.topics.extend(denied);
            Response::Fetch(served)
        }
        ApiKey::ListOffsets => {
            let mut req = frame::decode_body(body)?;
            let denied = gate.list_offsets(&mut req);
            let mut resp = broker.list_offsets(req).await;
            resp.topics.extend(denied);
            Response::ListOffsets(resp)
        }
        ApiKey::Health => {
            let _: proto::HealthRequest = frame::decode_body(body)?;
            Response::Health(broker.health())
        }
        // Group errors travel in each response's error_code, not as error frames.
        ApiKey::JoinGroup => {
            let req: proto::JoinGroupRequest = frame::decode_body(body)?;
            let r = match gate.group(&req.group_id) {
                Ok(()) => broker.groups().join(req).await,
                Err(d) => Err((ErrorCode::Unauthorized, d.message)),
            };
            Response::JoinGroup(match r {
                Ok(r) => r,
                Err((code, msg)) => proto::JoinGroupResponse {
                    error_code: code as i32,
                    error_message: msg,
                    generation_id: -1,
                    ..Default::default()
                },
            })
        }
        ApiKey::SyncGroup => {
            let req: proto::SyncGroupRequest = frame::decode_body(body)?;
            let r = match gate.group(&req.group_id) {
                Ok(()) => broker.groups().sync(req).await,
                Err(d) => Err((ErrorCode::Unauthorized, d.message)),
            };
            Response::SyncGroup(match r {
                Ok(r) => r,
                Err((code, msg)) => proto::SyncGroupResponse {
                    error_code: code as i32,
                    error_message: msg,
                    assignment: vec![],
                },
            })
        }
        ApiKey::Heartbeat => {
            let req: proto::HeartbeatRequest = frame::decode_body(body)?;
            let r = match gate.group(&req.group_id) {
                Ok(()) => broker.groups().heartbeat(req).await,
                Err(d) => Err((ErrorCode::Unauthorized, d.message)),
            };
            let (error_code, error_message) = split(r);
            Response::Heartbeat(proto::HeartbeatResponse {
                error_code,
                error_message,
            })
        }
        ApiKey::LeaveGroup => {
            let req: proto::LeaveGroupRequest = frame::decode_body(body)?;
            let r = match gate.group(&req.group_id) {
                Ok(()) => broker.groups().leave(req).await,
                Err(d) => Err((ErrorCode::Unauthorized, d.message)),
            };
            let (error_code, error_message) = split(r);
            Response::LeaveGroup(proto::LeaveGroupResponse {
                error_code,
                error_message,
            })
        }
        ApiKey::OffsetCommit => {
            let mut req: proto::OffsetCommitRequest = frame::decode_body(body)?;
            let r = match gate.group(&req.group_id) {
                Ok(()) => {
                    let denied = gate.offset_commit(&mut req);
                    broker.groups().commit(req).await.map(|mut r| {
                        r.partitions.extend(denied);
                        r
                    })
                }
                Err(d) => Err((ErrorCode::Unauthorized, d.message)),
            };
            Response::OffsetCommit(match r {
                Ok(r) => r,
                Err((code, msg)) => proto::OffsetCommitResponse {
                    error_code: code as i32,
                    error_message: msg,
                    partitions: vec![],
                },
            })
        }
        // An idempotent-producer id grants nothing by itself (every write is checked per
        // topic), so any authenticated client may have one, as with Kafka since KIP-679.
        ApiKey::InitProducerId => {
            let _: proto::InitProducerIdRequest = frame::decode_body(body)?;
            Response::InitProducerId(broker.init_producer_id().await)
        }
        ApiKey::FindCoordinator => {
            let req: proto::FindCoordinatorRequest = frame::decode_body(body)?;
            Response::FindCoordinator(match gate.describe_group(&req.group_id) {
                Ok(()) => broker.groups().find_coordinator(req),
                Err(d) => proto::FindCoordinatorResponse {
                    error_code: ErrorCode::Unauthorized as i32,
                    error_message: d.message,
                    ..Default::default()
                },
            })
        }
        ApiKey::OffsetFetch => {
            let req: proto::OffsetFetchRequest = frame::decode_body(body)?;
            let r = match gate.describe_group(&req.group_id) {
                Ok(()) => broker.groups().fetch_offsets(req),
                Err(_) => Err((ErrorCode::Unauthorized, String::new())),
            };
            Response::OffsetFetch(match r {
                Ok(mut r) => {
                    gate.offset_fetch(&mut r);
                    r
                }
                Err((code, _)) => proto::OffsetFetchResponse {
                    error_code: code as i32,
                    offsets: vec![],
                },
            })
        }
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
    use rustmq_protocol::batch;
    use rustmq_protocol::records::{Compression, OutgoingRecord, encode_batch};

    /// The produce path copies a batch once: decoding a body read as packet-sized chunks
    /// gathers each partition's records into a buffer of its own, which the append then
    /// stamps in place.
    #[test]
    fn batches_decoded_from_packet_chunks_are_stamped_without_a_second_copy() {
        let batch_of = |n: usize| {
            let records: Vec<_> = (0..n)
                .map(|i| OutgoingRecord::value(format!("{i:01000}")))
                .collect();
            encode_batch(&records, Compression::None).unwrap()
        };
        let partition = |p: u32| proto::PartitionProduceData {
            partition: p,
            records: [batch_of(8), batch_of(5)].concat().into(),
        };
        let req = proto::ProduceRequest {
            topics: vec![proto::TopicProduceData {
                topic: "orders".into(),
                partitions: vec![partition(0), partition(1)],
            }],
            ..Default::default()
        };
        let encoded = Bytes::from(prost::Message::encode_to_vec(&req));
        let chunks: Vec<Bytes> = encoded.chunks(1200).map(Bytes::copy_from_slice).collect();
        let decoded: proto::ProduceRequest =
            frame::decode_body(FrameBody::from_chunks(chunks)).unwrap();
        assert_eq!(decoded, req);
        for p in decoded.topics.into_iter().flat_map(|t| t.partitions) {
            let infos = batch::validate(&p.records, 1 << 20).unwrap();
            let at = p.records.as_ptr() as usize;
            let batches = batch::stampable(p.records, &infos);
            for (b, i) in batches.iter().zip(&infos) {
                assert_eq!(b.as_ptr() as usize, at + i.start, "not copied again");
            }
        }
    }
}
