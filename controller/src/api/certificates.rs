//! `/api/v1/certificates`, `/api/v1/ca` and `/api/v1/crl`: issuing certificates with the
//! cluster CA (the private key is in the answer once and kept nowhere), listing what was
//! issued, revoking (brokers then refuse the certificate and close its sessions), rotating
//! (a new key pair for the same identity), validating a PEM, and the CA's revocation list
//! for outside verifiers.

use axum::extract::Query;
use rustmq_security::ca::{
    self, CertificateAuthority, CertificateInfo, IssueRequest, IssuedCertificate, RevocationReason,
};
use rustmq_security::identity::Role;

use super::*;
use crate::metadata::CertificateRecord;

/// Body of `POST /api/v1/certificates`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCertificateRequest {
    /// Who it speaks for (goes into the SAN URI `rustmq://<role>/<principal>`).
    pub principal: String,
    /// `broker`, `controller`, `client` or `admin`.
    pub role: Role,
    /// Days it is valid (default 90).
    #[serde(default = "ninety")]
    pub validity_days: u32,
    /// Seconds it is valid, at least 60; when set, instead of `validity_days` (for
    /// certificates renewed by the operator on a schedule shorter than a day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_seconds: Option<u64>,
    /// Host names it serves (brokers and controllers).
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// Addresses it serves.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// The serial of a certificate of this cluster that this one renews: recorded as its
    /// predecessor, which stays valid until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

fn ninety() -> u32 {
    90
}

/// The shortest validity the API issues: shorter would expire before clients load it.
pub const MIN_VALIDITY_SECONDS: u64 = 60;

/// A certificate just issued: the only time its private key is shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedCertificateView {
    /// What the cluster recorded.
    pub certificate: CertificateRecord,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The certificate and the intermediates up to the root, PEM (what a peer presents).
    pub chain_pem: String,
    /// The private key, PKCS#8 PEM. Not kept by the cluster.
    pub private_key_pem: String,
    /// The root CA to trust, PEM.
    pub ca_pem: String,
}

/// Body of `POST /api/v1/certificates/{serial}/revoke`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why (default `unspecified`).
    #[serde(default = "unspecified")]
    pub reason: RevocationReason,
}

fn unspecified() -> RevocationReason {
    RevocationReason::Unspecified
}

/// Body of `POST /api/v1/certificates/{serial}/rotate`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// Days the new certificate is valid (default: as long as the old one was).
    #[serde(default)]
    pub validity_days: Option<u32>,
    /// Host names of the new certificate.
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// Addresses of the new certificate.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// Revoke the old certificate (reason `superseded`) once the new one is recorded.
    /// Off: the old one stays valid until it expires, so clients can switch at leisure.
    #[serde(default)]
    pub revoke_old: bool,
}

/// Query of `GET /api/v1/certificates`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CertificateQuery {
    /// Only this principal's.
    pub principal: Option<String>,
    /// `active` or `revoked`.
    pub status: Option<String>,
    /// Only active ones that expire within this many days (expired ones included).
    pub expiring_within_days: Option<u32>,
}

/// Body of `POST /api/v1/certificates/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// The certificate, then its intermediates, PEM.
    pub pem: String,
}

/// Answer of `POST /api/v1/certificates/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationView {
    /// Whether it verifies against the cluster CA now and is not revoked.
    pub valid: bool,
    /// Why not.
    pub reason: Option<String>,
    /// What it is, when it parses.
    pub certificate: Option<CertificateInfo>,
    /// The cluster's record of it, when the cluster issued it.
    pub record: Option<CertificateRecord>,
}

/// Body of `POST /api/v1/certificates/cleanup`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CleanupRequest {
    /// Forget certificates expired for at least this many days (default 7: clients with a
    /// clock that is behind may still present one for a while).
    #[serde(default = "seven")]
    pub expired_for_days: u32,
    /// Only say what would be forgotten.
    #[serde(default)]
    pub dry_run: bool,
}

fn seven() -> u32 {
    7
}

/// Answer of `POST /api/v1/certificates/cleanup`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CleanupView {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The records forgotten (or that would be).
    pub removed: Vec<CertificateRecord>,
}

/// `GET /api/v1/ca`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaView {
    /// The issuing CA.
    pub issuer: CertificateInfo,
    /// The root to trust, PEM.
    pub root_pem: String,
    /// The issuing CA and its intermediates, PEM.
    pub chain_pem: String,
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn no_ca(c: &Controller) -> Response {
    refuse(
        c,
        StatusCode::CONFLICT,
        "this node has no issuing CA: set [tls] ca_key (controllers) or [security] issuing_ca_key (brokers)",
    )
}

