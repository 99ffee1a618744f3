//! Who a certificate speaks for: its role and principal.
//!
//! RustMQ certificates carry both in one SAN URI, `rustmq://<role>/<principal>` (the
//! principal percent-encoded), so the subject's CN is free to be a display name. A
//! certificate from another CA without such a URI is a `client`, and its subject (in
//! RFC 2253 order: `CN=alice,OU=apps,O=example`) is what the mapping rules see.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

use crate::principal::{MappingRules, RuleError};

/// The URI scheme of identity SANs.
pub const IDENTITY_SCHEME: &str = "rustmq";

/// What a certificate's holder is to the cluster.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A broker: serves clients, talks internal RPC to controllers and other brokers.
    Broker,
    /// A controller: a Raft voter holding the metadata.
    Controller,
    /// An application producing or consuming.
    Client,
    /// An operator of the cluster (admin API writes).
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Self::Broker, Self::Controller, Self::Client, Self::Admin];

    /// The lower-case name used in URIs, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broker => "broker",
            Self::Controller => "controller",
            Self::Client => "client",
            Self::Admin => "admin",
        }
    }

    /// Whether the role belongs to the cluster itself (may speak internal RPC).
    pub fn is_cluster_member(self) -> bool {
        matches!(self, Self::Broker | Self::Controller)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self, IdentityError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| IdentityError::UnknownRole(s.to_string()))
    }
}

/// Why a certificate gives no identity.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    /// Not a DER X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    NotACertificate(String),
    /// A role name that is none of broker, controller, client, admin.
    #[error("unknown role '{0}' (expected broker, controller, client or admin)")]
    UnknownRole(String),
    /// A `rustmq://` URI that is not `rustmq://<role>/<principal>`.
    #[error("malformed identity URI '{0}'")]
    MalformedUri(String),
    /// More than one identity URI: which one counts would be a guess.
    #[error("the certificate carries {0} identity URIs; exactly one is allowed")]
    Ambiguous(usize),
    /// The mapping rules gave no principal.
    #[error(transparent)]
    Mapping(#[from] RuleError),
    /// The mapped principal is empty.
    #[error("the certificate maps to an empty principal")]
    EmptyPrincipal,
}

/// Characters kept as they are in the URI's principal; everything else is encoded.
const PRINCIPAL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'@');

/// The SAN URI naming `principal` in `role`.
///
/// ```
/// use rustmq_security::identity::{Role, identity_uri, parse_identity_uri};
/// let uri = identity_uri(Role::Client, "orders app");
/// assert_eq!(uri, "rustmq://client/orders%20app");
/// assert_eq!(parse_identity_uri(&uri).unwrap(), Some((Role::Client, "orders app".into())));
/// ```
pub fn identity_uri(role: Role, principal: &str) -> String {
    format!(
        "{IDENTITY_SCHEME}://{}/{}",
        role.as_str(),
        utf8_percent_encode(principal, PRINCIPAL)
    )
}

/// The role and principal of an identity URI; `None` for a URI of another scheme.
pub fn parse_identity_uri(uri: &str) -> Result<Option<(Role, String)>, IdentityError> {
    let Some(rest) = uri.strip_prefix("rustmq://") else {
        return Ok(None);
    };
    let malformed = || IdentityError::MalformedUri(uri.to_string());
    let (role, principal) = rest.split_once('/').ok_or_else(malformed)?;
    let role: Role = role.parse()?;
    let principal = percent_decode_str(principal)
        .decode_utf8()
        .map_err(|_| malformed())?
        .into_owned();
    if principal.is_empty() {
        return Err(malformed());
    }
    Ok(Some((role, principal)))
}

/// What the cluster knows of a peer from its certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The principal ACLs name (after the mapping rules).
    pub principal: String,
    /// The role.
    pub role: Role,
    /// The certificate's serial, lower-case hex without separators.
    pub serial: String,
    /// The subject, RFC 2253 order (for display and audit).
    pub subject: String,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
}

