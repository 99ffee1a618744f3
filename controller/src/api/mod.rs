//! The admin REST API: `/health` and `/api/v1/topics`, answering with the
//! `{success, data, error, leader_hint}` envelope. Every error maps to one HTTP status here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use prometheus_client::registry::Registry;

use crate::metadata::{MetadataError, Topic, TopicConfig};
use crate::{Controller, ControllerError};

mod acls;
mod auth;
mod brokers;
mod certificates;
mod cluster;
mod controllers;
mod etl;
mod groups;
mod health;
mod logs;
mod metrics;
mod rebalance;
mod restart;
mod security;
mod storage;
mod topics;

pub use acls::{
    AclCacheView, AclListView, AclQuery, AclRulesRequest, AclTestBatch, AclTestRequest,
    AclTestResult, AclWarmRequest,
};
pub use auth::AdminAuth;
pub use brokers::BrokerSummary;
pub use certificates::{
    CaView, CleanupRequest, CleanupView, IssueCertificateRequest, IssuedCertificateView,
    RevokeRequest, RotateRequest, ValidateRequest, ValidationView,
};
pub use cluster::ClusterView;
pub use controllers::{AddControllerRequest, ControllerView};
pub use etl::{DeployEtlModuleRequest, EtlChangeView, EtlListView, EtlModuleView};
pub use groups::{GroupMemberView, GroupOffsetView, GroupView, TopicPartitionView};
pub use health::{ComponentHealth, HealthResponse};
pub use logs::{LogLevel, LogLevelChange};
pub use rebalance::RebalanceRequest;
pub use restart::{hosted_replicas, out_of_sync, restart_blockers};
pub use security::{AuditQuery, ListenerSecurity, SecurityStatusView};
pub use storage::{CatalogView, StorageResponse, StorageView};
pub use topics::{
    AlterTopicRequest, CreateTopicRequest, PartitionView, ReassignPartition, ReassignRequest,
    TopicView,
};

/// What a broker contributes to the admin API: health components (WAL, cache) and the
/// consumer groups its coordinator runs. In dev mode the broker is in the same process.
pub trait BrokerView: Send + Sync + 'static {
    /// Current components.
    fn components(&self) -> Vec<ComponentHealth>;
    /// Every group with members or committed offsets.
    fn groups(&self) -> BoxFuture<'_, Vec<GroupView>>;
    /// One group, or None when it has neither members nor committed offsets.
    fn group(&self, id: String) -> BoxFuture<'_, Option<GroupView>>;
    /// Tiered-storage figures, when the broker has a tier.
    fn storage(&self) -> Option<StorageView> {
        None
    }
    /// Registers the broker's metrics, once, when the admin router is built: histograms and
    /// counters it updates itself, and collectors read at scrape time.
    fn register_metrics(self: Arc<Self>, _registry: &mut Registry) {}
}

/// A node's own security, as the admin API shows it: its audit log and its counters.
pub trait SecurityView: Send + Sync + 'static {
    /// The node's audit log (ACL and certificate changes made through this API go there).
    fn audit(&self) -> &rustmq_security::audit::AuditLog;
    /// Counters and settings of the node's client listener, when it has one.
    fn status(&self) -> Option<security::ListenerSecurity> {
        None
    }
    /// Registers the node's security metrics, once, when the admin router is built.
    fn register_metrics(self: Arc<Self>, _registry: &mut Registry) {}
}

/// A node with an audit log and nothing else to show (a controller).
pub struct AuditOnly(pub rustmq_security::audit::AuditLog);

impl SecurityView for AuditOnly {
    fn audit(&self) -> &rustmq_security::audit::AuditLog {
        &self.0
    }
}

/// What a node adds to the admin API besides its controller.
#[derive(Default, Clone)]
pub struct AdminExtras {
    /// The broker in this process (health components, groups, storage, metrics).
    pub broker: Option<Arc<dyn BrokerView>>,
    /// Rate limits per client IP.
    pub limits: Option<Arc<rustmq_transport::ratelimit::RateLimits>>,
    /// The CA that issues certificates through `/api/v1/certificates`.
    pub ca: Option<Arc<rustmq_security::ca::CertificateAuthority>>,
    /// The node's security: audit log and counters.
    pub security: Option<Arc<dyn SecurityView>>,
    /// Who may write (none: anyone who reaches the API).
    pub auth: Option<Arc<AdminAuth>>,
}

