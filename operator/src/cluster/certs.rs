//! The cluster's own CA and the certificates it signs: per pod, named for the pods' DNS
//! names, the headless and client Services, so that clients verify brokers by the names
//! they dial and the processes authenticate each other with mutual TLS (their role in the
//! identity URI), and the operator's admin certificate.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustmq_security::ca::{CertificateAuthority, IssueRequest};
use rustmq_security::identity::Role;

use crate::error::{Error, Result};

/// A CA as stored in the cluster's CA Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCa {
    /// The CA certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PEM).
    pub key_pem: String,
}

/// One leaf certificate and its key (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// Certificate.
    pub cert_pem: String,
    /// Private key.
    pub key_pem: String,
}

fn err(e: rcgen::Error) -> Error {
    Error::Certificate(e.to_string())
}

fn ca_params(cluster: &str) -> Result<CertificateParams> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("RustMQ cluster CA {cluster}"));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    // Ten years: the operator does not rotate the CA yet, so it must outlive the cluster.
    ca.not_after = rcgen::date_time_ymd(2036, 1, 1);
    Ok(ca)
}

/// Creates a CA for `cluster` (`namespace/name`).
///
/// ```
/// let ca = rustmq_operator::cluster::certs::new_ca("ns/rmq").unwrap();
/// assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// ```
pub fn new_ca(cluster: &str) -> Result<StoredCa> {
    let key = KeyPair::generate().map_err(err)?;
    let cert = ca_params(cluster)?.self_signed(&key).map_err(err)?;
    Ok(StoredCa {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Issues a certificate of the stored CA for a cluster member (`role` broker or
/// controller, or the operator's own `admin`), its identity in the SAN URI the processes
/// read (`rustmq://<role>/<principal>`), serving `names` (DNS names). Brokers' and
/// controllers' serve and authenticate (internal RPC is mutual TLS). Valid for `validity`,
/// at most as long as the CA less a day (`None`: that long).
///
/// ```
/// use rustmq_operator::cluster::certs::{new_ca, sign};
/// use rustmq_security::identity::Role;
/// let ca = new_ca("ns/rmq").unwrap();
/// let names = ["rmq-broker-0.rmq-broker.ns.svc".to_string()];
/// let leaf = sign(&ca, Role::Broker, "rmq-broker-0", &names, None).unwrap();
/// assert!(leaf.key_pem.contains("PRIVATE KEY"));
/// ```
pub fn sign(
    ca: &StoredCa,
    role: Role,
    principal: &str,
    names: &[String],
    validity: Option<std::time::Duration>,
) -> Result<Leaf> {
    let authority = CertificateAuthority::from_pem(&ca.cert_pem, &ca.key_pem)
        .map_err(|e| Error::Certificate(e.to_string()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let left = authority.info().not_after - now - 86_400;
    let most = std::time::Duration::from_secs(
        u64::try_from(left)
            .map_err(|_| Error::Certificate("the cluster CA expires within a day".into()))?,
    );
    let validity = validity.map_or(most, |v| v.min(most));
    let mut req = IssueRequest::new(principal, role, validity);
    req.dns_names = names.to_vec();
    let issued = authority
        .issue(&req)
        .map_err(|e| Error::Certificate(e.to_string()))?;
    Ok(Leaf {
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    })
}

/// Seconds until a stored certificate expires (`None`: not a certificate).
pub fn seconds_left(cert_pem: &str) -> Option<i64> {
    let der = rustmq_security::ca::parse_pem_chain(cert_pem).ok()?;
    let info = rustmq_security::ca::inspect_der(der.first()?.as_ref()).ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Some(info.not_after - now)
}

/// The DNS names a stored certificate serves (empty: none, or not a certificate).
pub fn served_names(cert_pem: &str) -> Vec<String> {
    rustmq_security::ca::parse_pem_chain(cert_pem)
        .ok()
        .and_then(|der| rustmq_security::ca::dns_names(der.first()?.as_ref()).ok())
        .unwrap_or_default()
}

/// The role a stored certificate declares in its identity URI (`None`: none, or not a
/// certificate): pod certificates issued before identities were added lack one and are
/// issued again.
pub fn declared_role(cert_pem: &str) -> Option<Role> {
    let der = rustmq_security::ca::parse_pem_chain(cert_pem).ok()?;
    rustmq_security::identity::declared_identity(der.first()?.as_ref())
        .ok()
        .flatten()
        .map(|(role, _)| role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_certificate_carries_its_role_and_names_and_the_ca_outlives_it() {
        let ca = new_ca("ns/rmq").unwrap();
        let names = vec![
            "rmq-controller-0.rmq-controller.ns.svc.cluster.local".to_string(),
            "rmq-admin.ns.svc.cluster.local".to_string(),
        ];
        let leaf = sign(&ca, Role::Controller, "rmq-controller-0", &names, None).unwrap();
        assert_eq!(declared_role(&leaf.cert_pem), Some(Role::Controller));
        assert_eq!(served_names(&leaf.cert_pem), names);
        let ca_left = seconds_left(&ca.cert_pem).unwrap();
        let left = seconds_left(&leaf.cert_pem).unwrap();
        assert!(left <= ca_left - 86_400 + 5, "{left} vs {ca_left}");
        // A bounded one: the operator's admin certificate.
        let admin = sign(
            &ca,
            Role::Admin,
            "rustmq-operator",
            &[],
            Some(std::time::Duration::from_secs(3600)),
        )
        .unwrap();
        assert_eq!(declared_role(&admin.cert_pem), Some(Role::Admin));
        assert!((3000..=3700).contains(&seconds_left(&admin.cert_pem).unwrap()));
        assert_eq!(declared_role("not a certificate"), None);
    }
}
