//! Controllers joining and leaving the Raft membership: voters added and removed, brokers'
//! metadata observers joining as learners.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use openraft::BasicNode;
use openraft::error::{ClientWriteError, RaftError};

use crate::metadata::CommandResult;
use crate::{BROKER_NODE_BASE, ControllerError, ControllerOptions, rpc};

use super::Controller;
use super::forwarding::LeaderOp;

impl Controller {
    /// Observer mode: asks the controllers (any of them forwards to the leader) to add this
    /// node as a learner at its listener's address, then waits until it knows the leader and
    /// has applied the log it was sent.
    pub(super) async fn join_as_observer(
        &self,
        opts: &ControllerOptions,
    ) -> Result<(), ControllerError> {
        let advertised_port = opts
            .advertised_addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .filter(|p| *p != 0);
        let listen_port = opts.rpc_listen.first().map(|a| a.port());
        let addr = match self.rpc_addr() {
            // A port of its own is advertised (a proxy or NAT in front): use it verbatim.
            Some(_) if advertised_port.is_some() && advertised_port != listen_port => {
                opts.advertised_addr.clone()
            }
            // Listening on an ephemeral or wildcard address: advertise the host configured
            // in advertised_addr with the port actually bound.
            Some(bound) => match opts.advertised_addr.rsplit_once(':') {
                Some((host, _)) if !host.is_empty() => format!("{host}:{}", bound.port()),
                _ => bound.to_string(),
            },
            None => opts.advertised_addr.clone(),
        };
        let Some(rpc) = &self.rpc else {
            return Err(ControllerError::Raft(
                "observer mode needs internal RPC".into(),
            ));
        };
        let deadline = Instant::now() + opts.rpc_timeout * 6;
        let mut last_error = String::from("no controller answered");
        'admitted: loop {
            for target in &opts.join {
                let request = rpc::Request::AddLearner {
                    id: opts.node_id,
                    addr: addr.clone(),
                };
                match rpc.call(target, &request, opts.rpc_timeout * 6).await {
                    Ok(rpc::Response::Propose(Ok(_))) => break 'admitted,
                    Ok(rpc::Response::Propose(Err(e))) => last_error = format!("{target}: {e}"),
                    Ok(other) => last_error = format!("{target}: unexpected answer {other:?}"),
                    Err(e) => last_error = e.to_string(),
                }
            }
            if Instant::now() >= deadline {
                return Err(ControllerError::Raft(format!(
                    "could not join the controller cluster at {:?}: {last_error}",
                    opts.join
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let wait = opts.rpc_timeout * 2;
        self.raft
            .wait(Some(wait))
            .metrics(
                |m| m.current_leader.is_some() && m.last_applied.is_some(),
                "observer knows the leader and has applied the log",
            )
            .await
            .map_err(|_| ControllerError::NoLeader(wait))?;
        tracing::info!(node_id = opts.node_id, %addr, "joined the controller cluster as an observer");
        Ok(())
    }

    /// Adds controller `id` at `addr` as a voter: first as a learner that catches up with the
    /// log (or a snapshot), then promoted through a joint configuration. Runs on the leader;
    /// a follower forwards it. Idempotent: a voter already present is left as it is.
    ///
    /// ```no_run
    /// # async fn demo(c: &rustmq_controller::Controller) -> Result<(), rustmq_controller::ControllerError> {
    /// c.add_controller(4, "controller-4:9095".into()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add_controller(&self, id: u64, addr: String) -> Result<(), ControllerError> {
        if id == 0 {
            return Err(ControllerError::Membership(
                "controller ids start at 1".into(),
            ));
        }
        self.on_leader(LeaderOp::AddVoter { id, addr })
            .await
            .map(drop)
    }

    /// Removes controller `id` from the voters (and the cluster). Refused when it would leave
    /// no voter; removing the leader makes it step down once the change commits.
    pub async fn remove_controller(&self, id: u64) -> Result<(), ControllerError> {
        self.on_leader(LeaderOp::RemoveVoter { id }).await.map(drop)
    }

    pub(super) fn membership_err(
        &self,
        e: RaftError<u64, ClientWriteError<u64, BasicNode>>,
    ) -> ControllerError {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                ControllerError::NotLeader {
                    leader_hint: f.leader_id,
                }
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                ControllerError::Membership(e.to_string())
            }
            other => ControllerError::Raft(other.to_string()),
        }
    }

    pub(super) fn leading(&self) -> Result<openraft::Membership<u64, BasicNode>, ControllerError> {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.node_id) {
            return Err(ControllerError::NotLeader {
                leader_hint: m.current_leader,
            });
        }
        Ok(m.membership_config.membership().clone())
    }

