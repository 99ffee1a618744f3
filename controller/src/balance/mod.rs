//! Rebalancing: the brokers' load reports, the plan that evens replicas and leaderships
//! out, and when the auto-balancer starts one. The controller leader runs the plans
//! (`node/rebalance.rs`); everything here is plain data and functions.

mod load;
mod plan;

pub use load::{BrokerLoad, LoadReports, PartitionLoad, PartitionRates};
pub use plan::{BrokerBalance, PlanLimits, RebalancePlan, ReplicaMove, plan, plan_with_rates};

use std::time::Duration;

/// How the auto-balancer behaves (`[autobalancer]` in `controller.toml`).
#[derive(Debug, Clone, PartialEq)]
pub struct BalancerOptions {
    /// Start rebalances on its own (a rebalance asked for through the API runs either way).
    pub enabled: bool,
    /// A broker using more of its CPU than this is a reason to rebalance.
    pub cpu_threshold: f64,
    /// A broker using more of its memory than this is a reason to rebalance.
    pub memory_threshold: f64,
    /// The busiest broker's leader load may exceed the mean by this fraction before the
    /// auto-balancer acts (Kafka's `leader.imbalance.per.broker.percentage`, 10%).
    pub leader_imbalance: f64,
    /// Quiet time after a rebalance ends before the auto-balancer starts another.
    pub cooldown: Duration,
    /// How often the leader looks at the balance and drives a running rebalance.
    pub check_interval: Duration,
    /// A rebalance still moving after this long is given up (the moves already made stay).
    pub rebalance_timeout: Duration,
    /// Bounds of every round.
    pub limits: PlanLimits,
    /// Fraction of the cluster's replicas that may start moving per minute (the seed's
    /// `traffic_migration_rate`); at least one move a minute is always allowed.
    pub migration_rate: f64,
}

impl Default for BalancerOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            cpu_threshold: 0.80,
            memory_threshold: 0.75,
            leader_imbalance: 0.10,
            cooldown: Duration::from_secs(300),
            check_interval: Duration::from_secs(5),
            rebalance_timeout: Duration::from_secs(300),
            limits: PlanLimits::default(),
            migration_rate: 0.1,
        }
    }
}

/// Why the auto-balancer would start a rebalance on `plan` now, or `None`: the plan must
/// move something, and the leader load must be skewed beyond the tolerance, replicas
/// uneven by more than one, or a broker above its CPU or memory threshold. Never while a
/// partition is under-replicated: a broker that is catching up (after a restart, say)
/// cannot take leaderships yet, and a plan made now would stop half-way.
///
/// ```
/// use rustmq_controller::balance::{BalancerOptions, RebalancePlan, trigger};
/// assert_eq!(trigger(&RebalancePlan::default(), &BalancerOptions::default()), None);
/// ```
pub fn trigger(plan: &RebalancePlan, opts: &BalancerOptions) -> Option<String> {
    if plan.is_empty() || plan.under_replicated > 0 {
        return None;
    }
    if let Some(b) = plan
        .brokers
        .iter()
        .find(|b| b.load.as_ref().is_some_and(|l| l.cpu > opts.cpu_threshold))
    {
        return Some(format!(
            "broker {} uses {:.0}% of its CPU (threshold {:.0}%)",
            b.id,
            b.load.as_ref().map_or(0.0, |l| l.cpu) * 100.0,
            opts.cpu_threshold * 100.0
        ));
    }
    if let Some(b) = plan.brokers.iter().find(|b| {
        b.load
            .as_ref()
            .is_some_and(|l| l.memory > opts.memory_threshold)
    }) {
        return Some(format!(
            "broker {} uses {:.0}% of its memory (threshold {:.0}%)",
            b.id,
            b.load.as_ref().map_or(0.0, |l| l.memory) * 100.0,
            opts.memory_threshold * 100.0
        ));
    }
    if plan.replica_spread() > 1 {
        return Some(format!(
            "replica counts differ by {} between brokers",
            plan.replica_spread()
        ));
    }
    let skew = plan.leader_skew();
    (skew > opts.leader_imbalance).then(|| {
        format!(
            "the busiest broker's leader load is {:.0}% above the mean (tolerance {:.0}%)",
            skew * 100.0,
            opts.leader_imbalance * 100.0
        )
    })
}

#[cfg(test)]
mod tests;
