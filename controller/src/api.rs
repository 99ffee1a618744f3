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

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metadata::{MetadataError, Topic, TopicConfig};
use crate::{Controller, ControllerError};

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
    /// Adds the broker's metrics to a scrape's registry.
    fn metrics(&self, _registry: &mut Registry) {}
}

/// A gauge set to `v`, registered under `name` (prometheus-client builds the text format).
///
/// ```
/// let mut r = prometheus_client::registry::Registry::with_prefix("rustmq");
/// rustmq_controller::api::gauge(&mut r, "answer", "The answer", 42);
/// let mut out = String::new();
/// prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
/// assert!(out.contains("rustmq_answer 42"));
/// ```
pub fn gauge(r: &mut Registry, name: &str, help: &str, v: i64) {
    let g: Gauge = Gauge::default();
    g.set(v);
    r.register(name, help, g);
}

/// A counter at `v` (the value is read from the component's own atomic counters).
pub fn counter(r: &mut Registry, name: &str, help: &str, v: u64) {
    let c: Counter = Counter::default();
    c.inc_by(v);
    r.register(name, help, c);
}

/// `GET /api/v1/storage`: object storage, upload lag and read-cache figures of a broker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StorageView {
    /// `Local`, `Gcs` or `S3`.
    pub storage_type: String,
    /// Objects the catalog references.
    pub objects: u64,
    /// Their bytes.
    pub object_bytes: u64,
    /// Bytes durable in the WAL and not yet uploaded.
    pub upload_lag_bytes: u64,
    /// Age of the oldest unuploaded batch.
    pub upload_lag_ms: u64,
    /// WAL bytes on disk.
    pub wal_bytes: u64,
    /// `wal.capacity_bytes`: produces are refused above it.
    pub wal_capacity_bytes: u64,
    /// The last produce was refused with `WAL_FULL`.
    pub refusing_produces: bool,
    /// Objects uploaded.
    pub uploads: u64,
    /// Batch bytes uploaded.
    pub uploaded_bytes: u64,
    /// Failed upload attempts.
    pub upload_failures: u64,
    /// PUT requests.
    pub puts: u64,
    /// GET requests.
    pub gets: u64,
    /// DELETE requests.
    pub deletes: u64,
    /// Read-cache hits.
    pub cache_hits: u64,
    /// Read-cache misses.
    pub cache_misses: u64,
    /// hits / (hits + misses).
    pub cache_hit_ratio: f64,
    /// Bytes in the read cache.
    pub read_cache_bytes: u64,
    /// Objects written by compaction.
    pub compacted_objects: u64,
    /// Unreferenced objects deleted.
    pub objects_deleted: u64,
    /// Orphans deleted.
    pub orphans_deleted: u64,
    /// Last upload error, if the last attempt failed.
    pub last_error: Option<String>,
}

/// A partition of a topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TopicPartitionView {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
}

/// A member of a group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupMemberView {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// Assigned partitions.
    pub assignment: Vec<TopicPartitionView>,
}

/// A committed offset and how far behind it is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupOffsetView {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Committed offset (next to consume).
    pub committed_offset: i64,
    /// Partition high watermark.
    pub high_watermark: i64,
    /// `high_watermark - committed_offset`.
    pub lag: i64,
}

/// `GET /api/v1/groups/{id}` (and, without offsets detail, the list).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct GroupView {
    /// Group id.
    pub group_id: String,
    /// Empty, PreparingRebalance or Stable.
    pub state: String,
    /// Current generation.
    pub generation: i32,
    /// Assignor in use.
    pub assignor: Option<String>,
    /// Leader member.
    pub leader: Option<String>,
    /// Members and their partitions.
    pub members: Vec<GroupMemberView>,
    /// Committed offsets with lag.
    pub offsets: Vec<GroupOffsetView>,
    /// Sum of the partitions' lag.
    pub total_lag: i64,
}

/// One component of `/health`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ComponentHealth {
    /// Name (`wal`, `controller`, ...).
    pub name: String,
    /// Whether it works.
    pub healthy: bool,
    /// Human-readable detail.
    pub detail: String,
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

