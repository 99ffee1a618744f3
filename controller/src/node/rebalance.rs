//! Rebalancing on the leader: load reports from heartbeats, rebalances asked for through
//! the admin API, and the auto-balancer. A rebalance runs in rounds: each round plans
//! against the current metadata, moves leaders at once and starts at most the bounded number
//! of replica moves; the next round waits until those moves finished, and after leader
//! moves until every broker reported two new load samples (so it plans on loads that show
//! them). It ends when a round
//! plans nothing (or after the timeout), and the auto-balancer then keeps quiet for the
//! cooldown. The state is leader-local: a new leader starts idle.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::balance::{self, BalancerOptions, RebalancePlan};
use crate::metadata::{Command, CommandResult};
use crate::{ControllerError, rpc};

use super::Controller;

/// Reports older than this are not used (a broker heartbeats several times a second).
const LOAD_MAX_AGE: Duration = Duration::from_secs(10);

/// Leaderships are weighed by each partition's highest rate reported within this window.
/// After a round moves leaderships, the moved partitions are missing from the reports
/// until their new leaders sampled a whole interval (brokers sample at most once a second,
/// so up to two seconds); the next round, half a second later under a fast check interval,
/// would see them idle, the brokers that took them light, and move more.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// What `GET /api/v1/rebalance` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RebalanceStatus {
    /// `idle`, `running` or `cooldown`.
    pub state: String,
    /// Whether the auto-balancer starts rebalances on its own.
    pub auto: bool,
    /// Why the running (or last) rebalance started.
    pub reason: Option<String>,
    /// Rebalances started since this controller became leader.
    pub runs: u64,
    /// Leaderships moved by them.
    pub leaders_moved: u64,
    /// Replica moves they started.
    pub replicas_moved: u64,
    /// Milliseconds until the auto-balancer may start again (0 when it may now).
    pub cooldown_remaining_ms: u64,
    /// What the next round of a rebalance would do (a dry run; running, the migration rate
    /// may start fewer replica moves at a time).
    pub plan: RebalancePlan,
}

/// The leader's rebalancing state.
#[derive(Debug, Default)]
pub(super) struct Balancer {
    /// When each replica move of the last minute started (the migration rate's window).
    recent_moves: std::collections::VecDeque<Instant>,
    running: Option<Instant>,
    reason: Option<String>,
    finished: Option<Instant>,
    runs: u64,
    leaders_moved: u64,
    replicas_moved: u64,
    /// After a round moved leaderships: each reporting broker's sample number then. The
    /// next round waits until every one of them reported two newer samples, the second
    /// covering a whole interval after the moves; planned sooner, the moved partitions
    /// weigh what reports from before the moves said, or nothing.
    settling: Option<BTreeMap<u32, u64>>,
}

impl Controller {
    /// The leader keeps broker `id`'s load report (from its heartbeat).
    pub(super) fn record_load(&self, id: u32, load: Option<balance::BrokerLoad>) {
        if let Some(l) = load {
            self.loads.record(id, l);
        }
    }

    /// The rebalance state and a dry-run plan (`start`: also start a rebalance now, whatever
    /// the cooldown). Answered by the leader, which holds the brokers' loads; a follower
    /// asks it.
    pub async fn rebalance(&self, start: bool) -> Result<RebalanceStatus, ControllerError> {
        if self.status().is_leader {
            return self.rebalance_local(start).await;
        }
        let leader = self.status().leader;
        let addr = leader.and_then(|id| self.members().get(&id).cloned());
        let (Some(rpc), Some(addr)) = (&self.rpc, addr) else {
            return Err(ControllerError::NotLeader {
                leader_hint: leader,
            });
        };
        match rpc
            .call(&addr, &rpc::Request::Rebalance { start }, self.rpc_timeout)
            .await
        {
            Ok(rpc::Response::Rebalance(r)) => r.map_err(Into::into),
            Ok(other) => Err(ControllerError::Raft(format!(
                "unexpected answer to a rebalance: {other:?}"
            ))),
            Err(e) => Err(ControllerError::Raft(format!(
                "asking the leader to rebalance: {e}"
            ))),
        }
    }