/// State shared by the handlers.
#[derive(Clone)]
pub struct AdminState {
    controller: Arc<Controller>,
    extra: Option<Arc<dyn BrokerView>>,
    limits: Option<Arc<rustmq_transport::ratelimit::RateLimits>>,
    /// Registered once, here, and encoded at every scrape.
    registry: Arc<Registry>,
    /// The CA that issues certificates through `/api/v1/certificates` (none: issuing is
    /// refused; records, revocations and validation still work).
    ca: Option<Arc<rustmq_security::ca::CertificateAuthority>>,
    /// The node's audit log and security counters.
    security: Option<Arc<dyn SecurityView>>,
    /// Who may write.
    auth: Option<Arc<AdminAuth>>,
}

/// Builds the admin router.
///
/// ```no_run
/// # async fn demo(c: std::sync::Arc<rustmq_controller::Controller>) {
/// let app = rustmq_controller::api::router(c, None);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9642").await.unwrap();
/// axum::serve(listener, app).await.unwrap();
/// # }
/// ```
pub fn router(controller: Arc<Controller>, extra: Option<Arc<dyn BrokerView>>) -> Router {
    router_with(controller, extra, None)
}

/// The admin router with rate limits. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` (or `::<AdminPeer>()`, which also
/// carries a client certificate over HTTPS) so limits apply per client IP.
///
/// ```no_run
/// # async fn demo(c: std::sync::Arc<rustmq_controller::Controller>) {
/// use rustmq_transport::ratelimit::{RateLimitConfig, RateLimits};
/// let limits = RateLimits::start(RateLimitConfig::default());
/// let app = rustmq_controller::api::router_with(c, None, Some(limits));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9642").await.unwrap();
/// axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
///     .await
///     .unwrap();
/// # }
/// ```
pub fn router_with(
    controller: Arc<Controller>,
    extra: Option<Arc<dyn BrokerView>>,
    limits: Option<Arc<rustmq_transport::ratelimit::RateLimits>>,
) -> Router {
    router_full(
        controller,
        AdminExtras {
            broker: extra,
            limits,
            ..Default::default()
        },
    )
}

/// The admin router with everything a node adds (see [`AdminExtras`]).
///
/// ```no_run
/// # async fn demo(c: std::sync::Arc<rustmq_controller::Controller>) {
/// use rustmq_controller::api::{AdminExtras, AuditOnly, router_full};
/// let audit = rustmq_security::audit::AuditLog::memory("controller-1");
/// let app = router_full(c, AdminExtras { security: Some(std::sync::Arc::new(AuditOnly(audit))), ..Default::default() });
/// # }
/// ```
pub fn router_full(controller: Arc<Controller>, extras: AdminExtras) -> Router {
    let mut registry = metrics::registry(&controller, extras.broker.as_ref());
    if let Some(s) = &extras.security {
        s.clone().register_metrics(&mut registry);
    }
    let registry = Arc::new(registry);
    let limits = extras.limits.clone();
    let state = AdminState {
        controller,
        extra: extras.broker,
        limits: extras.limits,
        registry,
        ca: extras.ca,
        security: extras.security,
        auth: extras.auth,
    };
    let app = routes().with_state(state.clone());
    let app = match limits {
        Some(l) => app.layer(axum::middleware::from_fn_with_state(
            l,
            rustmq_transport::ratelimit::middleware,
        )),
        None => app,
    };
    // Outermost: the request's span (every log line and trace of it), then the caller's
    // address for the rate limits, then who may write.
    app.layer(axum::middleware::from_fn_with_state(state, auth::authorize))
        .layer(axum::middleware::from_fn(
            rustmq_transport::telemetry::http::server_span,
        ))
}