/// Body of `POST /api/v1/topics`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopicRequest {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: u32,
    /// Replicas per partition (default 1).
    #[serde(default = "one")]
    pub replication_factor: u32,
    /// Retention in ms.
    #[serde(default)]
    pub retention_ms: Option<i64>,
    /// Retention in bytes per partition.
    #[serde(default)]
    pub retention_bytes: Option<i64>,
    /// Segment size.
    #[serde(default)]
    pub segment_bytes: Option<u64>,
    /// Compression type.
    #[serde(default)]
    pub compression_type: Option<String>,
    /// Any other topic settings as `key: value` strings (`max.message.bytes`, ...).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

/// Partition placement in `GET /api/v1/topics/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartitionView {
    /// Partition.
    pub partition: u32,
    /// Leader, `broker-N`.
    pub leader: String,
    /// Replicas.
    pub replicas: Vec<String>,
    /// In-sync replicas.
    pub in_sync_replicas: Vec<String>,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Fewer in-sync replicas than replicas.
    pub under_replicated: bool,
    /// Set while a reassignment moves the partition: the replicas it moves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_replicas: Option<Vec<String>>,
}

/// `GET /api/v1/topics/{name}` and the entries of `GET /api/v1/topics`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopicView {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: u32,
    /// Replication factor.
    pub replication_factor: u32,
    /// Settings.
    pub config: TopicConfig,
    /// Creation time.
    pub created_at: String,
    /// Placement.
    pub partition_assignments: Vec<PartitionView>,
    /// Partitions with fewer in-sync replicas than replicas.
    pub under_replicated_partitions: u32,
}

impl From<&Topic> for TopicView {
    fn from(t: &Topic) -> Self {
        let b = |id: &u32| format!("broker-{id}");
        Self {
            name: t.name.clone(),
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            config: t.config.clone(),
            created_at: t.created_at.clone(),
            partition_assignments: t
                .assignments
                .iter()
                .map(|a| PartitionView {
                    partition: a.partition,
                    leader: b(&a.leader),
                    replicas: a.replicas.iter().map(b).collect(),
                    in_sync_replicas: a.isr.iter().map(b).collect(),
                    leader_epoch: a.leader_epoch,
                    under_replicated: a.isr.len() < a.replicas.len(),
                    target_replicas: a
                        .target_replicas
                        .as_ref()
                        .map(|r| r.iter().map(b).collect()),
                })
                .collect(),
            under_replicated_partitions: t
                .assignments
                .iter()
                .filter(|a| a.isr.len() < a.replicas.len())
                .count() as u32,
        }
    }
}

/// State shared by the handlers.
#[derive(Clone)]
pub struct AdminState {
    controller: Arc<Controller>,
    extra: Option<Arc<dyn BrokerView>>,
    limits: Option<Arc<rustmq_transport::ratelimit::RateLimits>>,
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
/// `into_make_service_with_connect_info::<SocketAddr>()` so limits apply per client IP.
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
    let app = routes().with_state(AdminState {
        controller,
        extra,
        limits: limits.clone(),
    });
    match limits {
        Some(l) => app.layer(axum::middleware::from_fn_with_state(
            l,
            rustmq_transport::ratelimit::middleware,
        )),
        None => app,
    }
}

fn routes() -> Router<AdminState> {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/topics", get(list_topics).post(create_topic))
        .route(
            "/api/v1/topics/{name}",
            get(describe_topic).delete(delete_topic),
        )
        .route(
            "/api/v1/topics/{name}/reassign",
            axum::routing::post(reassign_partitions),
        )
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/brokers", get(list_brokers))
        .route(
            "/api/v1/brokers/{id}/drain",
            axum::routing::post(drain_broker).delete(undrain_broker),
        )
        .route(
            "/api/v1/controllers",
            get(list_controllers).post(add_controller),
        )
        .route(
            "/api/v1/controllers/{id}",
            axum::routing::delete(remove_controller),
        )
        .route("/api/v1/groups", get(list_groups))
        .route("/api/v1/groups/{id}", get(describe_group))
        .route("/api/v1/storage", get(storage))
        .route("/metrics", get(metrics))
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

fn leader_name(c: &Controller) -> Option<String> {
    c.status().leader.map(|l| format!("controller-{l}"))
}

fn map_err(c: &Controller, e: ControllerError) -> ApiError {
    let status = match &e {
        ControllerError::Metadata(MetadataError::UnknownTopic(_)) => StatusCode::NOT_FOUND,
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

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Every component healthy", body = HealthResponse),
              (status = 503, description = "A component is unhealthy (`status: degraded`)", body = HealthResponse)))]
