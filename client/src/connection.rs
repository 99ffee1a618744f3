//! One QUIC connection per broker; one bidirectional stream per request. A broken connection
//! is dropped and re-established (exponential backoff with jitter) on the next request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::BackoffBuilder;
use bytes::Bytes;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustmq_protocol::ApiKey;
use rustmq_protocol::frame::{self, FLAG_ERROR};
use rustmq_protocol::proto::{self, ErrorCode};
use rustmq_transport::telemetry::TraceParent;

use crate::ClientError;
use crate::config::{AuthConfig, ClientConfig, TokenSource};
use crate::transport_stats::TransportStats;

/// The TLS side of a connection: brokers verified against the configured CA, and the
/// client certificate presented when one is configured. Built for every new connection so
/// rotated certificate files are read again.
fn tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig, ClientError> {
    let t = config.effective_tls();
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match (&t.ca_cert, &t.ca_cert_pem) {
        (_, Some(pem)) => CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| ClientError::Tls(format!("ca_cert_pem: {e}")))?,
        (Some(path), None) => CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?,
        (None, None) => {
            return Err(ClientError::Config(
                "no CA certificate configured: set tls.ca_cert (dev mode prints the path of \
                 its CA, by default ./rustmq-data/tls/ca.pem)"
                    .into(),
            ));
        }
    };
    for c in certs {
        roots
            .add(c)
            .map_err(|e| ClientError::Tls(format!("CA certificate rejected: {e}")))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| ClientError::Tls(e.to_string()))?
    .with_root_certificates(roots);
    let mut tls = match (&t.client_cert, &t.client_key) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| ClientError::Tls(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| ClientError::Tls(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ClientError::Tls(format!("client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(ClientError::Config(
                "tls.client_cert and tls.client_key go together".into(),
            ));
        }
    };
    tls.alpn_protocols = vec![rustmq_protocol::ALPN.to_vec()];
    Ok(tls)
}

/// The QUIC settings of a connection (TLS included, see [`tls_config`]).
fn quic_client_config(config: &ClientConfig) -> Result<quinn::ClientConfig, ClientError> {
    let tls = tls_config(config)?;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .stream_receive_window(quinn::VarInt::from_u32(16 * 1024 * 1024))
        .receive_window(quinn::VarInt::from_u32(64 * 1024 * 1024))
        .send_window(64 * 1024 * 1024)
        // A broker that died (kill -9, a lost node) sends nothing: keep-alives every 500 ms
        // and a 3 s idle timeout fail its in-flight requests quickly, so the producer retries
        // at the new leader instead of waiting out the request timeout.
        .keep_alive_interval(Some(Duration::from_millis(500)))
        .max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(
            3_000,
        ))));
    // Let datagrams grow past 1500 bytes where the path allows it (loopback, jumbo frames).
    transport.mtu_discovery_config(Some(rustmq_transport::udp::mtu_discovery()));
    client.transport_config(Arc::new(transport));
    Ok(client)
}

/// Builds the QUIC client endpoint; the configuration is checked here so a bad CA or
/// client certificate fails when the client is built.
pub(crate) fn endpoint(config: &ClientConfig) -> Result<quinn::Endpoint, ClientError> {
    let client = quic_client_config(config)?;
    let bind: SocketAddr = "0.0.0.0:0"
        .parse()
        .map_err(|_| ClientError::Config("bind".into()))?;
    let mut ep =
        rustmq_transport::udp::endpoint(bind, config.udp_buffer_bytes, None).map_err(|e| {
            ClientError::Connection {
                broker: "local".into(),
                reason: format!("cannot open a UDP socket: {e}"),
            }
        })?;
    ep.set_default_client_config(client);
    Ok(ep)
}

/// A connection to one broker.
pub(crate) struct BrokerConnection {
    addr: String,
    config: ClientConfig,
    endpoint: quinn::Endpoint,
    conn: tokio::sync::Mutex<Option<quinn::Connection>>,
    next_id: AtomicU32,
}

