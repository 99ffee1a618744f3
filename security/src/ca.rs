//! The cluster's certificate authority: a root, intermediates under it, and leaf
//! certificates that carry a role and a principal (see [`crate::identity`]).
//!
//! Keys are ECDSA P-256. Serials are 128 random bits (behind a `01` byte so the DER integer
//! is positive whatever the bits). Key usages follow the role: brokers and controllers get
//! serverAuth and clientAuth (they are both ends of internal RPC), clients and admins
//! clientAuth only, so a client certificate cannot stand in for a server.
//!
//! This module holds no state: what was issued and revoked is recorded by the controllers
//! (through Raft); private keys are handed to the caller once and never kept.

use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::identity::{self, Role};
use crate::principal::MappingRules;

/// Why the CA could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// Key generation, signing or encoding failed.
    #[error("certificate authority: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM text holds no certificate, or one that does not parse.
    #[error("not a PEM certificate: {0}")]
    Pem(String),
    /// The CA certificate given is not a CA.
    #[error("'{0}' is not a CA certificate")]
    NotACa(String),
    /// The issue request is unusable.
    #[error("invalid certificate request: {0}")]
    Request(String),
    /// The certificate does not verify against the trusted CAs.
    #[error("certificate does not verify: {0}")]
    Invalid(String),
    /// A serial that is not hex.
    #[error("serial '{0}' is not hex")]
    Serial(String),
    /// A CA file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What is recorded of a certificate (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertificateInfo {
    /// Serial, lower-case hex.
    pub serial: String,
    /// The principal (leaf) or the CA's name.
    pub principal: String,
    /// The role (none for a CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Subject, RFC 2253 order.
    pub subject: String,
    /// Issuer, RFC 2253 order.
    pub issuer: String,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
    /// Whether it is a CA.
    pub is_ca: bool,
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// Who it speaks for.
    pub principal: String,
    /// As what.
    pub role: Role,
    /// Host names it serves (brokers and controllers).
    pub dns_names: Vec<String>,
    /// Addresses it serves.
    pub ip_addresses: Vec<IpAddr>,
    /// How long it is valid from now.
    pub validity: Duration,
}

impl IssueRequest {
    /// A request for `principal` as `role`, valid for `validity`, with no host names.
    pub fn new(principal: impl Into<String>, role: Role, validity: Duration) -> Self {
        Self {
            principal: principal.into(),
            role,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            validity,
        }
    }
}

/// A certificate just issued, with the key that goes with it (shown once).
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate followed by the issuing CAs up to (not including) the root: what a
    /// TLS peer presents.
    pub chain_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// What is recorded of it.
    pub info: CertificateInfo,
}

/// Why a certificate was revoked (RFC 5280's reason codes that apply here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// No reason given.
    Unspecified,
    /// Its key leaked.
    KeyCompromise,
    /// The issuing CA's key leaked.
    CaCompromise,
    /// Its holder's affiliation changed.
    AffiliationChanged,
    /// Replaced by a newer certificate.
    Superseded,
    /// Its holder no longer operates.
    CessationOfOperation,
}

impl std::str::FromStr for RevocationReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "unspecified" => Self::Unspecified,
                "key_compromise" => Self::KeyCompromise,
                "ca_compromise" => Self::CaCompromise,
                "affiliation_changed" => Self::AffiliationChanged,
                "superseded" => Self::Superseded,
                "cessation_of_operation" => Self::CessationOfOperation,
                _ => {
                    return Err(format!(
                        "unknown revocation reason '{s}' (expected unspecified, key_compromise, ca_compromise, affiliation_changed, superseded or cessation_of_operation)"
                    ));
                }
            },
        )
    }
}

impl From<RevocationReason> for rcgen::RevocationReason {
    fn from(r: RevocationReason) -> Self {
        match r {
            RevocationReason::Unspecified => Self::Unspecified,
            RevocationReason::KeyCompromise => Self::KeyCompromise,
            RevocationReason::CaCompromise => Self::CaCompromise,
            RevocationReason::AffiliationChanged => Self::AffiliationChanged,
            RevocationReason::Superseded => Self::Superseded,
            RevocationReason::CessationOfOperation => Self::CessationOfOperation,
        }
    }
}

/// One entry of a revocation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revocation {
    /// Serial, hex.
    pub serial: String,
    /// When, seconds since the Unix epoch.
    pub revoked_at: i64,
    /// Why.
    pub reason: RevocationReason,
}

/// A CA that can sign: its certificate, its chain to the root and its key.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    /// This CA's certificate and the CAs above it except the root, PEM.
    chain_pem: String,
    /// The root's certificate, PEM (this one's for a root).
    root_pem: String,
    cert_pem: String,
    info: CertificateInfo,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("CertificateAuthority")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Clock skew between the CA and the verifiers that a new certificate tolerates.
const BACKDATE: Duration = Duration::from_secs(300);

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 17];
    bytes[0] = 1;
    rand::fill(&mut bytes[1..]);
    SerialNumber::from_slice(&bytes)
}

