//! `/api/v1/controllers`: the Raft voters, adding and removing one.

use super::*;

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
    /// Log entries it is behind the leader (0 for the leader). Only the leader knows: unset
    /// when a follower answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<u64>,
}

/// `POST /api/v1/controllers`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddControllerRequest {
    /// `controller-<n>` or `<n>`.
    pub id: String,
    /// Its internal RPC (Raft) address, `host:port`.
    pub address: String,
}

pub(super) fn controller_views(c: &Controller) -> Vec<ControllerView> {
    let leader = c.status().leader;
    let voters = c.voters();
    let lag = c.replication_lag();
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
            lag: lag.as_ref().map(|l| {
                if Some(id) == leader {
                    0
                } else {
                    l.get(&id).copied().unwrap_or(u64::MAX)
                }
            }),
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/controllers", tag = "controllers",
    responses((status = 200, description = "Controllers and their roles", body = Envelope<Vec<ControllerView>>)))]
pub(super) async fn list_controllers(State(s): State<AdminState>) -> Response {
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
pub(super) async fn add_controller(
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
            return bad_body(
                &s.controller,
                rej,
                r#"{"id": "controller-4", "address": "controller-4:9095"}"#,
            );
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
pub(super) async fn remove_controller(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Response {
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