    pub(super) async fn rebalance_local(
        &self,
        start: bool,
    ) -> Result<RebalanceStatus, ControllerError> {
        self.leading()?;
        if start {
            self.balancer
                .lock()
                .start("asked for through the admin API".into());
            self.rebalance_round().await?;
        }
        Ok(self.rebalance_status())
    }

    /// The plan, with replica moves bounded by the migration rate.
    fn plan_now(&self) -> RebalancePlan {
        self.plan_with(true)
    }

    fn plan_with(&self, rate_limited: bool) -> RebalancePlan {
        let md = self.metadata();
        let mut limits = self.balancer_options.limits;
        if !rate_limited {
            return self.plan_for(&md, limits);
        }
        // The migration rate: replica moves started in the last minute count against
        // `migration_rate` of every replica in the cluster (at least one a minute).
        let replicas: usize = md
            .topics
            .values()
            .flat_map(|t| &t.assignments)
            .map(|a| a.replicas.len())
            .sum();
        let per_minute =
            ((replicas as f64 * self.balancer_options.migration_rate).ceil() as usize).max(1);
        let recent = {
            let mut b = self.balancer.lock();
            while b
                .recent_moves
                .front()
                .is_some_and(|t| t.elapsed() > Duration::from_secs(60))
            {
                b.recent_moves.pop_front();
            }
            b.recent_moves.len()
        };
        let allowed = per_minute.saturating_sub(recent);
        // The plan counts moves in flight against its bound; leave room for `allowed` new.
        let in_flight = md
            .topics
            .values()
            .flat_map(|t| &t.assignments)
            .filter(|a| a.target_replicas.is_some())
            .count();
        limits.max_replica_moves = limits.max_replica_moves.min(in_flight + allowed);
        self.plan_for(&md, limits)
    }

    fn plan_for(
        &self,
        md: &crate::metadata::ClusterMetadata,
        limits: balance::PlanLimits,
    ) -> RebalancePlan {
        let rates = self.loads.partition_rates(RATE_WINDOW);
        balance::plan_with_rates(md, &self.loads.current(LOAD_MAX_AGE), &rates, limits)
    }

    fn rebalance_status(&self) -> RebalanceStatus {
        // The whole next round, as if the migration rate allowed it: what a dry run shows.
        let plan = self.plan_with(false);
        let b = self.balancer.lock();
        let opts = &self.balancer_options;
        let cooldown = b.finished.map_or(Duration::ZERO, |f| {
            opts.cooldown.saturating_sub(f.elapsed())
        });
        RebalanceStatus {
            state: if b.running.is_some() {
                "running"
            } else if !cooldown.is_zero() {
                "cooldown"
            } else {
                "idle"
            }
            .into(),
            auto: opts.enabled,
            reason: b.reason.clone(),
            runs: b.runs,
            leaders_moved: b.leaders_moved,
            replicas_moved: b.replicas_moved,
            cooldown_remaining_ms: cooldown.as_millis() as u64,
            plan,
        }
    }

    /// One round of a running rebalance: nothing while replica moves are in flight; ends
    /// the rebalance when nothing is left to move; else makes the planned moves.
    async fn rebalance_round(&self) -> Result<(), ControllerError> {
        let Some(started) = self.balancer.lock().running else {
            return Ok(());
        };
        if started.elapsed() > self.balancer_options.rebalance_timeout {
            tracing::warn!(
                timeout = ?self.balancer_options.rebalance_timeout,
                "rebalance timed out; the moves made so far stay"
            );
            self.balancer.lock().finish();
            return Ok(());
        }
        if !self.settled() {
            return Ok(());
        }
        let plan = self.plan_now();
        if plan.in_flight > 0 && plan.replica_moves.is_empty() && plan.leader_moves.is_empty() {
            return Ok(());
        }
        if plan.is_empty() && plan.under_replicated > 0 {
            // A replica that fell out of sync cannot take a leadership now; finishing here
            // would leave the imbalance for a whole cooldown. Wait (bounded by the timeout).
            return Ok(());
        }
        if plan.is_empty() && !self.plan_with(false).is_empty() {
            // The migration rate holds the next moves back.
            return Ok(());
        }
        if plan.is_empty() {
            tracing::info!("rebalance finished: nothing left to move");
            self.balancer.lock().finish();
            return Ok(());
        }
        self.execute(&plan).await
    }