async fn health(State(s): State<AdminState>) -> Response {
    let st = s.controller.status();
    let mut components = vec![ComponentHealth {
        name: "controller".into(),
        healthy: st.leader.is_some(),
        detail: match st.leader {
            Some(l) => format!("raft term {}, leader controller-{l}", st.term),
            None => "no raft leader".into(),
        },
    }];
    if let Some(extra) = &s.extra {
        components.extend(extra.components());
    }
    let healthy = components.iter().all(|c| c.healthy);
    let body = HealthResponse {
        status: if healthy { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        uptime_seconds: s.controller.uptime().as_secs(),
        is_leader: st.is_leader,
        raft_term: st.term,
        rate_limiting: s
            .limits
            .as_ref()
            .map(|l| l.stats())
            .unwrap_or_else(|| serde_json::json!({"enabled": false})),
        components,
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

#[utoipa::path(get, path = "/api/v1/topics", tag = "topics",
    responses((status = 200, description = "All topics", body = Envelope<Vec<TopicView>>)))]
async fn list_topics(State(s): State<AdminState>) -> Response {
    let md = s.controller.metadata();
    let topics: Vec<TopicView> = md.topics.values().map(TopicView::from).collect();
    ok(&s.controller, StatusCode::OK, topics)
}

#[utoipa::path(get, path = "/api/v1/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name")),
    responses((status = 200, description = "Settings and partition placement", body = Envelope<TopicView>),
              (status = 404, description = "Unknown topic", body = Envelope<String>)))]
async fn describe_topic(State(s): State<AdminState>, Path(name): Path<String>) -> Response {
    match s.controller.metadata().topics.get(&name) {
        Some(t) => ok(&s.controller, StatusCode::OK, TopicView::from(t)),
        None => map_err(&s.controller, MetadataError::UnknownTopic(name).into()).into_response(),
    }
}

#[utoipa::path(post, path = "/api/v1/topics", tag = "topics", request_body = CreateTopicRequest,
    responses((status = 201, description = "Created", body = Envelope<String>),
              (status = 400, description = "Invalid name, partition count, config, or insufficient brokers", body = Envelope<String>),
              (status = 409, description = "The topic exists", body = Envelope<String>),
              (status = 503, description = "No leader, or no majority reachable (`leader_hint`)", body = Envelope<String>)))]
async fn create_topic(
    State(s): State<AdminState>,
    body: Result<Json<CreateTopicRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(rej) => {
            return ApiError {
                status: StatusCode::BAD_REQUEST,
                message: format!(
                    "invalid request body: {}; expected JSON like {{\"name\": \"orders\", \"partitions\": 3, \"replication_factor\": 1}}",
                    rej.body_text()
                ),
                leader_hint: leader_name(&s.controller),
            }
            .into_response();
        }
    };
    let mut config = TopicConfig {
        retention_ms: req.retention_ms,
        retention_bytes: req.retention_bytes,
        segment_bytes: req.segment_bytes,
        compression_type: None,
        max_message_bytes: None,
        min_insync_replicas: None,
    };
    let mut settings = req.config.clone();
    if let Some(c) = &req.compression_type {
        settings.insert("compression.type".into(), c.clone());
    }
    for (k, v) in &settings {
        if let Err(e) = config.set(k, v) {
            return map_err(&s.controller, e.into()).into_response();
        }
    }
    match s
        .controller
        .create_topic(&req.name, req.partitions, req.replication_factor, config)
        .await
    {
        Ok(t) => ok(
            &s.controller,
            StatusCode::CREATED,
            format!("Topic '{}' created", t.name),
        ),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name")),
    responses((status = 200, description = "Deleted", body = Envelope<String>),
              (status = 404, description = "Unknown topic", body = Envelope<String>)))]
async fn delete_topic(State(s): State<AdminState>, Path(name): Path<String>) -> Response {
    match s.controller.delete_topic(&name).await {
        Ok(()) => ok(
            &s.controller,
            StatusCode::OK,
            format!("Topic '{name}' deleted"),
        ),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

/// `POST /api/v1/topics/{name}/reassign`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// The partitions to move.
    pub partitions: Vec<ReassignPartition>,
}

/// One partition of a [`ReassignRequest`].
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignPartition {
    /// Partition.
    pub partition: u32,
    /// The new replica list, preferred leader first (broker ids).
    pub replicas: Vec<u32>,
}

#[utoipa::path(post, path = "/api/v1/topics/{name}/reassign", tag = "topics",
    params(("name" = String, Path, description = "Topic name")), request_body = ReassignRequest,
    responses((status = 202, description = "Reassignment started; new replicas catch up, then the old ones leave (watch target_replicas in GET /api/v1/topics/{name})", body = Envelope<String>),
              (status = 400, description = "Bad partition or replica list", body = Envelope<String>),
              (status = 404, description = "Unknown topic", body = Envelope<String>)))]
