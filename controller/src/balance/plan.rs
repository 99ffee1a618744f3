//! The rebalance plan: a pure function of the metadata and the brokers' loads, so every
//! decision can be tested without a cluster and a dry run shows exactly what would move.
//!
//! Two steps. Replicas first: while one eligible broker (live, not draining) holds at least
//! two replicas more than another, one replica moves from the fuller to the emptier broker,
//! never lowering the number of racks the partition spans, followers before leaders (moving
//! a follower needs no leadership change). Then leaders: each partition weighs one plus its
//! share of the produce traffic (so counts and bytes count half each); while moving a
//! leadership to another in-sync replica narrows the gap between the two brokers by more
//! than half a partition, it moves. Partitions being reassigned are left alone, and the
//! moves in flight count against the bound on replica moves.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::load::{BrokerLoad, PartitionRates};
use crate::metadata::{ClusterMetadata, LeaderMove};

/// How much one plan may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// Replica moves in flight at once (those already moving count).
    pub max_replica_moves: usize,
    /// Leadership moves in one plan.
    pub max_leader_moves: usize,
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self {
            max_replica_moves: 8,
            max_leader_moves: 64,
        }
    }
}

/// One replica leaving broker `from` for broker `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplicaMove {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// The broker giving the replica up.
    pub from: u32,
    /// The broker receiving it.
    pub to: u32,
    /// The partition's replica list afterwards (preferred leader first).
    pub replicas: Vec<u32>,
}

/// One broker before and after the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BrokerBalance {
    /// Broker id.
    pub id: u32,
    /// Rack.
    pub rack: String,
    /// Replicas it holds now.
    pub replicas: usize,
    /// Replicas it holds after the plan.
    pub replicas_after: usize,
    /// Partitions it leads now.
    pub leaders: usize,
    /// Partitions it leads after the plan.
    pub leaders_after: usize,
    /// Its leader load now (one per partition plus the partition's share of traffic).
    pub leader_load: f64,
    /// Its leader load after the plan.
    pub leader_load_after: f64,
    /// Its last reported load, if any.
    pub load: Option<BrokerLoad>,
}

/// What a rebalance would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RebalancePlan {
    /// Leadership moves.
    pub leader_moves: Vec<LeaderMove>,
    /// Replica moves.
    pub replica_moves: Vec<ReplicaMove>,
    /// Partitions already being reassigned (not planned again).
    pub in_flight: usize,
    /// Partitions with fewer in-sync replicas than replicas (a broker is catching up).
    pub under_replicated: usize,
    /// Every eligible broker, before and after.
    pub brokers: Vec<BrokerBalance>,
}

impl RebalancePlan {
    /// Nothing would move.
    pub fn is_empty(&self) -> bool {
        self.leader_moves.is_empty() && self.replica_moves.is_empty()
    }

    /// How far the busiest broker's leader load is above the mean, as a fraction of the mean
    /// (0 when even).
    pub fn leader_skew(&self) -> f64 {
        skew(self.brokers.iter().map(|b| b.leader_load))
    }

    /// Replicas of the fullest broker minus those of the emptiest.
    pub fn replica_spread(&self) -> usize {
        let counts = self.brokers.iter().map(|b| b.replicas);
        counts.clone().max().unwrap_or(0) - counts.min().unwrap_or(0)
    }
}

fn skew(loads: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = loads.clone().count();
    let total: f64 = loads.clone().sum();
    if n == 0 || total <= 0.0 {
        return 0.0;
    }
    let mean = total / n as f64;
    loads.fold(0.0, f64::max) / mean - 1.0
}

type Key = (String, u32);

/// Computes the plan.
///
/// ```
/// use std::collections::BTreeMap;
/// use rustmq_controller::balance::{plan, PlanLimits};
/// use rustmq_controller::metadata::{BrokerRegistration, ClusterMetadata, Command, LeaderMove, TopicConfig};
/// let mut md = ClusterMetadata::default();
/// for id in 1..=2 {
///     md.apply(Command::RegisterBroker(BrokerRegistration {
///         id, host: "h".into(), port_quic: 1, port_rpc: 2, rack_id: "r".into(), incarnation: 0,
///         empty_log: false,
///     }));
/// }
/// md.apply(Command::CreateTopic {
///     name: "t".into(), partitions: 4, replication_factor: 2,
///     config: TopicConfig::default(), created_at: String::new(),
/// });
/// // Every leadership on broker 1 (as after broker 2 restarted).
/// let moves = (0..4).map(|p| LeaderMove { topic: "t".into(), partition: p, from: 2, to: 1 }).collect();
/// md.apply(Command::MoveLeaders { moves });
/// let plan = plan(&md, &BTreeMap::new(), PlanLimits::default());
/// assert_eq!(plan.leader_moves.len(), 2);
/// assert!(plan.brokers.iter().all(|b| b.leaders_after == 2));
/// ```
pub fn plan(
    md: &ClusterMetadata,
    loads: &BTreeMap<u32, BrokerLoad>,
    limits: PlanLimits,
) -> RebalancePlan {
    let rates: PartitionRates = loads
        .values()
        .flat_map(|l| &l.partitions)
        .map(|p| ((p.topic_id, p.partition), p.bytes_in_per_sec.max(0.0)))
        .collect();
    plan_with_rates(md, loads, &rates, limits)
}

