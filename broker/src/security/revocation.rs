//! Revoked certificates on the client listener: refused in the TLS handshake (a verifier in
//! front of the CA check), and the open sessions that use one closed when the revocation
//! reaches this broker through the replicated metadata.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use rustmq_controller::metadata::CertificateRegistry;

/// Serials revoked, as this broker last saw them.
#[derive(Debug, Default)]
pub struct RevokedSet {
    serials: RwLock<Arc<HashSet<String>>>,
    /// The registry's revocation count the set was built from.
    seen: AtomicU64,
}

impl RevokedSet {
    /// Whether `serial` is revoked.
    pub fn contains(&self, serial: &str) -> bool {
        self.serials.read().contains(serial)
    }

    /// Takes the revocations of `registry`; returns the serials newly revoked.
    pub fn update(&self, registry: &CertificateRegistry) -> Vec<String> {
        if self.seen.load(Ordering::Acquire) == registry.revocations {
            return Vec::new();
        }
        let next: HashSet<String> = registry.revoked_serials().map(str::to_string).collect();
        let mut cur = self.serials.write();
        let added = next.difference(&cur).cloned().collect();
        *cur = Arc::new(next);
        self.seen.store(registry.revocations, Ordering::Release);
        added
    }
}

/// The CA check, then the revocation check.
#[derive(Debug)]
pub(crate) struct RevocationAwareVerifier {
    pub inner: Arc<dyn ClientCertVerifier>,
    pub revoked: Arc<RevokedSet>,
}

impl ClientCertVerifier for RevocationAwareVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let serial = rustmq_security::ca::inspect_der(end_entity)
            .map(|i| i.serial)
            .map_err(|e| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                    rustls::OtherError(Arc::new(e)),
                ))
            })?;
        if self.revoked.contains(&serial) {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Revoked,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Open client connections by certificate serial, so a revocation can close them.
#[derive(Default)]
pub(crate) struct LiveSessions {
    next: AtomicU64,
    by_serial: Mutex<HashMap<String, Vec<(u64, quinn::Connection)>>>,
}

impl LiveSessions {
    /// Registers `conn`; the guard unregisters it when dropped.
    pub fn register(self: &Arc<Self>, serial: String, conn: quinn::Connection) -> SessionGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.by_serial
            .lock()
            .entry(serial.clone())
            .or_default()
            .push((id, conn));
        SessionGuard {
            sessions: self.clone(),
            serial,
            id,
        }
    }

    /// Takes the connections of `serial` out of the registry.
    pub fn take(&self, serial: &str) -> Vec<quinn::Connection> {
        self.by_serial
            .lock()
            .remove(serial)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, c)| c)
            .collect()
    }
}

/// Keeps a connection registered while it is served.
pub struct SessionGuard {
    sessions: Arc<LiveSessions>,
    serial: String,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut map = self.sessions.by_serial.lock();
        if let Some(v) = map.get_mut(&self.serial) {
            v.retain(|(id, _)| *id != self.id);
            if v.is_empty() {
                map.remove(&self.serial);
            }
        }
    }
}