async fn reassign_partitions(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Json<ReassignRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => {
            return ApiError {
                status: StatusCode::BAD_REQUEST,
                message: format!(
                    "invalid request body: {}; expected JSON like {{\"partitions\": [{{\"partition\": 0, \"replicas\": [2, 3, 1]}}]}}",
                    rej.body_text()
                ),
                leader_hint: leader_name(&s.controller),
            }
            .into_response();
        }
    };
    let targets = req
        .partitions
        .into_iter()
        .map(|p| (p.partition, p.replicas))
        .collect();
    match s.controller.reassign_partitions(&name, targets).await {
        Ok(()) => ok(
            &s.controller,
            StatusCode::ACCEPTED,
            format!("reassignment of topic '{name}' started"),
        ),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(post, path = "/api/v1/brokers/{id}/drain", tag = "brokers",
    params(("id" = u32, Path, description = "Broker id")),
    responses((status = 202, description = "Draining: the number of partition replicas being moved off the broker", body = Envelope<usize>),
              (status = 400, description = "Unknown broker, or no broker to move replicas to", body = Envelope<String>)))]
async fn drain_broker(State(s): State<AdminState>, Path(id): Path<u32>) -> Response {
    match s.controller.drain_broker(id).await {
        Ok(n) => ok(&s.controller, StatusCode::ACCEPTED, n),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/brokers/{id}/drain", tag = "brokers",
    params(("id" = u32, Path, description = "Broker id")),
    responses((status = 200, description = "The broker may receive new replicas again", body = Envelope<String>),
              (status = 400, description = "Unknown broker", body = Envelope<String>)))]
async fn undrain_broker(State(s): State<AdminState>, Path(id): Path<u32>) -> Response {
    match s.controller.undrain_broker(id).await {
        Ok(()) => ok(
            &s.controller,
            StatusCode::OK,
            format!("broker-{id} is no longer draining"),
        ),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, description = "Groups with members or committed offsets", body = Envelope<Vec<GroupView>>)))]
async fn list_groups(State(s): State<AdminState>) -> Response {
    let groups = match &s.extra {
        Some(b) => b.groups().await,
        None => Vec::new(),
    };
    ok(&s.controller, StatusCode::OK, groups)
}

#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, description = "Members, assignment, offsets, lag", body = Envelope<GroupView>),
              (status = 404, description = "Unknown group", body = Envelope<String>)))]
async fn describe_group(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    let group = match &s.extra {
        Some(b) => b.group(id.clone()).await,
        None => None,
    };
    match group {
        Some(g) => ok(&s.controller, StatusCode::OK, g),
        None => ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("group '{id}' not found (no members and no committed offsets)"),
            leader_hint: leader_name(&s.controller),
        }
        .into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/storage", tag = "storage",
    responses((status = 200, description = "Tiered storage of the broker and the catalog", body = Envelope<StorageResponse>)))]
async fn storage(State(s): State<AdminState>) -> Response {
    let md = s.controller.metadata();
    let c = &md.catalog;
    let body = StorageResponse {
        broker: s.extra.as_ref().and_then(|b| b.storage()),
        catalog: CatalogView {
            objects: c.objects.len(),
            object_bytes: c.objects.values().map(|o| o.size).sum::<u64>(),
            compacted_objects: c.objects.values().filter(|o| o.level > 0).count(),
            partitions: c.partitions.len(),
            slices: c.partitions.values().map(|p| p.slices.len()).sum::<usize>(),
            pending_deletes: c.deleting.len(),
        },
    };
    ok(&s.controller, StatusCode::OK, body)
}

