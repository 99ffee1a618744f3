//! `/api/v1/rebalance`: the rebalance state with a dry-run plan, and starting a rebalance.

use super::*;
use crate::RebalanceStatus;

/// `POST /api/v1/rebalance`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RebalanceRequest {
    /// Only show the plan; move nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[utoipa::path(get, path = "/api/v1/rebalance", tag = "rebalance",
    responses((status = 200, description = "The rebalance state and what a rebalance would move now (a dry run)", body = Envelope<RebalanceStatus>),
              (status = 503, description = "No leader", body = Envelope<String>)))]
pub(super) async fn rebalance_status(State(s): State<AdminState>) -> Response {
    match s.controller.rebalance(false).await {
        Ok(st) => ok(&s.controller, StatusCode::OK, st),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(post, path = "/api/v1/rebalance", tag = "rebalance", request_body = RebalanceRequest,
    responses((status = 202, description = "Rebalancing (the first round's moves are made); the state and the plan of the next round", body = Envelope<RebalanceStatus>),
              (status = 200, description = "Dry run: the plan, nothing moved", body = Envelope<RebalanceStatus>),
              (status = 503, description = "No leader", body = Envelope<String>)))]
pub(super) async fn start_rebalance(
    State(s): State<AdminState>,
    body: Result<Json<RebalanceRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_body(&s.controller, rej, r#"{"dry_run": true}"#),
    };
    match s.controller.rebalance(!req.dry_run).await {
        Ok(st) if req.dry_run => ok(&s.controller, StatusCode::OK, st),
        Ok(st) => ok(&s.controller, StatusCode::ACCEPTED, st),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}
