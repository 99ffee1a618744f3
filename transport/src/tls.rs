//! TLS: loading certificates, the development CA that dev mode creates so local clients
//! verify the server instead of skipping verification, and the mutual TLS of internal RPC
//! (controller <-> controller, broker <-> controller), where both ends present a certificate
//! of the cluster CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// TLS set-up errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A PEM file could not be parsed.
    #[error("{path}: not a valid PEM {what}: {reason}")]
    Pem {
        /// File.
        path: PathBuf,
        /// Certificate or key.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Certificate generation or rustls configuration failed.
    #[error("tls: {0}")]
    Config(String),
}

/// Paths of the development CA and server certificate.
#[derive(Debug, Clone)]
pub struct DevCertificates {
    /// CA certificate clients trust.
    pub ca_cert: PathBuf,
    /// Server certificate chain.
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
}

/// Creates (once) a development CA and a server certificate for `localhost` / `127.0.0.1`
/// under `dir` (the CA's key as `ca.key`, so a developer can issue client certificates with
/// `rustmq-admin certs issue --ca-dir`); later starts reuse them.
pub fn ensure_dev_certificates(dir: &Path) -> Result<DevCertificates, TlsError> {
    let files = DevCertificates {
        ca_cert: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    };
    if files.ca_cert.exists() && files.server_cert.exists() && files.server_key.exists() {
        return Ok(files);
    }
    if !dir.exists() {
        // Several processes of a local cluster may share one directory and start together:
        // build the set aside and rename it into place, so exactly one set wins.
        let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        write_dev_certificates(&tmp)?;
        if std::fs::rename(&tmp, dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        if files.ca_cert.exists() && files.server_cert.exists() && files.server_key.exists() {
            return Ok(files);
        }
    }
    write_dev_certificates(dir)?;
    Ok(files)
}

fn write_dev_certificates(dir: &Path) -> Result<(), TlsError> {
    use rustmq_security::ca::{CertificateAuthority, IssueRequest};
    use rustmq_security::identity::Role;
    const TEN_YEARS: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 86_400);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let ca_err = |e: rustmq_security::ca::CaError| TlsError::Config(e.to_string());
    let ca = CertificateAuthority::new_root("RustMQ development CA", TEN_YEARS).map_err(ca_err)?;
    // One certificate for every dev process: the broker role, which may serve clients and
    // speak internal RPC.
    let server = ca
        .issue(&IssueRequest {
            dns_names: vec!["localhost".into()],
            ip_addresses: vec![std::net::Ipv4Addr::LOCALHOST.into()],
            ..IssueRequest::new("rustmq-dev", Role::Broker, TEN_YEARS)
        })
        .map_err(ca_err)?;
    let ca_key = dir.join("ca.key");
    let write = |p: &Path, s: &str| std::fs::write(p, s).map_err(io(p));
    write(&dir.join("ca.pem"), ca.root_pem())?;
    write(&ca_key, &ca.key_pem())?;
    write(&dir.join("server.pem"), &server.chain_pem)?;
    write(&dir.join("server.key"), &server.key_pem)?;
    #[cfg(unix)]
    for key in [&ca_key, &dir.join("server.key")] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).map_err(io(key))?;
    }
    Ok(())
}

/// Loads a PEM certificate chain.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, "certificate", e))?
        .collect();
    let certs = certs.map_err(|e| pem_err(path, "certificate", e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_path_buf(),
            what: "certificate",
            reason: "no certificate found".into(),
        });
    }
    Ok(certs)
}

fn pem_err(path: &Path, what: &'static str, e: rustls_pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        what,
        reason: e.to_string(),
    }
}

/// A TLS 1.3 server config (QUIC requires 1.3) offering `alpn` (the client protocol's
/// `rustmq/1`), using the workspace's one crypto provider (ring).
pub fn server_config(
    cert: &Path,
    key: &Path,
    alpn: &[u8],
) -> Result<rustls::ServerConfig, TlsError> {
    let certs = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, "private key", e))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| TlsError::Config(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Ok(cfg)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca: &Path) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in load_certs(ca)? {
        roots
            .add(c)
            .map_err(|e| TlsError::Config(format!("{}: {e}", ca.display())))?;
    }
    Ok(roots)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err(path, "private key", e))
}

/// Certificate files of one node of the internal RPC: its chain and key, and the cluster CA
/// that every peer's certificate must be signed by.
#[derive(Debug, Clone)]
pub struct InternalTls {
    /// Cluster CA.
    pub ca_cert: PathBuf,
    /// This node's certificate chain (used as server and client certificate).
    pub cert: PathBuf,
    /// This node's key.
    pub key: PathBuf,
}

impl From<DevCertificates> for InternalTls {
    fn from(d: DevCertificates) -> Self {
        Self {
            ca_cert: d.ca_cert,
            cert: d.server_cert,
            key: d.server_key,
        }
    }
}

/// A verifier that requires a client certificate chaining to a CA in `ca` (PEM), valid now,
/// with the clientAuth key usage.
pub fn client_verifier(
    ca: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))
}

/// [`client_verifier`], but a client may also come without a certificate (it then proves
/// itself another way, such as a bearer token); one that presents a certificate must pass.
pub fn optional_client_verifier(
    ca: &Path,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))
}

/// A TLS 1.3 server config offering `alpn` whose clients must pass `verifier`.
pub fn mutual_server_config(
    cert: &Path,
    key: &Path,
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    alpn: &[u8],
) -> Result<rustls::ServerConfig, TlsError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Ok(cfg)
}

impl InternalTls {
    /// Server side of internal RPC: TLS 1.3, ALPN `alpn`, and a client certificate signed by
    /// the cluster CA required (a peer without one cannot even send a request).
    pub fn server_config(&self, alpn: &[u8]) -> Result<rustls::ServerConfig, TlsError> {
        mutual_server_config(&self.cert, &self.key, client_verifier(&self.ca_cert)?, alpn)
    }

    /// Client side of internal RPC: verifies the peer against the cluster CA and presents
    /// this node's certificate.
    pub fn client_config(&self, alpn: &[u8]) -> Result<rustls::ClientConfig, TlsError> {
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots(&self.ca_cert)?)
            .with_client_auth_cert(load_certs(&self.cert)?, load_key(&self.key)?)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        cfg.alpn_protocols = vec![alpn.to_vec()];
        Ok(cfg)
    }
}
