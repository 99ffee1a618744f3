//! Broker liveness: registration, heartbeats (leader-local, as in KRaft), the periodic
//! check that marks silent brokers offline, and controlled shutdown.

use std::time::{Duration, Instant};

use crate::ControllerError;
use crate::balance::BrokerLoad;
use crate::metadata::{BrokerRegistration, Command, CommandResult, MetadataError};

use super::Controller;
use super::forwarding::LeaderOp;

impl Controller {
    /// Registers a broker (no-op when the registration is unchanged).
    pub async fn register_broker(&self, broker: BrokerRegistration) -> Result<(), ControllerError> {
        if self.metadata().brokers.get(&broker.id) == Some(&broker) {
            return Ok(());
        }
        self.propose_applied(Command::RegisterBroker(broker)).await
    }

    /// A broker is alive, with its load over the last interval (kept by the leader for
    /// rebalancing). Runs on the leader (a follower forwards it); marks the broker
    /// online again if its heartbeats had stopped. Refused with `UnknownBroker` when it is
    /// not registered, which tells the broker to register.
    pub async fn broker_heartbeat(
        &self,
        id: u32,
        load: Option<BrokerLoad>,
    ) -> Result<(), ControllerError> {
        match self.on_leader(LeaderOp::Heartbeat { id, load }).await? {
            CommandResult::Refused(e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub(super) async fn heartbeat_local(
        &self,
        id: u32,
        load: Option<BrokerLoad>,
    ) -> Result<CommandResult, ControllerError> {
        self.leading()?;
        // A leader cut off from its quorum must not keep brokers looking alive while the
        // majority's new leader hears nothing: confirm leadership with a quorum first.
        if !matches!(
            tokio::time::timeout(self.election_timeout, self.raft.ensure_linearizable()).await,
            Ok(Ok(_))
        ) {
            return Err(ControllerError::NotLeader { leader_hint: None });
        }
        let md = self.metadata();
        let Some(registration) = md.brokers.get(&id) else {
            return Ok(CommandResult::Refused(MetadataError::UnknownBroker(id)));
        };
        if self.rpc.is_some() {
            self.rejoin_observer(registration);
        }
        self.heartbeats.lock().insert(id, Instant::now());
        self.record_load(id, load);
        if md.offline_brokers.contains(&id) {
            tracing::info!(broker = id, "broker heartbeats resumed; marking it online");
            return self
                .propose_local(Command::SetBrokerOnline { id, online: true })
                .await;
        }
        Ok(CommandResult::Ok)
    }

    /// A broker shuts down: its leaderships move to other in-sync replicas and it leaves
    /// every ISR.
    pub async fn controlled_shutdown(&self, id: u32) -> Result<(), ControllerError> {
        self.propose_applied(Command::ControlledShutdown { id })
            .await
    }
}

/// A broker offline and without replicas for this many heartbeat timeouts loses its
/// metadata observer (see `Controller::forget_gone_observers`).
const GONE_OBSERVER_GRACE_TIMEOUTS: u32 = 10;

/// The leader's broker liveness check: every `every`, a registered broker without a
/// heartbeat for `timeout` is marked offline through Raft. A node that just became leader
/// counts from its election, so brokers are not failed for heartbeats sent to the old one.
pub(super) async fn watch_brokers(
    controller: std::sync::Weak<Controller>,
    timeout: Duration,
    every: Duration,
) {
    let mut leading_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(every).await;
        let Some(c) = controller.upgrade() else {
            return;
        };
        if !c.status().is_leader {
            leading_since = None;
            continue;
        }
        let since = *leading_since.get_or_insert_with(Instant::now);
        if let Err(e) = c.ensure_cluster_id().await {
            tracing::warn!(error = %e, "setting the cluster id failed; retrying");
        }
        let md = c.metadata();
        let now = Instant::now();
        let stale: Vec<u32> = {
            let beats = c.heartbeats.lock();
            md.live_brokers()
                .map(|b| b.id)
                .filter(|id| {
                    let last = beats.get(id).copied().unwrap_or(since).max(since);
                    now.duration_since(last) > timeout
                })
                .collect()
        };
        for id in stale {
            tracing::warn!(
                broker = id,
                ?timeout,
                "no heartbeat from broker; marking it offline"
            );
            if let Err(e) = c
                .propose_local(Command::SetBrokerOnline { id, online: false })
                .await
            {
                tracing::warn!(broker = id, error = %e, "marking broker offline failed");
            }
        }
        c.forget_gone_observers(&c.metadata(), timeout * GONE_OBSERVER_GRACE_TIMEOUTS)
            .await;
    }
}
