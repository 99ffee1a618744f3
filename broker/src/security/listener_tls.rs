//! The client listener's TLS, built from files and rebuilt when they change: a renewed or
//! rotated broker certificate, or a changed set of trusted client CAs, goes into a new
//! server config that new connections get while open ones carry on. This is how the
//! certificate and the CA are rotated without downtime (CA rotation in three steps: trust
//! both CAs, reissue the certificates from the new one, drop the old one).
//!
//! Files are compared by content every poll, and a change is taken once it held still for
//! one poll. A set that does not load (a key that does not match its certificate) changes
//! nothing and is tried again at every poll.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustmq_transport::tls::{self, TlsError};
use tokio::sync::watch;

use super::BrokerSecurity;
use crate::config::NetworkSection;

/// Where the listener's certificate, key and (with security on) client CAs come from.
#[derive(Debug, Clone)]
pub struct ListenerTlsFiles {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
    /// Trusted client CAs, PEM (one or more): mutual TLS when set.
    pub client_ca: Option<PathBuf>,
    /// Clients may come without a certificate (and authenticate with a token).
    pub certificate_optional: bool,
}

impl ListenerTlsFiles {
    /// The server config these files make now; with a client CA, clients must present a
    /// certificate it verifies, and not one `security` knows to be revoked.
    pub fn server_config(
        &self,
        security: &BrokerSecurity,
    ) -> Result<rustls::ServerConfig, TlsError> {
        let built = self.build(security)?;
        // What the listener now presents: its end is what the expiry alert watches.
        let not_after = std::fs::read_to_string(&self.cert)
            .ok()
            .and_then(|pem| rustmq_security::ca::parse_pem_chain(&pem).ok())
            .and_then(|chain| rustmq_security::ca::inspect_der(chain.first()?.as_ref()).ok())
            .map(|info| info.not_after);
        if let Some(t) = not_after {
            security.listener_certificate_loaded(t);
        }
        Ok(built)
    }

    fn build(&self, security: &BrokerSecurity) -> Result<rustls::ServerConfig, TlsError> {
        match &self.client_ca {
            Some(ca) => tls::mutual_server_config(
                &self.cert,
                &self.key,
                security.client_verifier(if self.certificate_optional {
                    tls::optional_client_verifier(ca)?
                } else {
                    tls::client_verifier(ca)?
                }),
                rustmq_protocol::ALPN,
            ),
            None => tls::server_config(&self.cert, &self.key, rustmq_protocol::ALPN),
        }
    }

    /// The files' contents (`None` while one cannot be read).
    fn contents(&self) -> Option<Vec<Vec<u8>>> {
        std::iter::once(&self.cert)
            .chain(std::iter::once(&self.key))
            .chain(self.client_ca.iter())
            .map(|p| std::fs::read(p).ok())
            .collect()
    }
}

/// Polls the files every `every` and installs a new server config on `endpoint` when their
/// contents change, until `stop`.
pub async fn watch_listener_tls(
    files: ListenerTlsFiles,
    security: Arc<BrokerSecurity>,
    endpoint: quinn::Endpoint,
    net: NetworkSection,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut installed = files.contents();
    let mut previous = installed.clone();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now = files.contents();
        // A change is taken once it held still for a poll: a certificate and its key are
        // two files, and one may be written before the other.
        let settled = now == previous;
        previous.clone_from(&now);
        if now.is_none() || now == installed || !settled {
            continue;
        }
        let built = files
            .server_config(&security)
            .map_err(|e| e.to_string())
            .and_then(|tls| {
                crate::server::quic_server_config(tls, &net).map_err(|e| e.to_string())
            });
        match built {
            Ok(cfg) => {
                endpoint.set_server_config(Some(cfg));
                installed = now;
                security.tls_reloaded();
                tracing::info!(cert = %files.cert.display(), "listener certificates reloaded; new connections use them");
            }
            Err(e) => {
                tracing::warn!(error = %e, "changed listener certificates do not load yet; keeping the ones in use");
            }
        }
    }
}