/// [`plan`], weighing leaderships by `rates` (such as [`super::LoadReports::partition_rates`],
/// which remembers partitions whose leadership just moved) instead of the partitions in
/// the brokers' latest reports.
pub fn plan_with_rates(
    md: &ClusterMetadata,
    loads: &BTreeMap<u32, BrokerLoad>,
    rates: &PartitionRates,
    limits: PlanLimits,
) -> RebalancePlan {
    let eligible: BTreeSet<u32> = md
        .live_brokers()
        .map(|b| b.id)
        .filter(|id| !md.draining_brokers.contains(id))
        .collect();
    let rack = |id: u32| md.brokers.get(&id).map(|b| b.rack_id.clone());

    // The partitions' replicas as the plan changes them.
    let mut replicas: BTreeMap<Key, Vec<u32>> = BTreeMap::new();
    let mut leaders: BTreeMap<Key, u32> = BTreeMap::new();
    let mut isr: BTreeMap<Key, Vec<u32>> = BTreeMap::new();
    let mut moving: BTreeSet<Key> = BTreeSet::new();
    let mut under_replicated = 0;
    for t in md.topics.values() {
        for a in &t.assignments {
            under_replicated += usize::from(a.isr.len() < a.replicas.len());
            let key = (t.name.clone(), a.partition);
            if let Some(target) = &a.target_replicas {
                moving.insert(key.clone());
                replicas.insert(key.clone(), target.clone());
            } else {
                replicas.insert(key.clone(), a.replicas.clone());
            }
            leaders.insert(key.clone(), a.leader);
            isr.insert(key, a.isr.clone());
        }
    }
    let count_replicas = |replicas: &BTreeMap<Key, Vec<u32>>| {
        let mut c: BTreeMap<u32, usize> = eligible.iter().map(|b| (*b, 0)).collect();
        for r in replicas.values().flatten() {
            if let Some(n) = c.get_mut(r) {
                *n += 1;
            }
        }
        c
    };
    let replicas_before = count_replicas(&replicas);

    // 1. Replicas: from the fullest broker that has a movable replica to the emptiest
    //    broker that can take it.
    let mut replica_moves = Vec::new();
    let mut counts = replicas_before.clone();
    let mut changed: BTreeSet<Key> = BTreeSet::new();
    let mut budget = limits.max_replica_moves.saturating_sub(moving.len());
    while budget > 0 {
        let mut fullest: Vec<(u32, usize)> = counts.iter().map(|(b, n)| (*b, *n)).collect();
        fullest.sort_by_key(|(id, n)| (std::cmp::Reverse(*n), *id));
        let found = fullest.iter().find_map(|&(hi, hi_count)| {
            let mut targets: Vec<(u32, usize)> = counts
                .iter()
                .filter(|(id, n)| **id != hi && hi_count > **n + 1)
                .map(|(id, n)| (*id, *n))
                .collect();
            targets.sort_by_key(|(id, n)| (*n, *id));
            targets.iter().find_map(|&(lo, _)| {
                let candidates = replicas.iter().filter(|(k, r)| {
                    !moving.contains(*k)
                        && !changed.contains(*k)
                        && r.contains(&hi)
                        && !r.contains(&lo)
                        && keeps_racks(r, hi, lo, &rack)
                });
                // Followers first: moving one needs no leadership change.
                let mut leader_candidate = None;
                for (k, _) in candidates {
                    if leaders.get(k) != Some(&hi) {
                        return Some((k.clone(), hi, lo));
                    }
                    leader_candidate.get_or_insert((k.clone(), hi, lo));
                }
                leader_candidate
            })
        });
        let Some((key, hi, lo)) = found else {
            break;
        };
        let Some(r) = replicas.get_mut(&key) else {
            break;
        };
        for b in r.iter_mut() {
            if *b == hi {
                *b = lo;
            }
        }
        replica_moves.push(ReplicaMove {
            topic: key.0.clone(),
            partition: key.1,
            from: hi,
            to: lo,
            replicas: r.clone(),
        });
        changed.insert(key);
        *counts.entry(hi).or_default() -= 1;
        *counts.entry(lo).or_default() += 1;
        budget -= 1;
    }

    // 2. Leaders, weighted by traffic.
    let by_id = rates;
    let total_in: f64 = by_id.values().sum();
    let partitions = leaders.len().max(1) as f64;
    let topic_ids: BTreeMap<&str, u64> = md
        .topics
        .values()
        .map(|t| (t.name.as_str(), t.id))
        .collect();
    let weight = |k: &Key| -> f64 {
        let bytes = topic_ids
            .get(k.0.as_str())
            .and_then(|id| by_id.get(&(*id, k.1)))
            .copied()
            .unwrap_or(0.0);
        1.0 + if total_in > 0.0 {
            bytes * partitions / total_in
        } else {
            0.0
        }
    };
    let leader_loads = |leaders: &BTreeMap<Key, u32>| {
        let mut l: BTreeMap<u32, (usize, f64)> = eligible.iter().map(|b| (*b, (0, 0.0))).collect();
        for (k, b) in leaders {
            if let Some(e) = l.get_mut(b) {
                e.0 += 1;
                e.1 += weight(k);
            }
        }
        l
    };
    let leaders_before = leader_loads(&leaders);
    let mut lead: BTreeMap<u32, f64> = leaders_before.iter().map(|(b, (_, w))| (*b, *w)).collect();
    let mut leader_moves = Vec::new();
    let mut led_moved: BTreeSet<Key> = BTreeSet::new();
    'moves: while leader_moves.len() < limits.max_leader_moves {
        let mut busiest: Vec<(u32, f64)> = lead.iter().map(|(b, w)| (*b, *w)).collect();
        busiest.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (hi, hi_load) in busiest {
            // Best: the lowest resulting maximum of the pair, then the emptier target.
            let mut best: Option<((f64, f64), Key, u32, f64)> = None;
            for (k, leader) in &leaders {
                if *leader != hi
                    || moving.contains(k)
                    || changed.contains(k)
                    || led_moved.contains(k)
                {
                    continue;
                }
                let w = weight(k);
                for m in isr.get(k).into_iter().flatten() {
                    let Some(&m_load) = lead.get(m) else {
                        continue;
                    };
                    // Only a move that narrows the gap by more than half a partition.
                    if *m == hi || m_load + w >= hi_load - 0.5 {
                        continue;
                    }
                    let score = ((hi_load - w).max(m_load + w), m_load);
                    if best.as_ref().is_none_or(|b| score < b.0) {
                        best = Some((score, k.clone(), *m, w));
                    }
                }
            }
            if let Some((_, key, to, w)) = best {
                leaders.insert(key.clone(), to);
                led_moved.insert(key.clone());
                *lead.entry(hi).or_default() -= w;
                *lead.entry(to).or_default() += w;
                leader_moves.push(LeaderMove {
                    topic: key.0,
                    partition: key.1,
                    from: hi,
                    to,
                });
                continue 'moves;
            }
        }
        break;
    }

    let leaders_after = leader_loads(&leaders);
    let replicas_after = count_replicas(&replicas);
    let brokers = eligible
        .iter()
        .map(|id| {
            let (leaders, leader_load) = leaders_before.get(id).copied().unwrap_or_default();
            let (leaders_after, leader_load_after) =
                leaders_after.get(id).copied().unwrap_or_default();
            BrokerBalance {
                id: *id,
                rack: rack(*id).unwrap_or_default(),
                replicas: replicas_before.get(id).copied().unwrap_or_default(),
                replicas_after: replicas_after.get(id).copied().unwrap_or_default(),
                leaders,
                leaders_after,
                leader_load,
                leader_load_after,
                load: loads.get(id).cloned(),
            }
        })
        .collect();
    RebalancePlan {
        leader_moves,
        replica_moves,
        in_flight: moving.len(),
        under_replicated,
        brokers,
    }
}

/// Whether replacing `from` by `to` keeps the partition on at least as many racks.
fn keeps_racks(
    replicas: &[u32],
    from: u32,
    to: u32,
    rack: &impl Fn(u32) -> Option<String>,
) -> bool {
    let racks =
        |r: &mut dyn Iterator<Item = u32>| r.filter_map(rack).collect::<BTreeSet<_>>().len();
    let before = racks(&mut replicas.iter().copied());
    let after = racks(&mut replicas.iter().map(|b| if *b == from { to } else { *b }));
    after >= before
}
