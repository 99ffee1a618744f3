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