impl BrokerConnection {
    /// The `host:port` this connection dials.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    pub(crate) fn new(addr: String, endpoint: quinn::Endpoint, config: ClientConfig) -> Arc<Self> {
        Arc::new(Self {
            addr,
            config,
            endpoint,
            conn: tokio::sync::Mutex::new(None),
            next_id: AtomicU32::new(1),
        })
    }

    fn conn_err(&self, reason: impl std::fmt::Display) -> ClientError {
        ClientError::Connection {
            broker: self.addr.clone(),
            reason: reason.to_string(),
        }
    }

    async fn connect_once(&self) -> Result<quinn::Connection, ClientError> {
        let (host, _) = self.addr.rsplit_once(':').ok_or_else(|| {
            ClientError::Config(format!("broker address '{}' lacks a port", self.addr))
        })?;
        let sock = tokio::net::lookup_host(&self.addr)
            .await
            .map_err(|e| self.conn_err(format!("cannot resolve: {e}")))?
            .next()
            .ok_or_else(|| self.conn_err("no address"))?;
        let name = self
            .config
            .effective_tls()
            .server_name
            .unwrap_or_else(|| host.trim_matches(['[', ']']).to_string());
        ServerName::try_from(name.as_str())
            .map_err(|e| ClientError::Tls(format!("invalid server name '{name}': {e}")))?;
        let connecting = self
            .endpoint
            .connect_with(quic_client_config(&self.config)?, sock, &name)
            .map_err(|e| self.conn_err(e))?;
        let conn = connecting.await.map_err(|e| {
            if is_handshake_refusal(&e) {
                ClientError::Tls(format!("{}: {e}", self.addr))
            } else {
                self.conn_err(e)
            }
        })?;
        if let Some(AuthConfig::Jwt { token }) = &self.config.auth {
            let expires_at_ms = self.authenticate(&conn, token).await?;
            if matches!(token, TokenSource::File(_)) {
                tokio::spawn(reauthenticate(
                    self.addr.clone(),
                    conn.clone(),
                    token.clone(),
                    expires_at_ms,
                    self.config.max_frame_bytes,
                ));
            }
        }
        Ok(conn)
    }

    /// Sends the token as the connection's first request; the session's end (ms).
    async fn authenticate(
        &self,
        conn: &quinn::Connection,
        token: &TokenSource,
    ) -> Result<i64, ClientError> {
        let t = token
            .read()
            .map_err(|e| ClientError::Config(format!("bearer token: {e}")))?;
        let r = send_authenticate(conn, &t, self.config.max_frame_bytes)
            .await
            .map_err(|e| self.refusal_of(conn).unwrap_or_else(|| self.conn_err(e)))?;
        if r.error_code != ErrorCode::None as i32 {
            return Err(ClientError::Authentication {
                broker: self.addr.clone(),
                reason: r.error_message,
            });
        }
        Ok(r.session_expires_at_ms)
    }

    fn refusal_of(&self, conn: &quinn::Connection) -> Option<ClientError> {
        conn.close_reason().and_then(|c| self.refusal(&c))
    }

    /// The live connection, connecting with backoff and jitter if needed.
    async fn connection(&self) -> Result<quinn::Connection, ClientError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref()
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        *guard = None;
        let deadline = tokio::time::Instant::now() + self.config.connect_timeout;
        let mut backoff = backon::ExponentialBuilder::default()
            .with_min_delay(self.config.reconnect_base_delay)
            .with_max_delay(self.config.reconnect_max_delay)
            .with_jitter()
            .without_max_times()
            .build();
        loop {
            let attempt = tokio::time::timeout_at(deadline, self.connect_once()).await;
            match attempt {
                Ok(Ok(c)) => {
                    *guard = Some(c.clone());
                    return Ok(c);
                }
                // A certificate, token or configuration problem will not fix itself.
                Ok(Err(
                    e @ (ClientError::Tls(_)
                    | ClientError::Config(_)
                    | ClientError::Authentication { .. }),
                )) => return Err(e),
                Ok(Err(e)) => {
                    let delay = backoff.next().unwrap_or(self.config.reconnect_max_delay);
                    if tokio::time::Instant::now() + delay >= deadline {
                        return Err(e);
                    }
                    tracing::debug!(broker = %self.addr, error = %e, ?delay, "reconnecting");
                    tokio::time::sleep(delay).await;
                }
                Err(_) => {
                    return Err(self.conn_err(format!(
                        "not connected within {:?}",
                        self.config.connect_timeout
                    )));
                }
            }
        }
    }

    /// Sends one request and returns the decoded response.
    pub(crate) async fn request<Req, Resp>(
        &self,
        api: ApiKey,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, ClientError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        // The caller's span (with traces exported) travels with the request, so the
        // broker's spans join its trace.
        let trace = TraceParent::current().map(|t| t.to_binary());
        let bytes = frame::encode_request(
            api as u16,
            api.max_version(),
            self.next_id.fetch_add(1, Ordering::Relaxed),
            trace.as_ref(),
            req,
        );
        let (header, body) = self.exchange(bytes, timeout).await?;
        decode_body(header, body)
    }

    /// Sends pre-encoded frame bytes (also used by tests to send malformed frames) and returns
    /// the whole response frame.
    pub(crate) async fn request_raw(
        &self,
        frame: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        let (header, body) = self.exchange(frame, timeout).await?;
        let mut out = bytes::BytesMut::with_capacity(frame::HEADER_LEN + body.len());
        header.encode(&mut out);
        out.extend_from_slice(&body);
        Ok(out.freeze())
    }

    /// One request/response exchange on a new stream.
    async fn exchange(
        &self,
        frame: Bytes,
        timeout: Duration,
    ) -> Result<(frame::FrameHeader, Bytes), ClientError> {
        let conn = self.connection().await?;
        let max = self.config.max_frame_bytes;
        let exchange = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| self.conn_err(e))?;
            send.write_all(&frame).await.map_err(|e| self.conn_err(e))?;
            // The broker may refuse an oversized frame before reading it all and stop our
            // send side; its answer is still on the receive side.
            let _ = send.finish();
            read_frame(&mut recv, max)
                .await
                .map_err(|e| self.conn_err(e))
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(b)) => Ok(b),
            Ok(Err(e)) => {
                let closed = conn.close_reason();
                if closed.is_some() {
                    let mut g = self.conn.lock().await;
                    if g.as_ref()
                        .is_some_and(|c| c.stable_id() == conn.stable_id())
                    {
                        *g = None;
                    }
                }
                // A broker that refused our certificate after the handshake says so in the
                // close: that is not a network problem to retry.
                Err(closed.and_then(|c| self.refusal(&c)).unwrap_or(e))
            }
            Err(_) => Err(ClientError::Timeout {
                timeout_ms: timeout.as_millis() as u64,
            }),
        }
    }

    fn refusal(&self, e: &quinn::ConnectionError) -> Option<ClientError> {
        if is_handshake_refusal(e) {
            return Some(ClientError::Tls(format!("{}: {e}", self.addr)));
        }
        match e {
            quinn::ConnectionError::ApplicationClosed(c)
                if c.error_code
                    == quinn::VarInt::from_u32(rustmq_protocol::CLOSE_UNAUTHENTICATED) =>
            {
                Some(ClientError::Authentication {
                    broker: self.addr.clone(),
                    reason: String::from_utf8_lossy(&c.reason).into_owned(),
                })
            }
            _ => None,
        }
    }

    /// The QUIC path of the live connection, if there is one.
    pub(crate) async fn transport_stats(&self) -> Option<TransportStats> {
        let guard = self.conn.lock().await;
        let conn = guard.as_ref().filter(|c| c.close_reason().is_none())?;
        Some(TransportStats::of(&self.addr, conn))
    }

    pub(crate) async fn close(&self) {
        if let Some(c) = self.conn.lock().await.take() {
            c.close(quinn::VarInt::from_u32(0), b"client closed");
        }
    }
}