    pub(super) async fn add_voter_local(
        &self,
        id: u64,
        addr: String,
    ) -> Result<CommandResult, ControllerError> {
        let membership = self.leading()?;
        if membership.voter_ids().any(|v| v == id) {
            return Ok(CommandResult::Ok);
        }
        if self.rpc.is_none() {
            return Err(ControllerError::Membership(
                "this controller runs without internal RPC (dev mode) and cannot have peers".into(),
            ));
        }
        let timeout = self.rpc_timeout * 6;
        if membership.get_node(&id).is_none() {
            // Blocks until the learner has caught up, so promotion does not stall writes.
            let learner = self
                .raft
                .add_learner(id, BasicNode { addr: addr.clone() }, true);
            match tokio::time::timeout(timeout, learner).await {
                Ok(r) => {
                    r.map_err(|e| self.membership_err(e))?;
                }
                Err(_) => {
                    // Do not leave an unreachable learner in the membership.
                    let forget = openraft::ChangeMembers::RemoveNodes([id].into());
                    let _ = tokio::time::timeout(
                        self.rpc_timeout,
                        self.raft.change_membership(forget, false),
                    )
                    .await;
                    return Err(ControllerError::Membership(format!(
                        "controller-{id} at {addr} did not catch up with the log within {timeout:?} (is it running and reachable?); not added"
                    )));
                }
            }
        }
        let promote = openraft::ChangeMembers::AddVoterIds([id].into());
        tokio::time::timeout(
            self.rpc_timeout,
            self.raft.change_membership(promote, false),
        )
        .await
        .map_err(|_| ControllerError::CommitTimeout(self.rpc_timeout))?
        .map_err(|e| self.membership_err(e))?;
        tracing::info!(controller = id, %addr, "controller added as a voter");
        Ok(CommandResult::Ok)
    }

    /// Adds (or re-addresses) a broker's metadata observer. Refused for controller ids:
    /// voters are added through [`Controller::add_controller`].
    pub(super) async fn add_observer_local(
        &self,
        id: u64,
        addr: String,
    ) -> Result<CommandResult, ControllerError> {
        let membership = self.leading()?;
        if id < BROKER_NODE_BASE {
            return Err(ControllerError::Membership(format!(
                "node id {id} is a controller id; observers are brokers"
            )));
        }
        let node = BasicNode { addr: addr.clone() };
        let timeout = self.rpc_timeout * 6;
        let work = async {
            match membership.get_node(&id) {
                Some(n) if n.addr == addr => {}
                // A broker restarted on another address: only a learner's address changes.
                Some(_) => {
                    self.raft
                        .change_membership(
                            openraft::ChangeMembers::SetNodes([(id, node)].into()),
                            false,
                        )
                        .await
                        .map_err(|e| self.membership_err(e))?;
                }
                None => {
                    self.raft
                        .add_learner(id, node, true)
                        .await
                        .map_err(|e| self.membership_err(e))?;
                }
            }
            Ok(CommandResult::Ok)
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| ControllerError::CommitTimeout(timeout))?
    }

    pub(super) async fn remove_voter_local(
        &self,
        id: u64,
    ) -> Result<CommandResult, ControllerError> {
        let membership = self.leading()?;
        if membership.get_node(&id).is_none() {
            return Err(ControllerError::Membership(format!(
                "controller-{id} is not a member of this cluster"
            )));
        }
        if membership.voter_ids().all(|v| v == id) {
            return Err(ControllerError::Membership(format!(
                "controller-{id} is the last voter"
            )));
        }
        let change = openraft::ChangeMembers::RemoveVoters([id].into());
        tokio::time::timeout(self.rpc_timeout, self.raft.change_membership(change, false))
            .await
            .map_err(|_| ControllerError::CommitTimeout(self.rpc_timeout))?
            .map_err(|e| self.membership_err(e))?;
        tracing::info!(controller = id, "controller removed");
        Ok(CommandResult::Ok)
    }

