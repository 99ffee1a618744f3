//! `/api/v1/topics`: create, list, describe, alter, delete and reassign topics.

use rustmq_security::acl::ResourceType;

use super::*;

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

#[utoipa::path(get, path = "/api/v1/topics", tag = "topics",
    responses((status = 200, description = "All topics", body = Envelope<Vec<TopicView>>)))]
pub(super) async fn list_topics(
    State(s): State<AdminState>,
    caller: Option<axum::Extension<super::auth::Caller>>,
) -> Response {
    let md = s.controller.metadata();
    let acls = caller
        .as_ref()
        .map(|_| super::acls::committed(&s.controller));
    let topics: Vec<TopicView> = md
        .topics
        .values()
        .filter(|t| match (&caller, &acls) {
            (Some(c), Some(set)) => c.may_describe(set, ResourceType::Topic, &t.name),
            _ => true,
        })
        .map(TopicView::from)
        .collect();
    ok(&s.controller, StatusCode::OK, topics)
}

#[utoipa::path(get, path = "/api/v1/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name")),
    responses((status = 200, description = "Settings and partition placement", body = Envelope<TopicView>),
              (status = 404, description = "Unknown topic", body = Envelope<String>)))]
pub(super) async fn describe_topic(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> Response {
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
pub(super) async fn create_topic(
    State(s): State<AdminState>,
    body: Result<Json<CreateTopicRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(rej) => {
            return bad_body(
                &s.controller,
                rej,
                r#"{"name": "orders", "partitions": 3, "replication_factor": 1}"#,
            );
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

/// Body of `PATCH /api/v1/topics/{name}`: what is set changes, what is unset stays.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlterTopicRequest {
    /// The new partition count: equal or more than the topic has (never fewer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u32>,
    /// The topic's whole config as `key: value` strings (`retention.ms`, ...); keys left
    /// out return to their defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
}

#[utoipa::path(patch, path = "/api/v1/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name")), request_body = AlterTopicRequest,
    responses((status = 200, description = "The topic as altered", body = Envelope<TopicView>),
              (status = 400, description = "Fewer partitions than it has, a bad config, or insufficient brokers", body = Envelope<String>),
              (status = 404, description = "Unknown topic", body = Envelope<String>)))]
pub(super) async fn alter_topic(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Json<AlterTopicRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => {
            return bad_body(
                &s.controller,
                rej,
                r#"{"partitions": 6, "config": {"retention.ms": "60000"}}"#,
            );
        }
    };
    let config = match req.config {
        None => None,
        Some(settings) => {
            let mut config = TopicConfig::default();
            for (k, v) in &settings {
                if let Err(e) = config.set(k, v) {
                    return map_err(&s.controller, e.into()).into_response();
                }
            }
            Some(config)
        }
    };
    match s
        .controller
        .alter_topic(&name, req.partitions, config)
        .await
    {
        Ok(t) => ok(&s.controller, StatusCode::OK, TopicView::from(&t)),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/topics/{name}", tag = "topics",
    params(("name" = String, Path, description = "Topic name")),
    responses((status = 200, description = "Deleted", body = Envelope<String>),
              (status = 404, description = "Unknown topic", body = Envelope<String>)))]
pub(super) async fn delete_topic(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> Response {
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
pub(super) async fn reassign_partitions(
    State(s): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Json<ReassignRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => {
            return bad_body(
                &s.controller,
                rej,
                r#"{"partitions": [{"partition": 0, "replicas": [2, 3, 1]}]}"#,
            );
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
