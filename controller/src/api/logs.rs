//! `/api/v1/log-level`: this process's log filter (tracing's syntax, as `RUSTMQ_LOG`), read
//! and changed while it runs. It is per process: a broker's admin port changes that broker's
//! logs, a controller's that controller's (a dev node's, both).

use super::*;
use rustmq_transport::logging::{self, LogError};

/// The log filter.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogLevel {
    /// For example `info`, `debug`, or `info,rustmq_broker::wal=trace`.
    pub filter: String,
}

/// `PUT /api/v1/log-level`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogLevelChange {
    /// The filter now in force.
    pub filter: String,
    /// The one it replaced.
    pub previous: String,
}

const NOT_MANAGED: &str =
    "this process's logs are not managed by RustMQ (an embedding program set them up)";

#[utoipa::path(get, path = "/api/v1/log-level", tag = "logs",
    responses((status = 200, description = "The log filter in force in this process", body = Envelope<LogLevel>),
              (status = 409, description = "Logs set up by an embedding program", body = Envelope<String>)))]
pub(super) async fn log_level(State(s): State<AdminState>) -> Response {
    match logging::filter() {
        Some(filter) => ok(&s.controller, StatusCode::OK, LogLevel { filter }),
        None => refuse(&s.controller, StatusCode::CONFLICT, NOT_MANAGED),
    }
}

#[utoipa::path(put, path = "/api/v1/log-level", tag = "logs", request_body = LogLevel,
    responses((status = 200, description = "The filter changed in this process", body = Envelope<LogLevelChange>),
              (status = 400, description = "Not a filter", body = Envelope<String>),
              (status = 409, description = "Logs set up by an embedding program", body = Envelope<String>)))]
pub(super) async fn set_log_level(
    State(s): State<AdminState>,
    body: Result<Json<LogLevel>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => {
            return bad_body(
                &s.controller,
                rej,
                r#"{"filter": "info,rustmq_broker=debug"}"#,
            );
        }
    };
    match logging::set_filter(&req.filter) {
        Ok(previous) => {
            tracing::info!(filter = %req.filter, %previous, "log filter changed");
            ok(
                &s.controller,
                StatusCode::OK,
                LogLevelChange {
                    filter: req.filter,
                    previous,
                },
            )
        }
        Err(e @ LogError::Filter { .. }) => {
            refuse(&s.controller, StatusCode::BAD_REQUEST, e.to_string())
        }
        Err(_) => refuse(&s.controller, StatusCode::CONFLICT, NOT_MANAGED),
    }
}
