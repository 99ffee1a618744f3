//! `/api/v1/groups`: consumer groups as the coordinators and the committed offsets know them.

use rustmq_security::acl::ResourceType;

use super::*;

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

#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, description = "Groups with members or committed offsets", body = Envelope<Vec<GroupView>>)))]
pub(super) async fn list_groups(
    State(s): State<AdminState>,
    caller: Option<axum::Extension<super::auth::Caller>>,
) -> Response {
    let mut groups = match &s.extra {
        Some(b) => b.groups().await,
        None => Vec::new(),
    };
    if let Some(c) = caller {
        let set = super::acls::committed(&s.controller);
        groups.retain(|g| c.may_describe(&set, ResourceType::Group, &g.group_id));
    }
    ok(&s.controller, StatusCode::OK, groups)
}

#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, description = "Members, assignment, offsets, lag", body = Envelope<GroupView>),
              (status = 404, description = "Unknown group", body = Envelope<String>)))]
pub(super) async fn describe_group(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Response {
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