/// `GET /metrics`: Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus / OpenMetrics text", content_type = "application/openmetrics-text", body = String)))]
async fn metrics(State(s): State<AdminState>) -> Response {
    let mut r = Registry::with_prefix("rustmq");
    let st = s.controller.status();
    let md = s.controller.metadata();
    gauge(
        &mut r,
        "controller_is_leader",
        "1 when this controller leads",
        i64::from(st.is_leader),
    );
    gauge(
        &mut r,
        "controller_raft_term",
        "Current Raft term",
        st.term as i64,
    );
    gauge(&mut r, "topics", "Topics", md.topics.len() as i64);
    gauge(
        &mut r,
        "catalog_objects",
        "Objects the catalog references",
        md.catalog.objects.len() as i64,
    );
    gauge(
        &mut r,
        "catalog_object_bytes",
        "Bytes of the objects the catalog references",
        md.catalog.objects.values().map(|o| o.size).sum::<u64>() as i64,
    );
    gauge(
        &mut r,
        "catalog_pending_deletes",
        "Unreferenced objects waiting for their grace period",
        md.catalog.deleting.len() as i64,
    );
    if let Some(b) = &s.extra {
        b.metrics(&mut r);
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &r) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
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

/// One controller as `GET /api/v1/controllers` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ControllerView {
    /// `controller-<n>`.
    pub id: String,
    /// Raft node id.
    pub node_id: u64,
    /// Internal RPC address.
    pub address: String,
    /// `leader`, `voter` or `learner` (catching up before promotion).
    pub role: String,
}

/// `POST /api/v1/controllers`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddControllerRequest {
    /// `controller-<n>` or `<n>`.
    pub id: String,
    /// Its internal RPC (Raft) address, `host:port`.
    pub address: String,
}

/// One broker as `GET /api/v1/brokers` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BrokerSummary {
    /// `broker-<n>`.
    pub id: String,
    /// Host clients connect to.
    pub host: String,
    /// QUIC port.
    pub port_quic: u16,
    /// Internal RPC port.
    pub port_rpc: u16,
    /// Rack / zone.
    pub rack_id: String,
    /// Heartbeating (not marked offline by the leader).
    pub online: bool,
}

fn controller_views(c: &Controller) -> Vec<ControllerView> {
    let leader = c.status().leader;
    let voters = c.voters();
    c.members()
        .into_iter()
        // Brokers' metadata observers are learners too; they are listed as brokers.
        .filter(|(id, _)| *id < crate::BROKER_NODE_BASE)
        .map(|(id, address)| ControllerView {
            id: format!("controller-{id}"),
            node_id: id,
            address,
            role: if Some(id) == leader {
                "leader"
            } else if voters.contains(&id) {
                "voter"
            } else {
                "learner"
            }
            .into(),
        })
        .collect()
}

fn broker_views(c: &Controller) -> Vec<BrokerSummary> {
    let md = c.metadata();
    md.brokers
        .values()
        .map(|b| BrokerSummary {
            id: format!("broker-{}", b.id),
            host: b.host.clone(),
            port_quic: b.port_quic,
            port_rpc: b.port_rpc,
            rack_id: b.rack_id.clone(),
            online: !md.offline_brokers.contains(&b.id),
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/controllers", tag = "controllers",
    responses((status = 200, description = "Controllers and their roles", body = Envelope<Vec<ControllerView>>)))]
async fn list_controllers(State(s): State<AdminState>) -> Response {
    ok(
        &s.controller,
        StatusCode::OK,
        controller_views(&s.controller),
    )
}

#[utoipa::path(post, path = "/api/v1/controllers", tag = "controllers", request_body = AddControllerRequest,
    responses((status = 200, description = "The controller is a voter", body = Envelope<String>),
              (status = 400, description = "Bad id or address, did not catch up, or a dev node", body = Envelope<String>),
              (status = 503, description = "No leader, or no majority reachable", body = Envelope<String>)))]
async fn add_controller(
    State(s): State<AdminState>,
    body: Result<Json<AddControllerRequest>, JsonRejection>,
) -> Response {
    let bad = |message: String| {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message,
            leader_hint: leader_name(&s.controller),
        }
        .into_response()
    };
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => {
            return bad(format!(
                "invalid request body: {}; expected JSON like {{\"id\": \"controller-4\", \"address\": \"controller-4:9095\"}}",
                rej.body_text()
            ));
        }
    };
    let Some(id) = crate::config::parse_node_id(&req.id) else {
        return bad(format!(
            "invalid controller id '{}': expected controller-<n> with n >= 1",
            req.id
        ));
    };
    if req
        .address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .is_none()
    {
        return bad(format!(
            "invalid address '{}': expected host:port",
            req.address
        ));
    }
    match s.controller.add_controller(id, req.address).await {
        Ok(()) => ok(
            &s.controller,
            StatusCode::OK,
            format!("controller-{id} is a voter"),
        ),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/controllers/{id}", tag = "controllers",
    params(("id" = String, Path, description = "controller-<n>")),
    responses((status = 200, description = "Removed", body = Envelope<String>),
              (status = 400, description = "Bad id, or the last voter", body = Envelope<String>),
              (status = 404, description = "Not a member", body = Envelope<String>)))]
