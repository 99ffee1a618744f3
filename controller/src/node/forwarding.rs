//! Writes reach the leader from any node: run locally when leading, else forwarded over
//! internal RPC; and the internal RPC handler that receives forwarded writes.

use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};

use crate::metadata::{Command, CommandResult};
use crate::{ControllerError, rpc};

use super::Controller;

impl Controller {
    /// Applies `cmd` through Raft. On a follower the write is forwarded to the leader over
    /// internal RPC; while no leader is known (an election) it is retried for up to twice the
    /// election timeout, then refused with `NotLeader`.
    pub(super) async fn propose(&self, cmd: Command) -> Result<CommandResult, ControllerError> {
        self.on_leader(LeaderOp::Write(cmd)).await
    }

    /// Runs `op` here if this node leads, else on the leader (see [`Controller::propose`]).
    pub(super) async fn on_leader(&self, op: LeaderOp) -> Result<CommandResult, ControllerError> {
        let deadline = Instant::now() + self.election_timeout * 2;
        loop {
            let hint = match self.run_local(op.clone()).await {
                Err(ControllerError::NotLeader { leader_hint }) => leader_hint,
                other => return other,
            };
            let leader_addr = hint.and_then(|id| self.members().get(&id).cloned());
            if let (Some(rpc), Some(addr)) = (&self.rpc, &leader_addr) {
                let request = op.request();
                // A dead leader does not answer; the election that replaces it does. Give up
                // on the forward as soon as this node learns of another leader.
                let mut metrics = self.raft.metrics();
                let moved = metrics.wait_for(|m| m.current_leader != hint);
                tokio::select! {
                    r = rpc.call(addr, &request, op.timeout(self.rpc_timeout)) => match r {
                        Ok(rpc::Response::Propose(Ok(r))) => return Ok(r),
                        Ok(rpc::Response::Propose(Err(rpc::ProposeError::NotLeader { .. }))) => {}
                        Ok(rpc::Response::Propose(Err(e))) => return Err(e.into()),
                        // The leader is unreachable: look again.
                        Ok(_) | Err(_) => {}
                    },
                    _ = moved => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(ControllerError::NotLeader { leader_hint: hint });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) async fn run_local(&self, op: LeaderOp) -> Result<CommandResult, ControllerError> {
        match op {
            LeaderOp::Heartbeat { id, load } => self.heartbeat_local(id, load).await,
            LeaderOp::AddLearner { id, addr } => self.add_observer_local(id, addr).await,
            LeaderOp::Write(cmd) => self.propose_local(cmd).await,
            LeaderOp::AddVoter { id, addr } => self.add_voter_local(id, addr).await,
            LeaderOp::RemoveVoter { id } => self.remove_voter_local(id).await,
        }
    }

    /// Applies `cmd` if this node leads. Bounded by the RPC timeout: a leader cut off from
    /// its quorum cannot commit, and says so instead of hanging.
    pub(super) async fn propose_local(
        &self,
        cmd: Command,
    ) -> Result<CommandResult, ControllerError> {
        let started = Instant::now();
        let written = tokio::time::timeout(self.rpc_timeout, self.raft.client_write(cmd)).await;
        self.commit_latency.since(started);
        let Ok(written) = written else {
            return Err(ControllerError::CommitTimeout(self.rpc_timeout));
        };
        match written {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ControllerError::NotLeader {
                    leader_hint: f.leader_id,
                })
            }
            Err(e) => Err(ControllerError::Raft(e.to_string())),
        }
    }

    /// Proposes `cmd` and takes its answer out of the result with `pick`: a refusal becomes
    /// the error, and a result `pick` does not expect is reported as a controller bug.
    pub(super) async fn propose_expect<T>(
        &self,
        cmd: Command,
        pick: impl FnOnce(CommandResult) -> Option<T>,
    ) -> Result<T, ControllerError> {
        match self.propose(cmd).await? {
            CommandResult::Refused(e) => Err(e.into()),
            r => {
                let kind = r.kind();
                pick(r).ok_or_else(|| ControllerError::Raft(format!("unexpected result {kind}")))
            }
        }
    }

    /// Proposes `cmd`; a refusal becomes the error, any other result is success.
    pub(super) async fn propose_applied(&self, cmd: Command) -> Result<(), ControllerError> {
        self.propose_expect(cmd, |_| Some(())).await
    }
}

/// What only the leader can do; a follower forwards it.
#[derive(Debug, Clone)]
pub(super) enum LeaderOp {
    Write(Command),
    Heartbeat {
        id: u32,
        load: Option<crate::balance::BrokerLoad>,
    },
    AddLearner {
        id: u64,
        addr: String,
    },
    AddVoter {
        id: u64,
        addr: String,
    },
    RemoveVoter {
        id: u64,
    },
}

impl LeaderOp {
    fn request(&self) -> rpc::Request {
        match self {
            Self::Write(c) => rpc::Request::Propose(c.clone()),
            Self::AddVoter { id, addr } => rpc::Request::AddController {
                id: *id,
                addr: addr.clone(),
            },
            Self::RemoveVoter { id } => rpc::Request::RemoveController { id: *id },
            Self::Heartbeat { id, load } => rpc::Request::BrokerHeartbeat {
                id: *id,
                load: load.clone(),
            },
            Self::AddLearner { id, addr } => rpc::Request::AddLearner {
                id: *id,
                addr: addr.clone(),
            },
        }
    }

