//! The cluster's own CA and the per-pod certificates it signs, named for the pods' DNS
//! names, the headless and client Services, so that clients verify brokers by the names
//! they dial and the processes authenticate each other with mutual TLS.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

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

/// Signs a certificate for `names` (DNS names; the first is the common name) with the
/// stored CA of `cluster`. It serves as a server and as a client certificate: internal RPC
/// is mutual TLS.
///
/// ```
/// use rustmq_operator::cluster::certs::{new_ca, sign};
/// let ca = new_ca("ns/rmq").unwrap();
/// let leaf = sign(&ca, "ns/rmq", &["rmq-broker-0.rmq-broker.ns.svc".into()]).unwrap();
/// assert!(leaf.key_pem.contains("PRIVATE KEY"));
/// ```
pub fn sign(ca: &StoredCa, cluster: &str, names: &[String]) -> Result<Leaf> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(err)?;
    // The issuer is rebuilt from the same distinguished name and key: that is all a leaf
    // takes from it (issuer name and authority key identifier).
    let issuer = Issuer::new(ca_params(cluster)?, ca_key);
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(err)?;
    if let Some(first) = names.first() {
        params.distinguished_name.push(DnType::CommonName, first);
    }
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    Ok(Leaf {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
