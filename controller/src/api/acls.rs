//! `/api/v1/acls`: list, create, delete and replace ACL rules (each change one Raft
//! command, so one version), and test requests against the rules in force.

use axum::extract::Query;
use rustmq_security::acl::{
    AclRule, AclSet, Decision, Effect, Operation, Reason, Request, ResourcePattern, ResourceType,
};

use super::*;
use crate::metadata::{AclChange, AclChangeResult, AclFilter};

/// `GET /api/v1/acls`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AclListView {
    /// The version of the rules in force.
    pub version: u64,
    /// The rules (filtered as asked), in the order they were added.
    pub rules: Vec<AclRule>,
}

/// Query of `GET` and `DELETE /api/v1/acls`: an unset field matches every rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AclQuery {
    /// Exactly this principal.
    pub principal: Option<String>,
    /// Exactly this pattern, in the seed's form: `topic.orders`, `topic.events.*`, `cluster`.
    pub resource: Option<String>,
    /// Every rule about this kind of resource (`topic`, `group`, `cluster`).
    pub resource_type: Option<String>,
    /// Rules that list this operation.
    pub operation: Option<String>,
    /// Rules with this effect (`allow`, `deny`).
    pub effect: Option<String>,
    /// Rules managed by this source (`kubernetes:<namespace>:<name>` for an `AclRule`
    /// resource).
    pub source: Option<String>,
}

impl AclQuery {
    fn filter(&self) -> Result<AclFilter, String> {
        Ok(AclFilter {
            principal: self.principal.clone(),
            resource: parse_opt::<ResourcePattern>(&self.resource)?,
            resource_type: parse_opt::<ResourceType>(&self.resource_type)?,
            operation: parse_opt::<Operation>(&self.operation)?,
            effect: parse_opt::<Effect>(&self.effect)?,
            source: self.source.clone(),
        })
    }
}

/// Body of `POST /api/v1/acls` and `PUT /api/v1/acls/principals/{principal}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclRulesRequest {
    /// The rules.
    pub rules: Vec<AclRule>,
}

/// One request to decide in `POST /api/v1/acls/test`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclTestRequest {
    /// Who asks.
    pub principal: String,
    /// Kind of resource.
    pub resource_type: ResourceType,
    /// Its name (`cluster` for the cluster).
    pub resource: String,
    /// What it asks to do.
    pub operation: Operation,
    /// From where (host conditions apply only when given).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub host: Option<std::net::IpAddr>,
}

/// Body of `POST /api/v1/acls/test`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclTestBatch {
    /// The requests.
    pub requests: Vec<AclTestRequest>,
}

/// One decision of `POST /api/v1/acls/test`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AclTestResult {
    /// The request.
    pub request: AclTestRequest,
    /// The decision (super-users are the brokers' setting and are not known here).
    pub decision: Decision,
    /// The rule that decided, when one did.
    pub rule: Option<AclRule>,
}

/// The audit record of an ACL change made through the API.
fn acl_changed(s: &AdminState, what: String, r: &AclChangeResult) {
    super::security::record_change(
        s,
        rustmq_security::audit::AuditRecord {
            acl_version: Some(r.version),
            reason: Some(format!("{what}: {} removed, {} added", r.removed, r.added)),
            ..rustmq_security::audit::AuditRecord::new(
                rustmq_security::audit::AuditEvent::AclChanged,
            )
        },
    );
}

/// The committed rules as a set to evaluate (no super-users: they are the brokers' setting;
/// nothing allowed without a rule).
pub(super) fn committed(c: &Controller) -> AclSet {
    let md = c.metadata();
    AclSet::new(
        md.acls.version,
        md.acls.rules.iter().cloned().collect(),
        std::iter::empty(),
        false,
    )
}

/// An optional query value parsed as `T`, its parse error as text.
fn parse_opt<T: std::str::FromStr>(v: &Option<String>) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    v.as_deref()
        .map(str::parse::<T>)
        .transpose()
        .map_err(|e| e.to_string())
}

#[utoipa::path(get, path = "/api/v1/acls", tag = "acls", params(AclQuery),
    responses((status = 200, description = "The rules in force, filtered", body = Envelope<AclListView>),
              (status = 400, description = "A filter that does not parse", body = Envelope<String>)))]