/// The audit record of a certificate change made through the API.
fn certificate_changed(s: &AdminState, r: &CertificateRecord, what: &str) {
    super::security::record_change(
        s,
        rustmq_security::audit::AuditRecord {
            principal: Some(r.info.principal.clone()),
            role: r.info.role,
            certificate_serial: Some(r.info.serial.clone()),
            reason: Some(what.to_string()),
            ..rustmq_security::audit::AuditRecord::new(
                rustmq_security::audit::AuditEvent::CertificateChanged,
            )
        },
    );
}

fn days(d: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(d) * 86_400)
}

/// Issues and records; the key goes back to the caller only.
async fn issue(
    s: &AdminState,
    ca: &CertificateAuthority,
    req: IssueRequest,
    replaces: Option<String>,
) -> Result<(CertificateRecord, IssuedCertificate), Response> {
    let issued = ca
        .issue(&req)
        .map_err(|e| refuse(&s.controller, StatusCode::BAD_REQUEST, e.to_string()))?;
    let record = s
        .controller
        .record_certificate(issued.info.clone(), replaces)
        .await
        .map_err(|e| map_err(&s.controller, e).into_response())?;
    let what = match &record.replaces {
        Some(old) => format!("issued, replacing {old}"),
        None => "issued".to_string(),
    };
    certificate_changed(s, &record, &what);
    Ok((record, issued))
}

fn issued_view(
    ca: &CertificateAuthority,
    record: CertificateRecord,
    i: IssuedCertificate,
) -> IssuedCertificateView {
    IssuedCertificateView {
        certificate: record,
        certificate_pem: i.cert_pem,
        chain_pem: i.chain_pem,
        private_key_pem: i.key_pem,
        ca_pem: ca.root_pem().to_string(),
    }
}

#[utoipa::path(post, path = "/api/v1/certificates", tag = "certificates", request_body = IssueCertificateRequest,
    responses((status = 201, description = "Issued and recorded; the private key is in this answer only", body = Envelope<IssuedCertificateView>),
              (status = 400, description = "An unusable request", body = Envelope<String>),
              (status = 409, description = "This node has no issuing CA", body = Envelope<String>)))]
pub(super) async fn issue_certificate(
    State(s): State<AdminState>,
    body: Result<Json<IssueCertificateRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => {
            return bad_body(
                &s.controller,
                rej,
                r#"{"principal": "orders-app", "role": "client", "validity_days": 90}"#,
            );
        }
    };
    let Some(ca) = s.ca.clone() else {
        return no_ca(&s.controller);
    };
    let validity = match req.validity_seconds {
        Some(secs) if secs < MIN_VALIDITY_SECONDS => {
            return refuse(
                &s.controller,
                StatusCode::BAD_REQUEST,
                format!("validity_seconds must be at least {MIN_VALIDITY_SECONDS}"),
            );
        }
        Some(secs) => std::time::Duration::from_secs(secs),
        None if req.validity_days == 0 => {
            return refuse(
                &s.controller,
                StatusCode::BAD_REQUEST,
                "validity_days must be at least 1",
            );
        }
        None => days(req.validity_days),
    };
    let issue_req = IssueRequest {
        dns_names: req.dns_names,
        ip_addresses: req.ip_addresses,
        ..IssueRequest::new(req.principal, req.role, validity)
    };
    let replaces = req.replaces.map(|r| r.to_ascii_lowercase());
    if let Some(old) = &replaces
        && !s
            .controller
            .metadata()
            .certificates
            .records
            .contains_key(old)
    {
        return refuse(
            &s.controller,
            StatusCode::BAD_REQUEST,
            format!("replaces: certificate {old} was not issued by this cluster"),
        );
    }
    match issue(&s, &ca, issue_req, replaces).await {
        Ok((record, issued)) => ok(
            &s.controller,
            StatusCode::CREATED,
            issued_view(&ca, record, issued),
        ),
        Err(r) => r,
    }
}

#[utoipa::path(post, path = "/api/v1/certificates/cleanup", tag = "certificates", request_body = CleanupRequest,
    responses((status = 200, description = "The records of certificates expired long enough ago, forgotten in one Raft command (or listed, with dry_run)", body = Envelope<CleanupView>)))]