fn routes() -> Router<AdminState> {
    Router::new()
        .route("/health", get(health::health))
        .route(
            "/api/v1/topics",
            get(topics::list_topics).post(topics::create_topic),
        )
        .route(
            "/api/v1/topics/{name}",
            get(topics::describe_topic)
                .patch(topics::alter_topic)
                .delete(topics::delete_topic),
        )
        .route(
            "/api/v1/topics/{name}/reassign",
            axum::routing::post(topics::reassign_partitions),
        )
        .route("/api/v1/cluster", get(cluster::cluster))
        .route("/api/v1/brokers", get(brokers::list_brokers))
        .route(
            "/api/v1/brokers/{id}/drain",
            axum::routing::post(brokers::drain_broker).delete(brokers::undrain_broker),
        )
        .route(
            "/api/v1/controllers",
            get(controllers::list_controllers).post(controllers::add_controller),
        )
        .route(
            "/api/v1/controllers/{id}",
            axum::routing::delete(controllers::remove_controller),
        )
        .route(
            "/api/v1/rebalance",
            get(rebalance::rebalance_status).post(rebalance::start_rebalance),
        )
        .route("/api/v1/groups", get(groups::list_groups))
        .route("/api/v1/groups/{id}", get(groups::describe_group))
        .route("/api/v1/storage", get(storage::storage))
        .route(
            "/api/v1/acls",
            get(acls::list_acls)
                .post(acls::create_acls)
                .delete(acls::delete_acls),
        )
        .route(
            "/api/v1/acls/principals/{principal}",
            axum::routing::put(acls::replace_principal_acls),
        )
        .route(
            "/api/v1/acls/sources/{source}",
            axum::routing::put(acls::replace_source_acls),
        )
        .route("/api/v1/acls/test", axum::routing::post(acls::test_acls))
        .route("/api/v1/acls/cache", get(acls::acl_cache))
        .route(
            "/api/v1/acls/cache/warm",
            axum::routing::put(acls::warm_acl_cache),
        )
        .route(
            "/api/v1/certificates",
            get(certificates::list_certificates).post(certificates::issue_certificate),
        )
        .route(
            "/api/v1/certificates/validate",
            axum::routing::post(certificates::validate_certificate),
        )
        .route(
            "/api/v1/certificates/cleanup",
            axum::routing::post(certificates::cleanup_certificates),
        )
        .route(
            "/api/v1/certificates/{serial}",
            get(certificates::describe_certificate),
        )
        .route(
            "/api/v1/certificates/{serial}/revoke",
            axum::routing::post(certificates::revoke_certificate),
        )
        .route(
            "/api/v1/certificates/{serial}/rotate",
            axum::routing::post(certificates::rotate_certificate),
        )
        .route(
            "/api/v1/etl/modules",
            get(etl::list_modules).post(etl::deploy_module).layer(
                axum::extract::DefaultBodyLimit::max(etl::MAX_DEPLOY_BODY_BYTES),
            ),
        )
        .route(
            "/api/v1/etl/modules/{name}",
            get(etl::describe_module).delete(etl::remove_module),
        )
        .route("/api/v1/ca", get(certificates::ca))
        .route("/api/v1/audit", get(security::audit))
        .route("/api/v1/security", get(security::security_status))
        .route("/api/v1/crl", get(certificates::crl))
        .route(
            "/api/v1/log-level",
            get(logs::log_level).put(logs::set_log_level),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .fallback(not_found)
}

/// An error as the API reports it.
struct ApiError {
    status: StatusCode,
    message: String,
    leader_hint: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(Envelope::<()> {
                success: false,
                data: None,
                error: Some(self.message),
                leader_hint: self.leader_hint,
            }),
        )
            .into_response()
    }
}

/// An error answer with `status` and `message` (and the leader hint).
fn refuse(c: &Controller, status: StatusCode, message: impl Into<String>) -> Response {
    ApiError {
        status,
        message: message.into(),
        leader_hint: leader_name(c),
    }
    .into_response()
}

/// A request body that is not the JSON a handler takes: 400, saying what was wrong and
/// what is expected (`example`).
fn bad_body(c: &Controller, rejection: JsonRejection, example: &str) -> Response {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!(
            "invalid request body: {}; expected JSON like {example}",
            rejection.body_text()
        ),
        leader_hint: leader_name(c),
    }
    .into_response()
}

