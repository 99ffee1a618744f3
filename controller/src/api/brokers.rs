//! `/api/v1/brokers`: registered brokers, and draining one before it is removed.

use super::*;

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
    /// Being drained: its replicas move away and no new ones come to it.
    #[serde(default)]
    pub draining: bool,
    /// Its metadata observer is a Raft learner (it receives the metadata log). The leader
    /// removes it once the broker has been offline and without replicas for a while, and
    /// adds it back when the broker heartbeats again.
    #[serde(default)]
    pub metadata_observer: bool,
}

pub(super) fn broker_views(c: &Controller) -> Vec<BrokerSummary> {
    let md = c.metadata();
    let members = c.members();
    md.brokers
        .values()
        .map(|b| BrokerSummary {
            id: format!("broker-{}", b.id),
            host: b.host.clone(),
            port_quic: b.port_quic,
            port_rpc: b.port_rpc,
            rack_id: b.rack_id.clone(),
            online: !md.offline_brokers.contains(&b.id),
            draining: md.draining_brokers.contains(&b.id),
            metadata_observer: members.contains_key(&(crate::BROKER_NODE_BASE + u64::from(b.id))),
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/brokers", tag = "cluster",
    responses((status = 200, description = "Registered brokers", body = Envelope<Vec<BrokerSummary>>)))]
pub(super) async fn list_brokers(State(s): State<AdminState>) -> Response {
    ok(&s.controller, StatusCode::OK, broker_views(&s.controller))
}

#[utoipa::path(post, path = "/api/v1/brokers/{id}/drain", tag = "brokers",
    params(("id" = u32, Path, description = "Broker id")),
    responses((status = 202, description = "Draining: the number of partition replicas being moved off the broker", body = Envelope<usize>),
              (status = 400, description = "Unknown broker, or no broker to move replicas to", body = Envelope<String>)))]
pub(super) async fn drain_broker(State(s): State<AdminState>, Path(id): Path<u32>) -> Response {
    match s.controller.drain_broker(id).await {
        Ok(n) => ok(&s.controller, StatusCode::ACCEPTED, n),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(delete, path = "/api/v1/brokers/{id}/drain", tag = "brokers",
    params(("id" = u32, Path, description = "Broker id")),
    responses((status = 200, description = "The broker may receive new replicas again", body = Envelope<String>),
              (status = 400, description = "Unknown broker", body = Envelope<String>)))]
pub(super) async fn undrain_broker(State(s): State<AdminState>, Path(id): Path<u32>) -> Response {
    match s.controller.undrain_broker(id).await {
        Ok(()) => ok(
            &s.controller,
            StatusCode::OK,
            format!("broker-{id} is no longer draining"),
        ),
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}
