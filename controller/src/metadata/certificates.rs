//! What the cluster knows of the certificates its CA issued: serial, principal, role,
//! validity and status, never a private key. Revocations are kept here so every broker
//! refuses a revoked certificate and closes the sessions using it, and the CRL is built
//! from them.

use imbl::OrdMap;
use rustmq_security::ca::{CertificateInfo, Revocation, RevocationReason};
use serde::{Deserialize, Serialize};

use super::MetadataError;

/// Whether a certificate may still be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CertificateStatus {
    /// Valid until it expires.
    Active,
    /// Revoked; refused from the revocation on.
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When, seconds since the Unix epoch.
        revoked_at: i64,
    },
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertificateRecord {
    /// What it is.
    #[serde(flatten)]
    pub info: CertificateInfo,
    /// Its status.
    pub status: CertificateStatus,
    /// The serial of the certificate it replaced (renewal, rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

impl CertificateRecord {
    /// Whether it is revoked.
    pub fn is_revoked(&self) -> bool {
        matches!(self.status, CertificateStatus::Revoked { .. })
    }
}

/// Every certificate the cluster issued, by serial.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRegistry {
    /// By serial.
    pub records: OrdMap<String, CertificateRecord>,
    /// Grows with every revocation: the CRL's number, and how brokers notice a change.
    pub revocations: u64,
}

impl CertificateRegistry {
    /// Records an issued certificate (idempotent for a retried proposal).
    pub fn record(
        &mut self,
        info: CertificateInfo,
        replaces: Option<String>,
    ) -> Result<CertificateRecord, MetadataError> {
        if info.serial.is_empty() || info.principal.is_empty() {
            return Err(MetadataError::InvalidCertificate(
                "a certificate record needs a serial and a principal".into(),
            ));
        }
        if let Some(existing) = self.records.get(&info.serial) {
            return if existing.info == info {
                Ok(existing.clone())
            } else {
                Err(MetadataError::InvalidCertificate(format!(
                    "serial {} is already recorded for another certificate",
                    info.serial
                )))
            };
        }
        let rec = CertificateRecord {
            info,
            status: CertificateStatus::Active,
            replaces,
        };
        self.records.insert(rec.info.serial.clone(), rec.clone());
        Ok(rec)
    }

    /// Revokes a certificate; revoking a revoked one keeps the first revocation.
    pub fn revoke(
        &mut self,
        serial: &str,
        reason: RevocationReason,
        revoked_at: i64,
    ) -> Result<CertificateRecord, MetadataError> {
        let rec = self
            .records
            .get_mut(serial)
            .ok_or_else(|| MetadataError::UnknownCertificate(serial.to_string()))?;
        if !rec.is_revoked() {
            rec.status = CertificateStatus::Revoked { reason, revoked_at };
            self.revocations += 1;
        }
        Ok(rec.clone())
    }

    /// Forgets every certificate that expired before `expired_before` (seconds since the
    /// epoch), revoked or not: an expired certificate is refused at any handshake anyway, and
    /// RFC 5280 lets a CRL drop it. Returns the records removed.
    pub fn prune(&mut self, expired_before: i64) -> Vec<CertificateRecord> {
        let gone: Vec<CertificateRecord> = self
            .records
            .values()
            .filter(|r| r.info.not_after < expired_before)
            .cloned()
            .collect();
        for r in &gone {
            self.records.remove(&r.info.serial);
        }
        gone
    }

    /// Serials of revoked certificates.
    pub fn revoked_serials(&self) -> impl Iterator<Item = &str> {
        self.records
            .values()
            .filter(|r| r.is_revoked())
            .map(|r| r.info.serial.as_str())
    }

    /// The entries of the CRL: revoked certificates not yet expired (an expired one is
    /// refused anyway, and RFC 5280 lets the list drop it).
    pub fn crl_entries(&self, now: i64) -> Vec<Revocation> {
        self.records
            .values()
            .filter(|r| r.info.not_after >= now)
            .filter_map(|r| match r.status {
                CertificateStatus::Revoked { reason, revoked_at } => Some(Revocation {
                    serial: r.info.serial.clone(),
                    revoked_at,
                    reason,
                }),
                CertificateStatus::Active => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(serial: &str) -> CertificateInfo {
        CertificateInfo {
            serial: serial.into(),
            principal: "alice".into(),
            role: Some(rustmq_security::identity::Role::Client),
            subject: "CN=alice".into(),
            issuer: "CN=root".into(),
            not_before: 0,
            not_after: 1_000,
            is_ca: false,
        }
    }

    #[test]
    fn records_revocations_and_the_crl() {
        let mut r = CertificateRegistry::default();
        r.record(info("01aa"), None).unwrap();
        r.record(info("01bb"), Some("01aa".into())).unwrap();
        // A retried proposal records nothing new; a clashing serial is refused.
        r.record(info("01aa"), None).unwrap();
        let mut other = info("01aa");
        other.principal = "mallory".into();
        assert!(r.record(other, None).is_err());
        assert!(matches!(
            r.revoke("ffff", RevocationReason::KeyCompromise, 5),
            Err(MetadataError::UnknownCertificate(_))
        ));
        let rec = r
            .revoke("01aa", RevocationReason::KeyCompromise, 5)
            .unwrap();
        assert!(rec.is_revoked());
        // A second revocation keeps the first.
        r.revoke("01aa", RevocationReason::Superseded, 9).unwrap();
        assert_eq!(r.revocations, 1);
        assert_eq!(r.revoked_serials().collect::<Vec<_>>(), ["01aa"]);
        let crl = r.crl_entries(500);
        assert_eq!(crl.len(), 1);
        assert_eq!(
            (crl[0].revoked_at, crl[0].reason),
            (5, RevocationReason::KeyCompromise)
        );
        assert!(
            r.crl_entries(2_000).is_empty(),
            "expired entries leave the list"
        );
    }

    #[test]
    fn pruning_forgets_only_certificates_expired_before_the_cut() {
        let mut r = CertificateRegistry::default();
        let mut late = info("02");
        late.not_after = 5_000;
        r.record(info("01"), None).unwrap();
        r.record(late, None).unwrap();
        r.revoke("01", RevocationReason::KeyCompromise, 5).unwrap();
        assert!(r.prune(1_000).is_empty(), "expiring at the cut is kept");
        let gone: Vec<String> = r.prune(1_001).into_iter().map(|c| c.info.serial).collect();
        assert_eq!(gone, ["01"]);
        assert_eq!(r.records.keys().collect::<Vec<_>>(), ["02"]);
        assert_eq!(r.revoked_serials().count(), 0);
    }
}