fn ca_params(common_name: &str, validity: Duration, path_len: Option<u8>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    // Encoded most general first, so RFC 2253 (reversed) reads `CN=...,O=RustMQ`.
    p.distinguished_name
        .push(DnType::OrganizationName, "RustMQ");
    p.distinguished_name.push(DnType::CommonName, common_name);
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.serial_number = Some(random_serial());
    p.not_before = now() - BACKDATE;
    p.not_after = now() + validity;
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

impl CertificateAuthority {
    /// A new self-signed root CA valid for `validity`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use rustmq_security::ca::{CertificateAuthority, IssueRequest};
    /// use rustmq_security::identity::Role;
    /// let root = CertificateAuthority::new_root("RustMQ root", Duration::from_secs(86_400)).unwrap();
    /// let issued = root
    ///     .issue(&IssueRequest::new("orders-app", Role::Client, Duration::from_secs(3_600)))
    ///     .unwrap();
    /// assert_eq!(issued.info.principal, "orders-app");
    /// assert_eq!(issued.info.serial.len(), 34); // 01 + 128 random bits
    /// ```
    pub fn new_root(common_name: &str, validity: Duration) -> Result<Self, CaError> {
        let key = KeyPair::generate()?;
        let params = ca_params(common_name, validity, None);
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        let info = inspect_der(cert.der())?;
        Ok(Self {
            issuer: Issuer::new(params, key),
            chain_pem: cert_pem.clone(),
            root_pem: cert_pem.clone(),
            cert_pem,
            info,
        })
    }

    /// A new intermediate CA signed by this one (it may issue leaves, not further CAs).
    pub fn new_intermediate(&self, common_name: &str, validity: Duration) -> Result<Self, CaError> {
        let key = KeyPair::generate()?;
        let params = ca_params(common_name, validity, Some(0));
        let cert = params.signed_by(&key, &self.issuer)?;
        let cert_pem = cert.pem();
        let info = inspect_der(cert.der())?;
        let chain_pem = if self.is_root() {
            cert_pem.clone()
        } else {
            format!("{cert_pem}{}", self.chain_pem)
        };
        Ok(Self {
            issuer: Issuer::new(params, key),
            chain_pem,
            root_pem: self.root_pem.clone(),
            cert_pem,
            info,
        })
    }

    /// Loads a CA: `chain_pem` is its certificate first, then the CAs above it ending with
    /// the root; `key_pem` its key.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, CaError> {
        let certs = parse_pem_chain(chain_pem)?;
        let first = &certs[0];
        let info = inspect_der(first)?;
        if !info.is_ca {
            return Err(CaError::NotACa(info.subject));
        }
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_der(first, key)?;
        let pem_of = |d: &CertificateDer<'_>| pem_encode("CERTIFICATE", d.as_ref());
        let cert_pem = pem_of(first);
        let root = certs.last().map(pem_of).unwrap_or_default();
        let chain_pem = certs[..certs.len().saturating_sub(1).max(1)]
            .iter()
            .map(pem_of)
            .collect();
        Ok(Self {
            issuer,
            chain_pem,
            root_pem: root,
            cert_pem,
            info,
        })
    }

    /// Loads a CA from its files (see [`CertificateAuthority::from_pem`]).
    pub fn load(chain: &std::path::Path, key: &std::path::Path) -> Result<Self, CaError> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|source| CaError::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        Self::from_pem(&read(chain)?, &read(key)?)
    }

    fn is_root(&self) -> bool {
        self.cert_pem == self.root_pem
    }

    /// This CA's certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The root's certificate, PEM: what verifiers trust.
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// This CA's certificate and the intermediates above it (not the root), PEM.
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// This CA's private key, PEM (for storing it where the caller says; never logged).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// What is recorded of this CA.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// Issues a leaf certificate with a fresh key pair.
    pub fn issue(&self, req: &IssueRequest) -> Result<IssuedCertificate, CaError> {
        let principal = req.principal.trim();
        if principal.is_empty() {
            return Err(CaError::Request("the principal is empty".into()));
        }
        if req.validity.is_zero() {
            return Err(CaError::Request("the validity is zero".into()));
        }
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::OrganizationName, "RustMQ");
        p.distinguished_name
            .push(DnType::OrganizationalUnitName, req.role.as_str());
        p.distinguished_name.push(DnType::CommonName, principal);
        let uri = identity::identity_uri(req.role, principal);
        p.subject_alt_names.push(SanType::URI(
            uri.try_into()
                .map_err(|e: rcgen::Error| CaError::Request(e.to_string()))?,
        ));
        for d in &req.dns_names {
            p.subject_alt_names.push(SanType::DnsName(
                d.clone()
                    .try_into()
                    .map_err(|e: rcgen::Error| CaError::Request(format!("{d}: {e}")))?,
            ));
        }
        for ip in &req.ip_addresses {
            p.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = match req.role {
            Role::Broker | Role::Controller => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Role::Client | Role::Admin => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        p.serial_number = Some(random_serial());
        p.not_before = now() - BACKDATE;
        p.not_after = now() + req.validity;
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.issuer)?;
        let cert_pem = cert.pem();
        let mut info = inspect_der(cert.der())?;
        info.principal = principal.to_string();
        info.role = Some(req.role);
        let chain_pem = if self.is_root() {
            cert_pem.clone()
        } else {
            format!("{cert_pem}{}", self.chain_pem)
        };
        Ok(IssuedCertificate {
            cert_pem,
            chain_pem,
            key_pem: key.serialize_pem(),
            info,
        })
    }

    /// A CRL signed by this CA listing `revoked`, numbered `number` (increase it with every
    /// list), valid until `next_update` from now.
    pub fn revocation_list(
        &self,
        revoked: &[Revocation],
        number: u64,
        next_update: Duration,
    ) -> Result<String, CaError> {
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&hex_decode(&r.serial)?),
                    revocation_time: OffsetDateTime::from_unix_timestamp(r.revoked_at)
                        .map_err(|e| CaError::Request(e.to_string()))?,
                    reason_code: Some(r.reason.into()),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?;
        let params = CertificateRevocationListParams {
            this_update: now() - BACKDATE,
            next_update: now() + next_update,
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }
}

