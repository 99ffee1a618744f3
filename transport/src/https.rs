//! HTTPS for the admin REST API: a TLS listener axum serves from (handshakes run off the
//! accept loop, so a slow or hostile client delays nobody else), and [`AdminPeer`], the
//! connection info that carries the client certificate a caller presented.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use rustls_pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections are TLS (the server config may ask for client
/// certificates; see [`crate::tls::optional_client_verifier`]).
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `tcp`, handshaking with `tls` (ALPN `http/1.1`).
    pub fn new(tcp: TcpListener, mut tls: rustls::ServerConfig) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::debug!(error = %e, "admin API accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::info!(%addr, error = %e, "admin API TLS handshake failed")
                        }
                        Err(_) => tracing::info!(%addr, "admin API TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { local, ready })
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(x) => x,
            // The accept task ends only when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Who is calling the admin API: its address and, over HTTPS, the certificate chain it
/// presented (already verified by the handshake).
#[derive(Debug, Clone)]
pub struct AdminPeer {
    /// The client's address.
    pub addr: SocketAddr,
    /// Its certificate chain, leaf first.
    pub certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
}

impl Connected<IncomingStream<'_, TlsListener>> for AdminPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        let certificates = stream
            .io()
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| Arc::new(c.iter().map(|d| d.clone().into_owned()).collect()));
        Self {
            addr: *stream.remote_addr(),
            certificates,
        }
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for AdminPeer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self {
            addr: *stream.remote_addr(),
            certificates: None,
        }
    }
}

/// The TLS configuration of an HTTPS client of an admin API: trusting the CAs of
/// `ca_pem`, presenting `identity` (certificate chain PEM, key PEM) when given.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let dev = rustmq_transport::tls::ensure_dev_certificates(dir.path()).unwrap();
/// let ca = std::fs::read(&dev.ca_cert).unwrap();
/// let tls = rustmq_transport::https::client_tls(&ca, None).unwrap();
/// assert!(!tls.client_auth_cert_resolver.has_certs());
/// ```
pub fn client_tls(
    ca_pem: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> Result<rustls::ClientConfig, crate::tls::TlsError> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        crate::tls::TlsError::Config(format!("{what}: {e}"))
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(c.map_err(|e| bad("CA certificate", &e))?)
            .map_err(|e| bad("CA certificate", &e))?;
    }
    if roots.is_empty() {
        return Err(bad("CA certificate", &"no certificate in the PEM"));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad("protocol versions", &e))?
    .with_root_certificates(roots);
    match identity {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<_, _>>()
                .map_err(|e| bad("client certificate", &e))?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| bad("client key", &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad("client certificate", &e))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}