fn leader_name(c: &Controller) -> Option<String> {
    c.status().leader.map(|l| format!("controller-{l}"))
}

fn map_err(c: &Controller, e: ControllerError) -> ApiError {
    let status = match &e {
        ControllerError::Metadata(
            MetadataError::UnknownTopic(_)
            | MetadataError::UnknownCertificate(_)
            | MetadataError::UnknownEtlModule(_),
        ) => StatusCode::NOT_FOUND,
        ControllerError::Metadata(MetadataError::TopicExists(_)) => StatusCode::CONFLICT,
        ControllerError::Metadata(_) | ControllerError::Membership(_) => StatusCode::BAD_REQUEST,
        ControllerError::NotLeader { .. }
        | ControllerError::NoLeader(_)
        | ControllerError::CommitTimeout(_) => StatusCode::SERVICE_UNAVAILABLE,
        ControllerError::Raft(_) | ControllerError::Storage { .. } => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let leader_hint = match &e {
        ControllerError::NotLeader { leader_hint } => {
            leader_hint.map(|l| format!("controller-{l}"))
        }
        _ => leader_name(c),
    };
    ApiError {
        status,
        message: e.to_string(),
        leader_hint,
    }
}

fn ok<T: Serialize>(c: &Controller, status: StatusCode, data: T) -> Response {
    (
        status,
        Json(Envelope {
            success: true,
            data: Some(data),
            error: None,
            leader_hint: leader_name(c),
        }),
    )
        .into_response()
}

async fn not_found(State(s): State<AdminState>, uri: axum::http::Uri) -> Response {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no such endpoint: {uri}"),
        leader_hint: leader_name(&s.controller),
    }
    .into_response()
}

/// The response envelope of every `/api/v1` endpoint.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// Whether the request succeeded.
    pub success: bool,
    /// The payload on success.
    pub data: Option<T>,
    /// What went wrong, and what to do about it.
    pub error: Option<String>,
    /// The controller leader, e.g. `controller-1`.
    pub leader_hint: Option<String>,
}

/// The OpenAPI document of the admin API, generated from the handlers above; served at
/// `GET /api/v1/openapi.json` and checked in as `docs/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "RustMQ admin API",
        description = "Topics, cluster, brokers, controllers, rebalancing, consumer groups, storage, ACLs, certificates, the audit log, WebAssembly ETL modules and the process's log filter. Every /api/v1 response uses the envelope {success, data, error, leader_hint}; writes may go to any controller. Rate limits add X-RateLimit-Limit/Remaining/Reset/Type headers and answer 429 with Retry-After."
    ),
    paths(
        health::health,
        metrics::metrics,
        cluster::cluster,
        brokers::list_brokers,
        controllers::list_controllers,
        controllers::add_controller,
        controllers::remove_controller,
        topics::list_topics,
        topics::create_topic,
        topics::describe_topic,
        topics::alter_topic,
        topics::delete_topic,
        topics::reassign_partitions,
        brokers::drain_broker,
        brokers::undrain_broker,
        rebalance::rebalance_status,
        rebalance::start_rebalance,
        groups::list_groups,
        groups::describe_group,
        storage::storage,
        acls::list_acls,
        acls::create_acls,
        acls::delete_acls,
        acls::replace_principal_acls,
        acls::replace_source_acls,
        acls::test_acls,
        acls::acl_cache,
        acls::warm_acl_cache,
        certificates::issue_certificate,
        certificates::list_certificates,
        certificates::describe_certificate,
        certificates::revoke_certificate,
        certificates::rotate_certificate,
        certificates::validate_certificate,
        certificates::cleanup_certificates,
        certificates::ca,
        certificates::crl,
        security::audit,
        security::security_status,
        etl::deploy_module,
        etl::list_modules,
        etl::describe_module,
        etl::remove_module,
        logs::log_level,
        logs::set_log_level
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON.
///
/// ```
/// let doc = rustmq_controller::api::openapi_json();
/// assert!(doc.contains("/api/v1/topics/{name}"));
/// ```
pub fn openapi_json() -> String {
    use utoipa::OpenApi;
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
        .into_response()
}