fn hex_decode(s: &str) -> Result<Vec<u8>, CaError> {
    let s = s.trim();
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return Err(CaError::Serial(s.to_string()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| CaError::Serial(s.to_string())))
        .collect()
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The certificates in a PEM text, in order (at least one).
pub fn parse_pem_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(CaError::Pem("no certificate found".into()));
    }
    Ok(certs)
}

/// What is recorded of a DER certificate (the principal and role from its identity URI,
/// when it has one).
pub fn inspect_der(der: &[u8]) -> Result<CertificateInfo, CaError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CaError::Pem(e.to_string()))?;
    let id = identity::Identity::from_certificate(der, &MappingRules::default()).ok();
    let is_ca = cert.is_ca();
    let subject = identity::rfc2253_name(cert.subject());
    Ok(CertificateInfo {
        serial: identity::serial_hex(cert.raw_serial()),
        principal: match (&id, is_ca) {
            (Some(id), false) => id.principal.clone(),
            _ => subject.clone(),
        },
        role: id.filter(|_| !is_ca).map(|i| i.role),
        issuer: identity::rfc2253_name(cert.issuer()),
        subject,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca,
    })
}

/// The DNS names a DER certificate's subject alternative names list, in their order.
pub fn dns_names(der: &[u8]) -> Result<Vec<String>, CaError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CaError::Pem(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CaError::Pem(e.to_string()))?;
    Ok(san
        .map(|s| {
            s.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::prelude::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Checks a PEM certificate (leaf first, then intermediates) against the trusted roots in
/// `trusted_pem` and the revocation lists `crls_pem` at `at` (seconds since the epoch):
/// signature chain, validity, and the key usage its role needs. Returns what it is.
pub fn validate(
    pem: &str,
    trusted_pem: &str,
    crls_pem: &[String],
    at: i64,
) -> Result<CertificateInfo, CaError> {
    let chain = parse_pem_chain(pem)?;
    let roots = parse_pem_chain(trusted_pem)?;
    let anchors = roots
        .iter()
        .map(|c| {
            webpki::anchor_from_trusted_cert(c)
                .map(|a| a.to_owned())
                .map_err(|e| CaError::Invalid(format!("trusted CA: {e:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let crls = crls_pem
        .iter()
        .map(|p| {
            let der = CertificateRevocationListDer::from_pem_slice(p.as_bytes())
                .map_err(|e| CaError::Pem(e.to_string()))?;
            webpki::OwnedCertRevocationList::from_der(der.as_ref())
                .map(webpki::CertRevocationList::Owned)
                .map_err(|e| CaError::Invalid(format!("revocation list: {e:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let crl_refs: Vec<&webpki::CertRevocationList<'_>> = crls.iter().collect();
    let info = inspect_der(&chain[0])?;
    let usage = match info.role {
        Some(Role::Broker | Role::Controller) => webpki::KeyUsage::server_auth(),
        _ => webpki::KeyUsage::client_auth(),
    };
    let leaf = webpki::EndEntityCert::try_from(&chain[0])
        .map_err(|e| CaError::Invalid(format!("{e:?}")))?;
    let revocation = if crl_refs.is_empty() {
        None
    } else {
        Some(
            webpki::RevocationOptionsBuilder::new(&crl_refs)
                .map_err(|e| CaError::Invalid(format!("{e:?}")))?
                .with_depth(webpki::RevocationCheckDepth::EndEntity)
                .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                .build(),
        )
    };
    let time = UnixTime::since_unix_epoch(Duration::from_secs(at.max(0) as u64));
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &chain[1..],
        time,
        usage,
        revocation,
        None,
    )
    .map_err(|e| CaError::Invalid(describe_webpki(&e)))?;
    Ok(info)
}

fn describe_webpki(e: &webpki::Error) -> String {
    match e {
        webpki::Error::CertExpired { .. } => "the certificate has expired".into(),
        webpki::Error::CertNotValidYet { .. } => "the certificate is not valid yet".into(),
        webpki::Error::CertRevoked => "the certificate is revoked".into(),
        webpki::Error::UnknownIssuer => "it is not issued by a trusted CA".into(),
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "its key usage does not allow this role".into()
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests;