pub(super) async fn list_acls(
    State(s): State<AdminState>,
    query: Result<Query<AclQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let filter = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| q.filter())
    {
        Ok(f) => f,
        Err(e) => return refuse(&s.controller, StatusCode::BAD_REQUEST, e),
    };
    let md = s.controller.metadata();
    let rules = md
        .acls
        .rules
        .iter()
        .filter(|r| filter.matches(r))
        .cloned()
        .collect();
    ok(
        &s.controller,
        StatusCode::OK,
        AclListView {
            version: md.acls.version,
            rules,
        },
    )
}

#[utoipa::path(post, path = "/api/v1/acls", tag = "acls", request_body = AclRulesRequest,
    responses((status = 201, description = "Added (rules already present are not added twice)", body = Envelope<AclChangeResult>),
              (status = 400, description = "An invalid rule; nothing changed", body = Envelope<String>)))]
pub(super) async fn create_acls(
    State(s): State<AdminState>,
    body: Result<Json<AclRulesRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_body(&s.controller, rej, RULES_EXAMPLE),
    };
    let what = format!(
        "rules added for {}",
        req.rules
            .iter()
            .map(|r| r.principal.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let change = AclChange {
        remove: vec![],
        add: req.rules,
        warm_principals: None,
    };
    match s.controller.change_acls(change).await {
        Ok(r) => {
            acl_changed(&s, what, &r);
            ok(&s.controller, StatusCode::CREATED, r)
        }
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

const RULES_EXAMPLE: &str = r#"{"rules": [{"principal": "orders-app", "resource": {"resource_type": "topic", "pattern_type": "prefixed", "name": "orders."}, "operations": ["write"], "effect": "allow"}]}"#;

#[utoipa::path(delete, path = "/api/v1/acls", tag = "acls", params(AclQuery),
    responses((status = 200, description = "Removed every rule the filter matches", body = Envelope<AclChangeResult>),
              (status = 400, description = "No filter (removing every rule is refused) or one that does not parse", body = Envelope<String>)))]
pub(super) async fn delete_acls(
    State(s): State<AdminState>,
    query: Result<Query<AclQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let filter = match query
        .map_err(|e| e.body_text())
        .and_then(|Query(q)| q.filter())
    {
        Ok(f) => f,
        Err(e) => return refuse(&s.controller, StatusCode::BAD_REQUEST, e),
    };
    let what = format!("rules deleted matching {filter:?}");
    let change = AclChange {
        remove: vec![filter],
        add: vec![],
        warm_principals: None,
    };
    match s.controller.change_acls(change).await {
        Ok(r) => {
            acl_changed(&s, what, &r);
            ok(&s.controller, StatusCode::OK, r)
        }
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(put, path = "/api/v1/acls/principals/{principal}", tag = "acls",
    params(("principal" = String, Path, description = "The principal whose rules are replaced")),
    request_body = AclRulesRequest,
    responses((status = 200, description = "The principal's rules replaced in one version", body = Envelope<AclChangeResult>),
              (status = 400, description = "A rule for another principal, or an invalid rule; nothing changed", body = Envelope<String>)))]
pub(super) async fn replace_principal_acls(
    State(s): State<AdminState>,
    Path(principal): Path<String>,
    body: Result<Json<AclRulesRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_body(&s.controller, rej, RULES_EXAMPLE),
    };
    if let Some(r) = req.rules.iter().find(|r| r.principal != principal) {
        return refuse(
            &s.controller,
            StatusCode::BAD_REQUEST,
            format!(
                "rule for '{}' in a replacement of '{principal}'s rules",
                r.principal
            ),
        );
    }
    let what = format!("rules of {principal} replaced");
    let change = AclChange {
        remove: vec![AclFilter {
            principal: Some(principal),
            ..Default::default()
        }],
        add: req.rules,
        warm_principals: None,
    };
    match s.controller.change_acls(change).await {
        Ok(r) => {
            acl_changed(&s, what, &r);
            ok(&s.controller, StatusCode::OK, r)
        }
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(put, path = "/api/v1/acls/sources/{source}", tag = "acls", request_body = AclRulesRequest,
    params(("source" = String, Path, description = "Who manages the rules, e.g. `kubernetes:prod:orders-writers`")),
    responses((status = 200, description = "The source's rules replaced in one version (unchanged rules keep the version)", body = Envelope<AclChangeResult>),
              (status = 400, description = "A rule of another source, or an invalid rule; nothing changed", body = Envelope<String>)))]
pub(super) async fn replace_source_acls(
    State(s): State<AdminState>,
    Path(source): Path<String>,
    body: Result<Json<AclRulesRequest>, JsonRejection>,
) -> Response {
    let mut req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_body(&s.controller, rej, RULES_EXAMPLE),
    };
    if source.trim().is_empty() {
        return refuse(&s.controller, StatusCode::BAD_REQUEST, "an empty source");
    }
    for r in &mut req.rules {
        match &r.source {
            None => r.source = Some(source.clone()),
            Some(other) if *other != source => {
                return refuse(
                    &s.controller,
                    StatusCode::BAD_REQUEST,
                    format!("rule of source '{other}' in a replacement of '{source}'s rules"),
                );
            }
            Some(_) => {}
        }
    }
    let what = format!("rules of source {source} replaced");
    let change = AclChange {
        remove: vec![AclFilter {
            source: Some(source),
            ..Default::default()
        }],
        add: req.rules,
        warm_principals: None,
    };
    match s.controller.change_acls(change).await {
        Ok(r) => {
            if r.removed > 0 || r.added > 0 {
                acl_changed(&s, what, &r);
            }
            ok(&s.controller, StatusCode::OK, r)
        }
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

/// `GET /api/v1/acls/cache`: what brokers keep their decision caches warm for.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AclCacheView {
    /// The version of the rules in force (every cached decision is keyed with it).
    pub version: u64,
    /// Principals whose decisions brokers compute ahead.
    pub warm_principals: Vec<String>,
}

/// Body of `PUT /api/v1/acls/cache/warm`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AclWarmRequest {
    /// The principals (replacing the list; empty: none).
    pub principals: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/acls/cache", tag = "acls",
    responses((status = 200, description = "The ACL version and the principals brokers warm decisions for", body = Envelope<AclCacheView>)))]