    /// On the leader: removes the metadata observer (Raft learner) of every broker that has
    /// been offline and without any replica for `grace`: one drained and stopped for good
    /// (a scale-in). Kept, its learner would be called at its address every heartbeat
    /// interval, forever. The grace spares brokers that are slow to heartbeat while they
    /// start (marked offline for a moment before they hold anything). A broker that comes
    /// back joins again when it starts, or on its next heartbeat (see
    /// [`Controller::rejoin_observer`]).
    pub(super) async fn forget_gone_observers(
        &self,
        md: &crate::metadata::ClusterMetadata,
        grace: Duration,
    ) {
        let Ok(membership) = self.leading() else {
            self.gone_since.lock().clear();
            return;
        };
        let candidates: Vec<u32> = membership
            .nodes()
            .filter_map(|(id, _)| id.checked_sub(BROKER_NODE_BASE))
            .filter_map(|b| u32::try_from(b).ok())
            .filter(|b| md.offline_brokers.contains(b) && !md.holds_replicas(*b))
            .collect();
        let now = Instant::now();
        let gone: std::collections::BTreeSet<u64> = {
            let mut since = self.gone_since.lock();
            since.retain(|b, _| candidates.contains(b));
            candidates
                .iter()
                .filter(|b| now.duration_since(*since.entry(**b).or_insert(now)) >= grace)
                .map(|b| BROKER_NODE_BASE + u64::from(*b))
                .collect()
        };
        if gone.is_empty() {
            return;
        }
        let change = openraft::ChangeMembers::RemoveNodes(gone.clone());
        match tokio::time::timeout(self.rpc_timeout, self.raft.change_membership(change, false))
            .await
        {
            Ok(Ok(_)) => tracing::info!(
                brokers = ?gone.iter().map(|id| id - BROKER_NODE_BASE).collect::<Vec<_>>(),
                ?grace,
                "removed the metadata observers of brokers offline and without replicas"
            ),
            Ok(Err(e)) => tracing::debug!(error = %e, "removing gone observers"),
            Err(_) => tracing::debug!("removing gone observers timed out"),
        }
    }

    /// On the leader, for a heartbeat from broker `b`: adds its metadata observer back if
    /// it is not a member (removed while the broker was offline with no replica), at the
    /// address it registered. In the background: the heartbeat is answered at once.
    pub(super) fn rejoin_observer(&self, b: &crate::metadata::BrokerRegistration) {
        let id = BROKER_NODE_BASE + u64::from(b.id);
        let Ok(membership) = self.leading() else {
            return;
        };
        if membership.get_node(&id).is_some() {
            return;
        }
        let raft = self.raft.clone();
        let node = BasicNode {
            addr: format!("{}:{}", b.host, b.port_rpc),
        };
        tokio::spawn(async move {
            match raft.add_learner(id, node, false).await {
                Ok(_) => tracing::info!(
                    broker = id - BROKER_NODE_BASE,
                    "a broker without a metadata observer heartbeats: added it back"
                ),
                Err(e) => tracing::debug!(error = %e, "adding an observer back"),
            }
        });
    }

    /// Node ids of the voters.
    pub fn voters(&self) -> std::collections::BTreeSet<u64> {
        let m = self.raft.metrics().borrow().clone();
        m.membership_config.membership().voter_ids().collect()
    }

    /// On the leader: how many log entries each other member is behind its last log entry
    /// (`None` on a follower, which does not know). A member the leader has not replicated
    /// to yet counts as behind by the whole log.
    pub fn replication_lag(&self) -> Option<BTreeMap<u64, u64>> {
        let m = self.raft.metrics().borrow().clone();
        let last = m.last_log_index.unwrap_or(0);
        m.replication.map(|r| {
            r.iter()
                .filter(|(id, _)| **id != self.node_id)
                .map(|(id, matched)| (*id, last.saturating_sub(matched.map_or(0, |l| l.index))))
                .collect()
        })
    }

    /// Voters and learners with their addresses, as the committed membership says.
    pub fn members(&self) -> BTreeMap<u64, String> {
        let m = self.raft.metrics().borrow().clone();
        m.membership_config
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.addr.clone()))
            .collect()
    }
}
