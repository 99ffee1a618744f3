//! `GET /health`: this node's Raft role and the broker's components (WAL, cache, object storage).

use super::*;

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Every component healthy", body = HealthResponse),
              (status = 503, description = "A component is unhealthy (`status: degraded`)", body = HealthResponse)))]
pub(super) async fn health(State(s): State<AdminState>) -> Response {
    let st = s.controller.status();
    // Ready (the operator's roll goes on) only once the leader has reached this node: a
    // restarted follower knows the leader from its saved vote before that.
    let mut components = vec![ComponentHealth {
        name: "controller".into(),
        healthy: st.leader.is_some() && st.leader_reached,
        detail: match st.leader {
            Some(l) if st.leader_reached => format!("raft term {}, leader controller-{l}", st.term),
            Some(l) => format!(
                "raft term {}, leader controller-{l}, which has not reached this node since it started",
                st.term
            ),
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