pub(super) async fn cleanup_certificates(
    State(s): State<AdminState>,
    body: Result<Json<CleanupRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => {
            return bad_body(
                &s.controller,
                rej,
                r#"{"expired_for_days": 7, "dry_run": true}"#,
            );
        }
    };
    let expired_before = now_s() - i64::from(req.expired_for_days) * 86_400;
    let removed = if req.dry_run {
        s.controller
            .metadata()
            .certificates
            .records
            .values()
            .filter(|r| r.info.not_after < expired_before)
            .cloned()
            .collect()
    } else {
        match s.controller.prune_certificates(expired_before).await {
            Ok(r) => r,
            Err(e) => return map_err(&s.controller, e).into_response(),
        }
    };
    if !req.dry_run {
        for r in &removed {
            certificate_changed(&s, r, "forgotten (expired)");
        }
    }
    ok(
        &s.controller,
        StatusCode::OK,
        CleanupView {
            dry_run: req.dry_run,
            removed,
        },
    )
}

#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates", params(CertificateQuery),
    responses((status = 200, description = "Recorded certificates, soonest to expire first", body = Envelope<Vec<CertificateRecord>>)))]
pub(super) async fn list_certificates(
    State(s): State<AdminState>,
    query: Result<Query<CertificateQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(e) => return refuse(&s.controller, StatusCode::BAD_REQUEST, e.body_text()),
    };
    let revoked = match q.status.as_deref() {
        None => None,
        Some("active") => Some(false),
        Some("revoked") => Some(true),
        Some(other) => {
            return refuse(
                &s.controller,
                StatusCode::BAD_REQUEST,
                format!("status '{other}': expected active or revoked"),
            );
        }
    };
    let horizon = q
        .expiring_within_days
        .map(|d| now_s() + i64::from(d) * 86_400);
    let md = s.controller.metadata();
    let mut out: Vec<CertificateRecord> = md
        .certificates
        .records
        .values()
        .filter(|r| q.principal.as_ref().is_none_or(|p| *p == r.info.principal))
        .filter(|r| revoked.is_none_or(|want| r.is_revoked() == want))
        .filter(|r| horizon.is_none_or(|h| !r.is_revoked() && r.info.not_after <= h))
        .cloned()
        .collect();
    out.sort_by_key(|r| (r.info.not_after, r.info.serial.clone()));
    ok(&s.controller, StatusCode::OK, out)
}

#[utoipa::path(get, path = "/api/v1/certificates/{serial}", tag = "certificates",
    params(("serial" = String, Path, description = "Serial, hex")),
    responses((status = 200, description = "The record", body = Envelope<CertificateRecord>),
              (status = 404, description = "Not issued by this cluster", body = Envelope<String>)))]
pub(super) async fn describe_certificate(
    State(s): State<AdminState>,
    Path(serial): Path<String>,
) -> Response {
    match s
        .controller
        .metadata()
        .certificates
        .records
        .get(&serial.to_ascii_lowercase())
    {
        Some(r) => ok(&s.controller, StatusCode::OK, r.clone()),
        None => refuse(
            &s.controller,
            StatusCode::NOT_FOUND,
            format!("certificate {serial} not found"),
        ),
    }
}

#[utoipa::path(post, path = "/api/v1/certificates/{serial}/revoke", tag = "certificates",
    params(("serial" = String, Path, description = "Serial, hex")), request_body = RevokeRequest,
    responses((status = 200, description = "Revoked: brokers refuse it and close its sessions", body = Envelope<CertificateRecord>),
              (status = 404, description = "Not issued by this cluster", body = Envelope<String>)))]
