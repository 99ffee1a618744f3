//! Who may read and change the cluster through the admin API. With authentication
//! required, every request but the public ones (`/health` for probes, `/metrics` for
//! scrapers, the OpenAPI file, the CA certificate and its CRL for outside verifiers) needs
//! a caller: an `admin` certificate (or a super-user) may do anything, any other principal
//! (from its certificate or a bearer token) what the ACLs grant it for the endpoint, as a
//! Kafka client needs for the same thing. Writes: create (topics), alter or delete on the
//! topic, cluster_admin on the cluster for everything else. Reads: describe on the topic or
//! group named, describe on the cluster for the rest; the topic and group lists hold only
//! what the caller may describe. Refusals are audited.

use axum::extract::{ConnectInfo, Request};
use axum::http::Method;
use axum::middleware::Next;
use rustmq_security::acl::{AclSet, Operation, Request as AclRequest, ResourceType};
use rustmq_security::audit::{AuditEvent, AuditRecord};
use rustmq_security::identity::{Identity, Role};
use rustmq_security::jwt::JwtVerifier;
use rustmq_security::principal::MappingRules;
use rustmq_transport::https::AdminPeer;

use super::*;

/// How the admin API authenticates and authorizes writes.
pub struct AdminAuth {
    /// Turn a certificate's identity into a principal.
    pub rules: MappingRules,
    /// Bearer tokens (`Authorization: Bearer ...`), when accepted.
    pub jwt: Option<Arc<JwtVerifier>>,
    /// Principals allowed every write.
    pub super_users: Vec<String>,
}

/// Who called an admin request, for the handlers that answer with only what the caller
/// may see (the topic and group lists). Absent when authentication is not required.
#[derive(Clone, Debug)]
pub(super) struct Caller {
    principal: String,
    host: Option<std::net::IpAddr>,
    /// An admin certificate or a super-user: everything is visible.
    unrestricted: bool,
}

impl Caller {
    /// Whether the caller may describe the resource under the committed rules.
    pub(super) fn may_describe(
        &self,
        set: &AclSet,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.unrestricted
            || set
                .evaluate(
                    &AclRequest {
                        principal: self.principal.clone(),
                        host: self.host,
                        operation: Operation::Describe,
                        resource_type,
                        resource: name.to_string(),
                    },
                    jiff::Timestamp::now(),
                )
                .0
                .allowed
    }
}

/// Requests anyone may make: probes, scrapers, the API description, and what outside
/// verifiers of the cluster's certificates need.
fn public(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        && matches!(
            path.trim_end_matches('/'),
            "/health" | "/metrics" | "/api/v1/openapi.json" | "/api/v1/ca" | "/api/v1/crl"
        )
}

/// Whether a request only reads: GETs, and the two POSTs that compute an answer from the
/// committed state without changing it.
fn reads(method: &Method, path: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || (*method == Method::POST
            && matches!(
                path.trim_end_matches('/'),
                "/api/v1/acls/test" | "/api/v1/certificates/validate"
            ))
}

/// The operation a request needs, on which resource.
fn permission(method: &Method, path: &str) -> (Operation, ResourceType, String) {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if reads(method, path) {
        return match parts.as_slice() {
            ["", "api", "v1", "topics", name, ..] => (
                Operation::Describe,
                ResourceType::Topic,
                (*name).to_string(),
            ),
            ["", "api", "v1", "groups", id, ..] => {
                (Operation::Describe, ResourceType::Group, (*id).to_string())
            }
            // The lists are filtered by the handlers instead.
            ["", "api", "v1", "topics" | "groups"] => {
                (Operation::Describe, ResourceType::Cluster, String::new())
            }
            _ => (Operation::Describe, ResourceType::Cluster, "cluster".into()),
        };
    }
    match (method, parts.as_slice()) {
        (&Method::POST, ["", "api", "v1", "topics"]) => {
            (Operation::Create, ResourceType::Cluster, "cluster".into())
        }
        (&Method::DELETE, ["", "api", "v1", "topics", name]) => {
            (Operation::Delete, ResourceType::Topic, (*name).to_string())
        }
        (_, ["", "api", "v1", "topics", name, ..]) => {
            (Operation::Alter, ResourceType::Topic, (*name).to_string())
        }
        _ => (
            Operation::ClusterAdmin,
            ResourceType::Cluster,
            "cluster".into(),
        ),
    }
}

/// The caller of a request: its certificate's identity, else its bearer token's.
async fn caller(
    auth: &AdminAuth,
    peer: Option<&AdminPeer>,
    headers: &axum::http::HeaderMap,
) -> Result<(String, Role), String> {
    if let Some(leaf) = peer
        .and_then(|p| p.certificates.as_ref())
        .and_then(|c| c.first())
    {
        let id = Identity::from_certificate(leaf, &auth.rules).map_err(|e| e.to_string())?;
        return Ok((id.principal, id.role));
    }
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match (bearer, &auth.jwt) {
        (Some(token), Some(jwt)) => {
            let t = jwt.verify(token.trim()).await.map_err(|e| e.to_string())?;
            let principal = auth.rules.map(&t.principal).map_err(|e| e.to_string())?;
            Ok((principal, Role::Client))
        }
        (Some(_), None) => Err("this node takes no bearer tokens".into()),
        (None, _) => Err(
            "writes need an admin certificate (HTTPS) or a bearer token (Authorization: Bearer)"
                .into(),
        ),
    }
}

