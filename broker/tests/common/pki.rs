//! A test PKI made with the cluster's own CA code: a root, a broker certificate for
//! 127.0.0.1, and client certificates written to files the client reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustmq_broker::config::BrokerConfig;
use rustmq_client::{ClientConfig, TlsConfig};
use rustmq_security::ca::{CertificateAuthority, IssueRequest};
use rustmq_security::identity::Role;

pub const DAY: Duration = Duration::from_secs(86_400);

pub struct Pki {
    pub dir: PathBuf,
    pub root: CertificateAuthority,
    pub ca_file: PathBuf,
    pub ca_key: PathBuf,
}

/// A certificate and key on disk.
pub struct Files {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let root = CertificateAuthority::new_root("test root", DAY).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, root.root_pem()).unwrap();
        let ca_key = dir.join("ca.key");
        std::fs::write(&ca_key, root.key_pem()).unwrap();
        Self {
            dir: dir.to_path_buf(),
            root,
            ca_file,
            ca_key,
        }
    }

    /// Writes `pem` and `key` as `<name>.pem` / `<name>.key`.
    pub fn write(&self, name: &str, pem: &str, key: &str) -> Files {
        let files = Files {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, pem).unwrap();
        std::fs::write(&files.key, key).unwrap();
        files
    }

    /// A certificate for `principal` as `role`, valid for `validity`.
    pub fn issue(&self, principal: &str, role: Role, validity: Duration) -> Files {
        let mut req = IssueRequest::new(principal, role, validity);
        if role.is_cluster_member() {
            req.dns_names = vec!["localhost".into()];
            req.ip_addresses = vec!["127.0.0.1".parse().unwrap()];
        }
        let issued = self.root.issue(&req).unwrap();
        self.write(principal, &issued.chain_pem, &issued.key_pem)
    }

    /// `config` with security on: this PKI's broker certificate on the client listener and
    /// the admin API (HTTPS), its root as the client CA and as the CA the admin API issues
    /// with.
    pub fn secure(&self, config: &mut BrokerConfig) {
        let broker = self.issue("broker-1", Role::Broker, DAY);
        config.network.tls_cert_path = Some(broker.cert);
        config.network.tls_key_path = Some(broker.key);
        config.security.enabled = true;
        config.security.client_ca_cert = Some(self.ca_file.clone());
        config.security.issuing_ca_cert = Some(self.ca_file.clone());
        config.security.issuing_ca_key = Some(self.ca_key.clone());
        config.admin.https = true;
    }

    /// A client config for `addr` presenting `files`.
    pub fn client(&self, addr: std::net::SocketAddr, files: Option<&Files>) -> ClientConfig {
        ClientConfig {
            brokers: vec![addr.to_string()],
            tls: TlsConfig {
                ca_cert: Some(self.ca_file.clone()),
                client_cert: files.map(|f| f.cert.clone()),
                client_key: files.map(|f| f.key.clone()),
                ..Default::default()
            },
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            metadata_max_wait: Duration::from_secs(2),
            ..Default::default()
        }
    }
}
