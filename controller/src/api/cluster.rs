//! `GET /api/v1/cluster`: the cluster at a glance (id, leader, controllers, brokers).

use super::*;

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

#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, description = "Brokers, topics, controllers, leader and term", body = Envelope<ClusterView>)))]
pub(super) async fn cluster(State(s): State<AdminState>) -> Response {
    let st = s.controller.status();
    let md = s.controller.metadata();
    let body = ClusterView {
        cluster_id: md.cluster_id.clone(),
        brokers: super::brokers::broker_views(&s.controller),
        topics: md.topics.keys().cloned().collect(),
        controllers: super::controllers::controller_views(&s.controller),
        leader: st.leader.map(|l| format!("controller-{l}")),
        term: st.term,
        healthy: st.leader.is_some(),
    };
    ok(&s.controller, StatusCode::OK, body)
}