impl Identity {
    /// The identity of the leaf certificate `der` (already verified by TLS), its principal
    /// given by `rules` from the URI's principal or, without a URI, from the subject.
    pub fn from_certificate(der: &[u8], rules: &MappingRules) -> Result<Self, IdentityError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| IdentityError::NotACertificate(e.to_string()))?;
        let subject = rfc2253_name(cert.subject());
        let (role, raw) =
            uri_identity_of(&cert)?.unwrap_or_else(|| (Role::Client, subject.clone()));
        let principal = rules.map(&raw)?;
        if principal.is_empty() {
            return Err(IdentityError::EmptyPrincipal);
        }
        Ok(Self {
            principal,
            role,
            serial: serial_hex(cert.raw_serial()),
            subject,
            not_after: cert.validity().not_after.timestamp(),
        })
    }
}

/// The role and principal a certificate's identity URI declares, if it has one.
///
/// ```
/// use rustmq_security::identity::declared_identity;
/// assert!(declared_identity(b"not der").is_err());
/// ```
pub fn declared_identity(der: &[u8]) -> Result<Option<(Role, String)>, IdentityError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| IdentityError::NotACertificate(e.to_string()))?;
    uri_identity_of(&cert)
}

fn uri_identity_of(cert: &X509Certificate<'_>) -> Result<Option<(Role, String)>, IdentityError> {
    let mut found = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::URI(uri) = name
                && let Some(id) = parse_identity_uri(uri)?
            {
                found.push(id);
            }
        }
    }
    if found.len() > 1 {
        return Err(IdentityError::Ambiguous(found.len()));
    }
    Ok(found.pop())
}

/// A serial number as the cluster writes it: lower-case hex, leading zero bytes dropped.
pub fn serial_hex(raw: &[u8]) -> String {
    let trimmed = match raw.iter().position(|b| *b != 0) {
        Some(i) => &raw[i..],
        None => &raw[raw.len().saturating_sub(1)..],
    };
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

/// A name as RFC 2253 writes it: most specific first, `,` between attributes.
pub(crate) fn rfc2253_name(name: &X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let mut parts = Vec::new();
    for rdn in name.iter_rdn() {
        for attr in rdn.iter() {
            let oid = attr.attr_type();
            let name = match oid.to_id_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.6" => "C".to_string(),
                other => registry
                    .get(oid)
                    .map(|e| e.sn().to_string())
                    .unwrap_or_else(|| other.to_string()),
            };
            let value = attr.as_str().unwrap_or("");
            parts.push(format!("{name}={}", escape_dn(value)));
        }
    }
    parts.reverse();
    parts.join(",")
}

/// RFC 2253 escaping of the characters that separate attributes.
fn escape_dn(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && matches!(c, '#' | ' '))
        {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_uris_round_trip_and_refuse_nonsense() {
        for p in ["alice", "orders@apps", "User:bob", "a/b", "ünïcode"] {
            for r in Role::ALL {
                let uri = identity_uri(r, p);
                assert_eq!(parse_identity_uri(&uri).unwrap(), Some((r, p.to_string())));
            }
        }
        assert_eq!(parse_identity_uri("spiffe://x/y").unwrap(), None);
        assert!(matches!(
            parse_identity_uri("rustmq://client"),
            Err(IdentityError::MalformedUri(_))
        ));
        assert!(matches!(
            parse_identity_uri("rustmq://root/alice"),
            Err(IdentityError::UnknownRole(_))
        ));
        assert!(parse_identity_uri("rustmq://client/").is_err());
        assert!(parse_identity_uri("rustmq://client/%ff").is_err());
    }

    #[test]
    fn serials_are_hex_without_leading_zeroes() {
        assert_eq!(serial_hex(&[0, 0x0a, 0xbc]), "0abc");
        assert_eq!(serial_hex(&[0]), "00");
        assert_eq!(serial_hex(&[]), "");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        let e = Identity::from_certificate(b"not der", &MappingRules::default()).unwrap_err();
        assert!(matches!(e, IdentityError::NotACertificate(_)));
    }
}