pub(super) async fn revoke_certificate(
    State(s): State<AdminState>,
    Path(serial): Path<String>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_body(&s.controller, rej, r#"{"reason": "key_compromise"}"#),
    };
    match s
        .controller
        .revoke_certificate(&serial.to_ascii_lowercase(), req.reason)
        .await
    {
        Ok(r) => {
            certificate_changed(&s, &r, &format!("revoked ({:?})", req.reason));
            ok(&s.controller, StatusCode::OK, r)
        }
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(post, path = "/api/v1/certificates/{serial}/rotate", tag = "certificates",
    params(("serial" = String, Path, description = "Serial, hex")), request_body = RotateRequest,
    responses((status = 201, description = "A new certificate (new key pair) for the same principal and role", body = Envelope<IssuedCertificateView>),
              (status = 404, description = "Not issued by this cluster", body = Envelope<String>),
              (status = 409, description = "This node has no issuing CA, or the old certificate is revoked", body = Envelope<String>)))]
pub(super) async fn rotate_certificate(
    State(s): State<AdminState>,
    Path(serial): Path<String>,
    body: Result<Json<RotateRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_body(&s.controller, rej, r#"{"revoke_old": true}"#),
    };
    let Some(ca) = s.ca.clone() else {
        return no_ca(&s.controller);
    };
    let serial = serial.to_ascii_lowercase();
    let Some(old) = s
        .controller
        .metadata()
        .certificates
        .records
        .get(&serial)
        .cloned()
    else {
        return refuse(
            &s.controller,
            StatusCode::NOT_FOUND,
            format!("certificate {serial} not found"),
        );
    };
    if old.is_revoked() {
        return refuse(
            &s.controller,
            StatusCode::CONFLICT,
            format!("certificate {serial} is revoked: issue a new one instead"),
        );
    }
    let Some(role) = old.info.role else {
        return refuse(
            &s.controller,
            StatusCode::CONFLICT,
            "a CA certificate is not rotated here",
        );
    };
    let validity = match req.validity_days {
        Some(0) => {
            return refuse(
                &s.controller,
                StatusCode::BAD_REQUEST,
                "validity_days must be at least 1",
            );
        }
        Some(d) => days(d),
        None => std::time::Duration::from_secs(
            (old.info.not_after - old.info.not_before).max(86_400) as u64,
        ),
    };
    let issue_req = IssueRequest {
        dns_names: req.dns_names,
        ip_addresses: req.ip_addresses,
        ..IssueRequest::new(old.info.principal.clone(), role, validity)
    };
    let (record, issued) = match issue(&s, &ca, issue_req, Some(serial.clone())).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if req.revoke_old {
        match s
            .controller
            .revoke_certificate(&serial, RevocationReason::Superseded)
            .await
        {
            Ok(r) => certificate_changed(&s, &r, "revoked (superseded by rotation)"),
            Err(e) => return map_err(&s.controller, e).into_response(),
        }
    }
    ok(
        &s.controller,
        StatusCode::CREATED,
        issued_view(&ca, record, issued),
    )
}

#[utoipa::path(post, path = "/api/v1/certificates/validate", tag = "certificates", request_body = ValidateRequest,
    responses((status = 200, description = "Whether the certificate verifies against the cluster CA now and is not revoked", body = Envelope<ValidationView>),
              (status = 409, description = "This node has no CA to validate against", body = Envelope<String>)))]
pub(super) async fn validate_certificate(
    State(s): State<AdminState>,
    body: Result<Json<ValidateRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => {
            return bad_body(
                &s.controller,
                rej,
                r#"{"pem": "-----BEGIN CERTIFICATE-----..."}"#,
            );
        }
    };
    let Some(ca_) = s.ca.clone() else {
        return no_ca(&s.controller);
    };
    let md = s.controller.metadata();
    let certificate = ca::parse_pem_chain(&req.pem)
        .ok()
        .and_then(|c| ca::inspect_der(&c[0]).ok());
    let record = certificate
        .as_ref()
        .and_then(|c| md.certificates.records.get(&c.serial).cloned());
    let verdict = ca::validate(&req.pem, ca_.root_pem(), &[], now_s());
    let (valid, reason) = match (&verdict, &record) {
        (Err(e), _) => (false, Some(e.to_string())),
        (Ok(_), Some(r)) if r.is_revoked() => (false, Some("the certificate is revoked".into())),
        (Ok(_), _) => (true, None),
    };
    ok(
        &s.controller,
        StatusCode::OK,
        ValidationView {
            valid,
            reason,
            certificate,
            record,
        },
    )
}

#[utoipa::path(get, path = "/api/v1/ca", tag = "certificates",
    responses((status = 200, description = "The issuing CA and the root to trust", body = Envelope<CaView>),
              (status = 409, description = "This node has no issuing CA", body = Envelope<String>)))]
pub(super) async fn ca(State(s): State<AdminState>) -> Response {
    match &s.ca {
        Some(ca) => ok(
            &s.controller,
            StatusCode::OK,
            CaView {
                issuer: ca.info().clone(),
                root_pem: ca.root_pem().to_string(),
                chain_pem: ca.chain_pem().to_string(),
            },
        ),
        None => no_ca(&s.controller),
    }
}

#[utoipa::path(get, path = "/api/v1/crl", tag = "certificates",
    responses((status = 200, description = "The issuing CA's revocation list, PEM, valid for 7 days; its number grows with every revocation", content_type = "application/x-pem-file", body = String),
              (status = 409, description = "This node has no issuing CA", body = Envelope<String>)))]
pub(super) async fn crl(State(s): State<AdminState>) -> Response {
    let Some(ca) = s.ca.clone() else {
        return no_ca(&s.controller);
    };
    let md = s.controller.metadata();
    let entries = md.certificates.crl_entries(now_s());
    match ca.revocation_list(
        &entries,
        md.certificates.revocations,
        std::time::Duration::from_secs(7 * 86_400),
    ) {
        Ok(pem) => (
            [(axum::http::header::CONTENT_TYPE, "application/x-pem-file")],
            pem,
        )
            .into_response(),
        Err(e) => refuse(
            &s.controller,
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        ),
    }
}