    /// Whether the load reports show the last round's leader moves (see
    /// [`Balancer::settling`]); a broker that stopped reporting is not waited for.
    fn settled(&self) -> bool {
        let Some(before) = self.balancer.lock().settling.clone() else {
            return true;
        };
        let now = self.loads.samples(LOAD_MAX_AGE);
        let settled = before
            .iter()
            .all(|(id, at)| now.get(id).is_none_or(|n| *n >= at + 2));
        if settled {
            self.balancer.lock().settling = None;
        }
        settled
    }

    async fn execute(&self, plan: &RebalancePlan) -> Result<(), ControllerError> {
        let mut moved = 0;
        if !plan.leader_moves.is_empty()
            && let CommandResult::LeadersMoved(n) = self
                .propose_local(Command::MoveLeaders {
                    moves: plan.leader_moves.clone(),
                })
                .await?
        {
            moved = n;
        }
        let mut by_topic: BTreeMap<&str, Vec<(u32, Vec<u32>)>> = BTreeMap::new();
        for m in &plan.replica_moves {
            by_topic
                .entry(&m.topic)
                .or_default()
                .push((m.partition, m.replicas.clone()));
        }
        let mut started = 0;
        for (topic, targets) in by_topic {
            let n = targets.len();
            match self
                .propose_local(Command::ReassignPartitions {
                    topic: topic.to_string(),
                    targets,
                })
                .await?
            {
                CommandResult::Refused(e) => {
                    tracing::warn!(topic, error = %e, "rebalance: reassignment refused");
                }
                _ => started += n,
            }
        }
        let leader_moves: Vec<String> = plan
            .leader_moves
            .iter()
            .map(|m| format!("{}/{} {}->{}", m.topic, m.partition, m.from, m.to))
            .collect();
        let loads: Vec<String> = plan
            .brokers
            .iter()
            .map(|b| format!("{}: {:.2}->{:.2}", b.id, b.leader_load, b.leader_load_after))
            .collect();
        tracing::info!(
            leaders = moved,
            replicas = started,
            ?leader_moves,
            leader_loads = ?loads,
            "rebalance round: moved leaderships and started replica moves"
        );
        let samples = self.loads.samples(LOAD_MAX_AGE);
        let mut b = self.balancer.lock();
        if moved > 0 {
            b.settling = Some(samples);
        }
        b.leaders_moved += u64::from(moved);
        b.replicas_moved += started as u64;
        let now = Instant::now();
        b.recent_moves.extend(std::iter::repeat_n(now, started));
        Ok(())
    }
}

impl Balancer {
    fn start(&mut self, reason: String) {
        if self.running.is_none() {
            self.running = Some(Instant::now());
            self.runs += 1;
        }
        self.reason = Some(reason);
    }

    fn finish(&mut self) {
        self.running = None;
        self.settling = None;
        self.finished = Some(Instant::now());
    }
}

/// The leader's balancing loop: drives a running rebalance, and with the auto-balancer on
/// starts one when [`balance::trigger`] finds a reason outside the cooldown.
pub(super) async fn balance(controller: std::sync::Weak<Controller>, opts: BalancerOptions) {
    let mut was_leader = false;
    loop {
        tokio::time::sleep(opts.check_interval).await;
        let Some(c) = controller.upgrade() else {
            return;
        };
        let leader = c.status().is_leader;
        if leader != was_leader {
            // Leader-local state: a new leader starts idle (loads arrive with heartbeats).
            *c.balancer.lock() = Balancer::default();
            was_leader = leader;
        }
        if !leader {
            continue;
        }
        let (running, cooling) = {
            let b = c.balancer.lock();
            (
                b.running.is_some(),
                b.finished.is_some_and(|f| f.elapsed() < opts.cooldown),
            )
        };
        if !running
            && opts.enabled
            && !cooling
            && let Some(reason) = balance::trigger(&c.plan_now(), &opts)
        {
            tracing::info!(%reason, "auto-balancer starts a rebalance");
            c.balancer.lock().start(reason);
        }
        if let Err(e) = c.rebalance_round().await {
            tracing::warn!(error = %e, "rebalance round failed; retrying");
        }
    }
}
