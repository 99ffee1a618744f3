//! `[security]`: client authentication (mutual TLS) and authorization (ACLs) on the client
//! listener. Off by default and in `--dev` unless turned on.

use std::path::PathBuf;

use rustmq_security::audit::AuditConfig;
use rustmq_security::principal::MappingRules;
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[security]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySection {
    /// Every client must present a certificate of `client_ca_cert`, and every request is
    /// checked against the ACLs.
    pub enabled: bool,
    /// PEM of the CAs whose client certificates are accepted. Unset: the CA of the
    /// development certificates (dev mode) or `controller.ca_cert`.
    pub client_ca_cert: Option<PathBuf>,
    /// Kafka-style rules turning a certificate's identity into a principal
    /// (`RULE:regex/replacement/[L|U]`, ..., `DEFAULT`).
    pub principal_mapping_rules: Vec<String>,
    /// Principals allowed everything, without ACLs.
    pub super_users: Vec<String>,
    /// Allow a request when no ACL at all names its resource (Kafka's
    /// `allow.everyone.if.no.acl.found`). Off: no ACL means deny.
    pub allow_if_no_acl: bool,
    /// Decisions kept in the authorizer's cache.
    pub acl_cache_capacity: u64,
    /// The CA (chain PEM, the issuing CA first) with which this node's admin API issues
    /// certificates and signs the CRL. Unset: the development CA when there is one.
    pub issuing_ca_cert: Option<PathBuf>,
    /// Its key.
    pub issuing_ca_key: Option<PathBuf>,
    /// How often the listener's certificate, key and client CAs are checked for changes
    /// (a changed set is used for new connections: rotation without a restart).
    pub certificate_reload_interval_ms: u64,
    /// `[security.jwt]`: bearer tokens for clients without a certificate.
    pub jwt: rustmq_security::jwt::JwtConfig,
    /// `[security.audit]`: where denials and authentication failures are written. Unset
    /// path: `<data_dir>/audit/audit.log`.
    pub audit: AuditConfig,
}

impl Default for SecuritySection {
    fn default() -> Self {
        Self {
            enabled: false,
            client_ca_cert: None,
            principal_mapping_rules: vec!["DEFAULT".into()],
            super_users: Vec::new(),
            allow_if_no_acl: false,
            acl_cache_capacity: 100_000,
            issuing_ca_cert: None,
            issuing_ca_key: None,
            certificate_reload_interval_ms: 2_000,
            jwt: Default::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl SecuritySection {
    /// The mapping rules, parsed.
    pub fn mapping_rules(&self) -> Result<MappingRules, ConfigError> {
        MappingRules::parse(&self.principal_mapping_rules).map_err(|e| ConfigError::Value {
            key: "security.principal_mapping_rules".into(),
            reason: e.to_string(),
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.mapping_rules()?;
        let v = |key: &str, reason: &str| {
            Err(ConfigError::Value {
                key: key.into(),
                reason: reason.into(),
            })
        };
        if self.jwt.enabled {
            if !self.enabled {
                return v("security.jwt.enabled", "needs security.enabled");
            }
            // Refuse to start without issuer, audience, algorithms and keys.
            if let Err(e) = rustmq_security::jwt::validate_config(&self.jwt) {
                return v("security.jwt", &e.to_string());
            }
        }
        if self.certificate_reload_interval_ms == 0 {
            return v(
                "security.certificate_reload_interval_ms",
                "must be at least 1",
            );
        }
        if self.acl_cache_capacity == 0 {
            return v("security.acl_cache_capacity", "must be at least 1");
        }
        if self.audit.max_file_bytes < 4096 {
            return v("security.audit.max_file_bytes", "must be at least 4096");
        }
        if self.issuing_ca_cert.is_some() != self.issuing_ca_key.is_some() {
            return v(
                "security.issuing_ca_key",
                "issuing_ca_cert and issuing_ca_key go together",
            );
        }
        if self.super_users.iter().any(|u| u.trim().is_empty()) {
            return v("security.super_users", "an entry is empty");
        }
        Ok(())
    }
}