/// The middleware: passes the caller's address on for rate limiting, and decides every
/// request that is not public.
pub(super) async fn authorize(
    State(s): State<AdminState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<AdminPeer>>()
        .map(|c| c.0.clone());
    if let Some(p) = &peer {
        req.extensions_mut().insert(ConnectInfo(p.addr));
    }
    let Some(auth) = s.auth.clone() else {
        return next.run(req).await;
    };
    if public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let remote = peer.as_ref().map(|p| p.addr.to_string());
    let (principal, role) = match caller(&auth, peer.as_ref(), req.headers()).await {
        Ok(c) => c,
        Err(reason) => {
            super::security::record_change(
                &s,
                AuditRecord {
                    remote_addr: remote,
                    reason: Some(format!("admin API: {reason}")),
                    ..AuditRecord::new(AuditEvent::AuthenticationFailure)
                },
            );
            return refuse(&s.controller, StatusCode::UNAUTHORIZED, reason);
        }
    };
    let unrestricted = role == Role::Admin || auth.super_users.contains(&principal);
    req.extensions_mut().insert(Caller {
        principal: principal.clone(),
        host: peer.as_ref().map(|p| p.addr.ip()),
        unrestricted,
    });
    let (operation, resource_type, resource) = permission(req.method(), req.uri().path());
    // A list is answered to anyone authenticated, with what it may describe.
    if unrestricted || resource.is_empty() {
        return next.run(req).await;
    }
    let (d, _) = super::acls::committed(&s.controller).evaluate(
        &AclRequest {
            principal: principal.clone(),
            host: peer.as_ref().map(|p| p.addr.ip()),
            operation,
            resource_type,
            resource: resource.clone(),
        },
        jiff::Timestamp::now(),
    );
    if d.allowed {
        return next.run(req).await;
    }
    let what = rustmq_security::acl::resource_label(resource_type, &resource);
    super::security::record_change(
        &s,
        AuditRecord {
            principal: Some(principal.clone()),
            role: Some(role),
            remote_addr: remote,
            resource: Some(what.clone()),
            operation: Some(operation.as_str().into()),
            decision: Some("deny".into()),
            acl_version: Some(d.acl_version),
            reason: Some(format!("admin API {} {}", req.method(), req.uri().path())),
            ..AuditRecord::new(AuditEvent::Denied)
        },
    );
    refuse(
        &s.controller,
        StatusCode::FORBIDDEN,
        format!(
            "principal '{principal}' is not authorized to {} {what}",
            operation.as_str()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_map_to_the_operation_they_need() {
        let p = |m: Method, path: &str| {
            let (o, t, n) = permission(&m, path);
            (o, t, n)
        };
        assert_eq!(
            p(Method::POST, "/api/v1/topics"),
            (Operation::Create, ResourceType::Cluster, "cluster".into())
        );
        assert_eq!(
            p(Method::DELETE, "/api/v1/topics/orders"),
            (Operation::Delete, ResourceType::Topic, "orders".into())
        );
        assert_eq!(
            p(Method::PATCH, "/api/v1/topics/orders"),
            (Operation::Alter, ResourceType::Topic, "orders".into())
        );
        assert_eq!(
            p(Method::POST, "/api/v1/topics/orders/reassign"),
            (Operation::Alter, ResourceType::Topic, "orders".into())
        );
        assert_eq!(
            p(Method::POST, "/api/v1/acls"),
            (
                Operation::ClusterAdmin,
                ResourceType::Cluster,
                "cluster".into()
            )
        );
    }

    #[test]
    fn reads_map_to_describe_on_what_they_name() {
        let p = |m: Method, path: &str| permission(&m, path);
        assert_eq!(
            p(Method::GET, "/api/v1/topics/orders"),
            (Operation::Describe, ResourceType::Topic, "orders".into())
        );
        assert_eq!(
            p(Method::GET, "/api/v1/groups/billing"),
            (Operation::Describe, ResourceType::Group, "billing".into())
        );
        // Lists are filtered by the handler: no resource to decide here.
        assert_eq!(
            p(Method::GET, "/api/v1/topics"),
            (Operation::Describe, ResourceType::Cluster, String::new())
        );
        for path in [
            "/api/v1/audit",
            "/api/v1/acls",
            "/api/v1/certificates",
            "/api/v1/brokers",
        ] {
            assert_eq!(
                p(Method::GET, path),
                (Operation::Describe, ResourceType::Cluster, "cluster".into()),
                "{path}"
            );
        }
        assert_eq!(
            p(Method::POST, "/api/v1/acls/test"),
            (Operation::Describe, ResourceType::Cluster, "cluster".into())
        );
    }

    #[test]
    fn only_probes_scrapers_and_trust_material_are_public() {
        for path in [
            "/health",
            "/metrics",
            "/api/v1/openapi.json",
            "/api/v1/ca",
            "/api/v1/crl",
        ] {
            assert!(public(&Method::GET, path), "{path}");
        }
        for path in [
            "/api/v1/topics",
            "/api/v1/audit",
            "/api/v1/security",
            "/api/v1/acls",
        ] {
            assert!(!public(&Method::GET, path), "{path}");
        }
        assert!(!public(&Method::POST, "/api/v1/crl"));
    }
}
