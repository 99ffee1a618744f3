//! What the transport's integration tests share: certificate files issued by a test CA.

use std::path::Path;
use std::time::Duration;

use rustmq_security::ca::{CertificateAuthority, IssueRequest};
use rustmq_security::identity::Role;
use rustmq_transport::tls::InternalTls;

/// How long test certificates live.
pub const DAY: Duration = Duration::from_secs(86_400);

/// Issues `name` a certificate of `role` for localhost from `ca` and writes it, its key and
/// the CA's root into `dir`: the files a node's internal TLS reads.
pub fn issue_files(dir: &Path, ca: &CertificateAuthority, name: &str, role: Role) -> InternalTls {
    let issued = ca
        .issue(&IssueRequest {
            dns_names: vec!["localhost".into()],
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            ..IssueRequest::new(name, role, DAY)
        })
        .unwrap();
    let tls = InternalTls {
        ca_cert: dir.join(format!("{name}-ca.pem")),
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&tls.ca_cert, ca.root_pem()).unwrap();
    std::fs::write(&tls.cert, issued.chain_pem).unwrap();
    std::fs::write(&tls.key, issued.key_pem).unwrap();
    tls
}