pub(super) async fn acl_cache(State(s): State<AdminState>) -> Response {
    let md = s.controller.metadata();
    ok(
        &s.controller,
        StatusCode::OK,
        AclCacheView {
            version: md.acls.version,
            warm_principals: md.acls.warm_principals.clone(),
        },
    )
}

#[utoipa::path(put, path = "/api/v1/acls/cache/warm", tag = "acls", request_body = AclWarmRequest,
    responses((status = 200, description = "The list in force. Brokers compute these principals' decisions on every topic (read, write, describe) and the cluster for each address the principal connects from, after every rule change and when it connects from a new address", body = Envelope<AclCacheView>),
              (status = 400, description = "More than 100 principals, or an empty one", body = Envelope<String>)))]
pub(super) async fn warm_acl_cache(
    State(s): State<AdminState>,
    body: Result<Json<AclWarmRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_body(&s.controller, rej, r#"{"principals": ["alice"]}"#),
    };
    let change = AclChange {
        remove: vec![],
        add: vec![],
        warm_principals: Some(req.principals),
    };
    match s.controller.change_acls(change).await {
        Ok(r) => {
            let md = s.controller.metadata();
            ok(
                &s.controller,
                StatusCode::OK,
                AclCacheView {
                    version: r.version,
                    warm_principals: md.acls.warm_principals.clone(),
                },
            )
        }
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(post, path = "/api/v1/acls/test", tag = "acls", request_body = AclTestBatch,
    responses((status = 200, description = "The decision for each request against the rules in force", body = Envelope<Vec<AclTestResult>>)))]
pub(super) async fn test_acls(
    State(s): State<AdminState>,
    body: Result<Json<AclTestBatch>, JsonRejection>,
) -> Response {
    let batch = match body {
        Ok(Json(b)) => b,
        Err(rej) => {
            return bad_body(
                &s.controller,
                rej,
                r#"{"requests": [{"principal": "orders-app", "resource_type": "topic", "resource": "orders.eu", "operation": "write"}]}"#,
            );
        }
    };
    let set = committed(&s.controller);
    let now = jiff::Timestamp::now();
    let results: Vec<AclTestResult> = batch
        .requests
        .into_iter()
        .map(|request| {
            let (decision, _) = set.evaluate(
                &Request {
                    principal: request.principal.clone(),
                    host: request.host,
                    operation: request.operation,
                    resource_type: request.resource_type,
                    resource: request.resource.clone(),
                },
                now,
            );
            let rule = match decision.reason {
                Reason::AllowedByRule { rule } | Reason::DeniedByRule { rule } => {
                    set.rules().get(rule).cloned()
                }
                _ => None,
            };
            AclTestResult {
                request,
                decision,
                rule,
            }
        })
        .collect();
    ok(&s.controller, StatusCode::OK, results)
}