/// One `Authenticate` exchange on its own stream.
async fn send_authenticate(
    conn: &quinn::Connection,
    token: &str,
    max_frame: u32,
) -> Result<proto::AuthenticateResponse, String> {
    let req = proto::AuthenticateRequest {
        mechanism: "jwt".into(),
        token: token.to_string(),
    };
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(&frame::encode(ApiKey::Authenticate as u16, 1, 0, 0, &req))
        .await
        .map_err(|e| e.to_string())?;
    let _ = send.finish();
    let (header, body) = read_frame(&mut recv, max_frame).await?;
    decode_body(header, body).map_err(|e| e.to_string())
}

/// Sends the token file's token again before the session ends (a tenth of the way
/// before, at least 5 s), for as long as the connection lives; a token that does not
/// move the end leaves the broker to close the connection at expiry.
async fn reauthenticate(
    addr: String,
    conn: quinn::Connection,
    token: TokenSource,
    mut expires_at_ms: i64,
    max_frame: u32,
) {
    loop {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let left = (expires_at_ms - now_ms).max(0);
        let wait = (left - (left / 10).max(5_000)).max(0) as u64;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = conn.closed() => return,
        }
        let Ok(t) = token.read() else {
            tracing::warn!(broker = %addr, "bearer token file unreadable; the session ends at expiry");
            return;
        };
        match send_authenticate(&conn, &t, max_frame).await {
            Ok(r)
                if r.error_code == ErrorCode::None as i32
                    && r.session_expires_at_ms > expires_at_ms =>
            {
                expires_at_ms = r.session_expires_at_ms;
            }
            Ok(r) if r.error_code == ErrorCode::None as i32 => {
                // The same token again: nothing to extend. Look again when it is due.
                tokio::time::sleep(Duration::from_millis(((left / 10).max(1_000)) as u64)).await;
            }
            Ok(r) => {
                tracing::warn!(broker = %addr, reason = %r.error_message, "re-authentication refused; the session ends at expiry");
                return;
            }
            Err(_) => return,
        }
    }
}