    /// A new voter first copies the whole log: give it longer than a write.
    fn timeout(&self, rpc_timeout: Duration) -> Duration {
        match self {
            Self::AddVoter { .. } | Self::AddLearner { .. } => rpc_timeout * 6,
            _ => rpc_timeout,
        }
    }
}

impl From<rpc::ProposeError> for ControllerError {
    fn from(e: rpc::ProposeError) -> Self {
        match e {
            rpc::ProposeError::NotLeader { leader_hint } => Self::NotLeader { leader_hint },
            rpc::ProposeError::CommitTimeout(d) => Self::CommitTimeout(d),
            rpc::ProposeError::Membership(m) => Self::Membership(m),
            rpc::ProposeError::Raft(m) => Self::Raft(m),
        }
    }
}

fn to_propose_error(e: ControllerError) -> rpc::ProposeError {
    match e {
        ControllerError::NotLeader { leader_hint } => rpc::ProposeError::NotLeader { leader_hint },
        ControllerError::CommitTimeout(d) => rpc::ProposeError::CommitTimeout(d),
        ControllerError::Membership(m) => rpc::ProposeError::Membership(m),
        other => rpc::ProposeError::Raft(other.to_string()),
    }
}

impl rpc::Handler<rpc::Request, rpc::Response> for Controller {
    fn handle(&self, request: rpc::Request) -> futures::future::BoxFuture<'_, rpc::Response> {
        Box::pin(async move {
            match request {
                rpc::Request::RaftAppend(r) => {
                    let answer = self.raft.append_entries(r).await;
                    // Anything but "your vote is stale" means the current leader reached
                    // this node (a conflict is the start of catching up).
                    let reached = match &answer {
                        Ok(openraft::raft::AppendEntriesResponse::HigherVote(_)) | Err(_) => false,
                        Ok(_) => true,
                    };
                    if reached {
                        self.leader_reached
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    rpc::Response::RaftAppend(answer)
                }
                rpc::Request::RaftVote(r) => rpc::Response::RaftVote(self.raft.vote(r).await),
                rpc::Request::RaftSnapshot(r) => {
                    let answer = self.raft.install_snapshot(r).await;
                    if answer.is_ok() {
                        self.leader_reached
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    rpc::Response::RaftSnapshot(answer)
                }
                rpc::Request::Propose(cmd) => rpc::Response::Propose(
                    self.run_local(LeaderOp::Write(cmd))
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::AddController { id, addr } => rpc::Response::Propose(
                    self.run_local(LeaderOp::AddVoter { id, addr })
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::AddLearner { id, addr } => rpc::Response::Propose(
                    self.run_local(LeaderOp::AddLearner { id, addr })
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::Rebalance { start } => rpc::Response::Rebalance(
                    self.rebalance_local(start).await.map_err(to_propose_error),
                ),
                rpc::Request::BrokerHeartbeat { id, load } => rpc::Response::Propose(
                    self.run_local(LeaderOp::Heartbeat { id, load })
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::RemoveController { id } => rpc::Response::Propose(
                    self.run_local(LeaderOp::RemoveVoter { id })
                        .await
                        .map_err(to_propose_error),
                ),
                rpc::Request::ReplicaFetch(r) => match self
                    .replica_service
                    .get()
                    .and_then(std::sync::Weak::upgrade)
                {
                    Some(s) => rpc::Response::ReplicaFetch(s.replica_fetch(r).await),
                    None => rpc::Response::Failed("this node is not a broker".into()),
                },
                rpc::Request::Status => {
                    let initialized = self.raft.is_initialized().await.unwrap_or(false);
                    let st = self.status();
                    rpc::Response::Status {
                        initialized,
                        leader: st.leader,
                        term: st.term,
                    }
                }
            }
        })
    }

    fn failed(&self, reason: String) -> rpc::Response {
        rpc::Response::Failed(reason)
    }
}
