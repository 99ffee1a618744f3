//! `/api/v1/audit` and `/api/v1/security`: the node's audit records, and where the
//! cluster's security stands (ACL version and size, certificates, the node's counters).

use axum::extract::Query;
use rustmq_security::audit::{AuditEvent, AuditRecord};

use super::*;

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this event: authentication_failure, denied, session_closed,
    /// certificate_changed, acl_changed, etl_module_changed.
    pub event: Option<AuditEvent>,
    /// Only this principal's.
    pub principal: Option<String>,
    /// The newest this many (default 100).
    pub limit: Option<usize>,
}

/// A node's client-listener security counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListenerSecurity {
    /// Whether clients are authenticated and requests authorized.
    pub enabled: bool,
    /// Whether bearer tokens are accepted.
    pub tokens: bool,
    /// The ACL version in force on this node.
    pub acl_version: u64,
    /// Requests refused since start.
    pub denials: u64,
    /// Handshakes, tokens and connections refused since start.
    pub authentication_failures: u64,
    /// Times the listener's certificates were reloaded.
    pub certificate_reloads: u64,
}

/// `GET /api/v1/security`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecurityStatusView {
    /// The committed ACL version.
    pub acl_version: u64,
    /// Rules in the committed ACLs.
    pub acl_rules: usize,
    /// Certificates the cluster CA issued.
    pub certificates: usize,
    /// Of which revoked.
    pub certificates_revoked: usize,
    /// Of which active and expiring within 30 days.
    pub certificates_expiring_30d: usize,
    /// The issuing CA on this node, if any.
    pub issuing_ca: Option<String>,
    /// The client listener of this node (brokers).
    pub listener: Option<ListenerSecurity>,
    /// Audit records this node wrote since start.
    pub audit_records: u64,
    /// Audit records that could not be written to the file.
    pub audit_write_failures: u64,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "security", params(AuditQuery),
    responses((status = 200, description = "This node's newest audit records (oldest first)", body = Envelope<Vec<AuditRecord>>),
              (status = 409, description = "This node keeps no audit log", body = Envelope<String>)))]
pub(super) async fn audit(
    State(s): State<AdminState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return refuse(&s.controller, StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Some(sec) = &s.security else {
        return refuse(
            &s.controller,
            StatusCode::CONFLICT,
            "this node keeps no audit log",
        );
    };
    let limit = q.limit.unwrap_or(100);
    let mut records: Vec<AuditRecord> = sec
        .audit()
        .recent(usize::MAX)
        .into_iter()
        .filter(|r| q.event.is_none_or(|e| r.event == Some(e)))
        .filter(|r| {
            q.principal
                .as_ref()
                .is_none_or(|p| r.principal.as_ref() == Some(p))
        })
        .collect();
    let skip = records.len().saturating_sub(limit);
    records.drain(..skip);
    ok(&s.controller, StatusCode::OK, records)
}

#[utoipa::path(get, path = "/api/v1/security", tag = "security",
    responses((status = 200, description = "ACLs, certificates, this node's listener and audit counters", body = Envelope<SecurityStatusView>)))]
pub(super) async fn security_status(State(s): State<AdminState>) -> Response {
    let md = s.controller.metadata();
    let now = jiff::Timestamp::now().as_second();
    let certs = &md.certificates.records;
    let view = SecurityStatusView {
        acl_version: md.acls.version,
        acl_rules: md.acls.rules.len(),
        certificates: certs.len(),
        certificates_revoked: certs.values().filter(|r| r.is_revoked()).count(),
        certificates_expiring_30d: certs
            .values()
            .filter(|r| !r.is_revoked() && r.info.not_after <= now + 30 * 86_400)
            .count(),
        issuing_ca: s.ca.as_ref().map(|c| c.info().subject.clone()),
        listener: s.security.as_ref().and_then(|x| x.status()),
        audit_records: s.security.as_ref().map_or(0, |x| x.audit().records()),
        audit_write_failures: s
            .security
            .as_ref()
            .map_or(0, |x| x.audit().write_failures()),
    };
    ok(&s.controller, StatusCode::OK, view)
}

/// Writes an audit record of a change made through the API, when the node keeps a log.
pub(super) fn record_change(s: &AdminState, record: AuditRecord) {
    if let Some(sec) = &s.security {
        sec.audit().record(record);
    }
}