/// Reads one frame: the 16-byte header, then exactly the body it announces. A body that arrives
/// in one chunk is kept without copying.
async fn read_frame(
    recv: &mut quinn::RecvStream,
    max_body: u32,
) -> Result<(frame::FrameHeader, Bytes), String> {
    let mut head = [0u8; frame::HEADER_LEN];
    recv.read_exact(&mut head)
        .await
        .map_err(|e| e.to_string())?;
    let header = frame::FrameHeader::decode(&head, max_body).map_err(|e| e.to_string())?;
    let body = rustmq_transport::quic::read_body(recv, header.body_len as usize)
        .await
        .map_err(|e| e.to_string())?;
    Ok((header, body.into_bytes()))
}

/// Decodes a response body; an error frame becomes [`ClientError::Server`].
fn decode_body<Resp: prost::Message + Default>(
    header: frame::FrameHeader,
    body: Bytes,
) -> Result<Resp, ClientError> {
    if header.flags & FLAG_ERROR != 0 {
        let e: proto::ErrorResponse =
            frame::decode_body(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let code = ErrorCode::try_from(e.error_code).unwrap_or(ErrorCode::Unknown);
        return Err(ClientError::from_code(code, e.message));
    }
    frame::decode_body(body).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Whether the handshake failed on TLS itself (a certificate either side refused, no common
/// ALPN protocol): QUIC carries TLS alerts as transport error codes 0x100-0x1ff, from either
/// side. Such a failure will not fix itself by retrying.
fn is_handshake_refusal(e: &quinn::ConnectionError) -> bool {
    let code = match e {
        quinn::ConnectionError::TransportError(t) => t.code,
        quinn::ConnectionError::ConnectionClosed(c) => c.error_code,
        _ => return false,
    };
    (0x100..0x200).contains(&u64::from(code))
}