async fn remove_controller(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    let Some(n) = crate::config::parse_node_id(&id) else {
        return ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("invalid controller id '{id}': expected controller-<n> with n >= 1"),
            leader_hint: leader_name(&s.controller),
        }
        .into_response();
    };
    if !s.controller.members().contains_key(&n) {
        return ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("controller-{n} is not a member of this cluster"),
            leader_hint: leader_name(&s.controller),
        }
        .into_response();
    }
    match s.controller.remove_controller(n).await {
        Ok(()) => ok(
            &s.controller,
            StatusCode::OK,
            format!("controller-{n} removed"),
        ),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/brokers", tag = "cluster",
    responses((status = 200, description = "Registered brokers", body = Envelope<Vec<BrokerSummary>>)))]
async fn list_brokers(State(s): State<AdminState>) -> Response {
    ok(&s.controller, StatusCode::OK, broker_views(&s.controller))
}

#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, description = "Brokers, topics, controllers, leader and term", body = Envelope<ClusterView>)))]
async fn cluster(State(s): State<AdminState>) -> Response {
    let st = s.controller.status();
    let md = s.controller.metadata();
    let body = ClusterView {
        cluster_id: md.cluster_id.clone(),
        brokers: broker_views(&s.controller),
        topics: md.topics.keys().cloned().collect(),
        controllers: controller_views(&s.controller),
        leader: st.leader.map(|l| format!("controller-{l}")),
        term: st.term,
        healthy: st.leader.is_some(),
    };
    ok(&s.controller, StatusCode::OK, body)
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthResponse {
    /// `ok` or `degraded`.
    pub status: String,
    /// Build version.
    pub version: String,
    /// Since this process started.
    pub uptime_seconds: u64,
    /// This controller leads the Raft cluster.
    pub is_leader: bool,
    /// Current Raft term.
    pub raft_term: u64,
    /// `enabled`, `allowed`, `rejected_global`, `rejected_per_ip`, `rejected_endpoint`,
    /// `tracked_ips`.
    #[schema(value_type = Object)]
    pub rate_limiting: serde_json::Value,
    /// Per component.
    pub components: Vec<ComponentHealth>,
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// The cluster's id, chosen once when it was first bootstrapped.
    pub cluster_id: String,
    /// Registered brokers.
    pub brokers: Vec<BrokerSummary>,
    /// Topic names.
    pub topics: Vec<String>,
    /// Controllers and their roles.
    pub controllers: Vec<ControllerView>,
    /// The Raft leader, `controller-<n>`.
    pub leader: Option<String>,
    /// Current Raft term.
    pub term: u64,
    /// A leader is known.
    pub healthy: bool,
}

/// `GET /api/v1/storage`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StorageResponse {
    /// The broker's tier, when this process runs one.
    pub broker: Option<StorageView>,
    /// The object catalog in the controllers' state.
    pub catalog: CatalogView,
}

/// Catalog figures of `GET /api/v1/storage`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CatalogView {
    /// Objects referenced.
    pub objects: usize,
    /// Their bytes.
    pub object_bytes: u64,
    /// Of which written by compaction.
    pub compacted_objects: usize,
    /// Partitions with objects.
    pub partitions: usize,
    /// Object slices over all partitions.
    pub slices: usize,
    /// Unreferenced objects waiting for their grace period.
    pub pending_deletes: usize,
}

/// The OpenAPI document of the admin API, generated from the handlers above; served at
/// `GET /api/v1/openapi.json` and checked in as `docs/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "RustMQ admin API",
        description = "Topics, cluster, brokers, controllers, consumer groups and storage. Every /api/v1 response uses the envelope {success, data, error, leader_hint}; writes may go to any controller. Rate limits add X-RateLimit-Limit/Remaining/Reset/Type headers and answer 429 with Retry-After."
    ),
    paths(
        health,
        metrics,
        cluster,
        list_brokers,
        list_controllers,
        add_controller,
        remove_controller,
        list_topics,
        create_topic,
        describe_topic,
        delete_topic,
        reassign_partitions,
        drain_broker,
        undrain_broker,
        list_groups,
        describe_group,
        storage
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
