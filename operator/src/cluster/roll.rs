//! Rolling restarts. The StatefulSets use the `OnDelete` strategy, so Kubernetes creates a
//! pod of the new revision only when the operator deletes the old one, and the operator
//! decides the order: controllers first (followers, then the leader, each only while every
//! other voter is caught up), then brokers one at a time (never one whose stop would leave
//! a partition below `min.insync.replicas`, judged on the controller leader's ISRs; the next
//! only once the previous is ready and in sync again). A pod the roll deleted counts as
//! restarting until it exists again. Pods that are not ready go first (a broker only when
//! it is in no ISR: one that is in an ISR is merely slow, and the rules apply to it). A roll
//! that cannot go on waits and says why; it never forces its way.
//!
//! The decisions are plain functions of what the operator read ([`next_controller`],
//! [`next_broker`]); [`step`] reads, decides and deletes at most one pod per reconcile.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Preconditions};
use rustmq_controller::api::{TopicView, out_of_sync, restart_blockers};

use super::AdminAccess;
use super::names::Names;
use super::resources::Component;
use crate::admin::AdminApi;
use crate::error::Result;

/// A voter at most this many log entries behind the leader counts as caught up (a busy
/// cluster commits uploads and offsets all the time, so "zero" would rarely be seen).
pub const CAUGHT_UP_ENTRIES: u64 = 100;

/// What the operator knows of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    /// Pod name.
    pub name: String,
    /// StatefulSet ordinal (broker id; controller node id minus one).
    pub ordinal: i32,
    /// Ready condition true.
    pub ready: bool,
    /// Its `controller-revision-hash` label.
    pub revision: Option<String>,
    /// Being deleted, or deleted and not created again yet (see [`with_missing`]).
    pub terminating: bool,
}

/// The next step of a rolling restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollStep {
    /// Every pod runs the current revision.
    Done,
    /// Restart this pod now.
    Restart {
        /// Pod name.
        pod: String,
        /// Why this one.
        why: String,
        /// Pods of the old revision after it, in order.
        pending: Vec<String>,
    },
    /// Nothing to do this time (a restarted pod is coming back, a voter catches up).
    Wait {
        /// What it waits for.
        why: String,
        /// Pods of the old revision, in order.
        pending: Vec<String>,
    },
    /// The roll cannot go on without risking data or availability; it waits and reports.
    Blocked {
        /// Why.
        why: String,
        /// Pods of the old revision, in order.
        pending: Vec<String>,
    },
}

/// Old-revision pods, not-ready first, then by ordinal.
fn stale(pods: &[PodState], revision: &str) -> Vec<PodState> {
    let mut s: Vec<PodState> = pods
        .iter()
        .filter(|p| p.revision.as_deref() != Some(revision))
        .cloned()
        .collect();
    s.sort_by_key(|p| (p.ready, p.ordinal));
    s
}

/// Common rules: nothing stale is done; a pod on its way down or an updated pod that is not
/// ready yet means wait; with `unready_first`, a stale pod that is not ready goes first.
fn common(
    pods: &[PodState],
    revision: &str,
    unready_first: bool,
) -> Result<Vec<PodState>, RollStep> {
    let stale = stale(pods, revision);
    let names = |s: &[PodState]| s.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    if stale.is_empty() {
        return Err(RollStep::Done);
    }
    if let Some(p) = pods
        .iter()
        .find(|p| p.terminating || (p.revision.as_deref() == Some(revision) && !p.ready))
    {
        return Err(RollStep::Wait {
            why: format!("{} is restarting", p.name),
            pending: names(&stale),
        });
    }
    if unready_first && !stale[0].ready {
        return Err(RollStep::Restart {
            pod: stale[0].name.clone(),
            why: "not ready: restarting it costs nothing".into(),
            pending: names(&stale[1..]),
        });
    }
    Ok(stale)
}

/// The next controller to restart. `leader`: the leader's ordinal; `lag`: per ordinal, log
/// entries behind the leader (as the leader reports them).
///
/// ```
/// use rustmq_operator::cluster::roll::{next_controller, PodState, RollStep};
/// let pod = |i: i32| PodState { name: format!("c-{i}"), ordinal: i, ready: true, revision: Some("old".into()), terminating: false };
/// let pods = vec![pod(0), pod(1), pod(2)];
/// let lag = [(0, 0), (1, 0), (2, 0)].into_iter().collect();
/// // The leader (0) goes last.
/// assert!(matches!(next_controller(&pods, "new", Some(0), Some(&lag)), RollStep::Restart { pod, .. } if pod == "c-1"));
/// ```
pub fn next_controller(
    pods: &[PodState],
    revision: &str,
    leader: Option<i32>,
    lag: Option<&BTreeMap<i32, u64>>,
) -> RollStep {
    let stale = match common(pods, revision, true) {
        Ok(s) => s,
        Err(step) => return step,
    };
    let mut order = stale.clone();
    // Followers first, the leader last.
    order.sort_by_key(|p| (Some(p.ordinal) == leader, p.ordinal));
    let pending: Vec<String> = order.iter().map(|p| p.name.clone()).collect();
    let (Some(_), Some(lag)) = (leader, lag) else {
        return RollStep::Wait {
            why: "no controller leader to ask whether the voters are caught up".into(),
            pending,
        };
    };
    let next = &order[0];
    let behind: Vec<String> = pods
        .iter()
        .filter(|p| p.ordinal != next.ordinal)
        .filter_map(|p| {
            let l = lag.get(&p.ordinal).copied().unwrap_or(u64::MAX);
            (l > CAUGHT_UP_ENTRIES).then(|| {
                if l == u64::MAX {
                    format!("{} (not replicating)", p.name)
                } else {
                    format!("{} ({l} entries)", p.name)
                }
            })
        })
        .collect();
    if !behind.is_empty() {
        return RollStep::Wait {
            why: format!(
                "before restarting {}, every other voter must be caught up; behind: {}",
                next.name,
                behind.join(", ")
            ),
            pending,
        };
    }
    RollStep::Restart {
        pod: next.name.clone(),
        why: if Some(next.ordinal) == leader {
            "the leader, last; every other voter is caught up".into()
        } else {
            "a follower; every other voter is caught up".into()
        },
        pending: pending[1..].to_vec(),
    }
}

/// The next broker to restart, given every topic as the admin API lists it and the
/// brokers' default `min.insync.replicas`.
///
/// ```
/// use rustmq_operator::cluster::roll::{next_broker, PodState, RollStep};
/// let pod = |i: i32, rev: &str| PodState { name: format!("b-{i}"), ordinal: i, ready: true, revision: Some(rev.into()), terminating: false };
/// let pods = vec![pod(0, "new"), pod(1, "old")];
/// assert!(matches!(next_broker(&pods, "new", &[], 2), RollStep::Restart { pod, .. } if pod == "b-1"));
/// ```
pub fn next_broker(
    pods: &[PodState],
    revision: &str,
    topics: &[TopicView],
    default_min_isr: u32,
) -> RollStep {
    let stale = match common(pods, revision, false) {
        Ok(s) => s,
        Err(step) => return step,
    };
    let pending: Vec<String> = stale.iter().map(|p| p.name.clone()).collect();
    // The brokers already restarted must be back in sync before the next goes.
    for p in pods
        .iter()
        .filter(|p| p.revision.as_deref() == Some(revision))
    {
        let behind = out_of_sync(topics, p.ordinal as u32);
        if !behind.is_empty() {
            return RollStep::Wait {
                why: format!(
                    "{} is catching up on {} partition(s) ({})",
                    p.name,
                    behind.len(),
                    first(&behind)
                ),
                pending,
            };
        }
    }
    let mut refusals = Vec::new();
    for (i, p) in stale.iter().enumerate() {
        // A broker that is not ready and in no ISR serves nothing: restarting it costs
        // nothing (and may be what heals it). One that is in an ISR is only briefly not
        // ready (its lease lapsed while the controllers changed leader, say): the rules
        // apply to it as to any other.
        let me = format!("broker-{}", p.ordinal);
        let in_an_isr = topics.iter().any(|t| {
            t.partition_assignments
                .iter()
                .any(|a| a.in_sync_replicas.contains(&me))
        });
        if !p.ready && !in_an_isr {
            let mut rest = pending.clone();
            rest.remove(i);
            return RollStep::Restart {
                pod: p.name.clone(),
                why: "not ready and in no ISR: restarting it costs nothing".into(),
                pending: rest,
            };
        }
        let blockers = restart_blockers(topics, p.ordinal as u32, default_min_isr);
        if blockers.is_empty() {
            let mut rest = pending.clone();
            rest.remove(i);
            return RollStep::Restart {
                pod: p.name.clone(),
                why: "every partition it is in sync for keeps min.insync.replicas without it"
                    .into(),
                pending: rest,
            };
        }
        refusals.push(format!("{}: {}", p.name, first(&blockers)));
    }
    RollStep::Blocked {
        why: format!(
            "restarting any remaining broker would leave partitions below min.insync.replicas: {}",
            refusals.join("; ")
        ),
        pending,
    }
}

fn first(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [one, rest @ ..] => format!("{one} and {} more", rest.len()),
    }
}

/// The pods of `component`, as [`PodState`]s, and the StatefulSet's update revision (None
/// while the StatefulSet controller has not looked at the latest spec).
pub async fn observe(
    client: &kube::Client,
    names: &Names,
    component: Component,
    restarted: &[String],
) -> Result<(Vec<PodState>, Option<String>)> {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &names.namespace);
    let name = match component {
        Component::Controller => names.controllers(),
        Component::Broker => names.brokers(),
    };
    let Some(set) = sets.get_opt(&name).await? else {
        return Ok((Vec::new(), None));
    };
    let st = set.status.clone().unwrap_or_default();
    let current = st.observed_generation == set.metadata.generation;
    let revision = st.update_revision.filter(|_| current);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &names.namespace);
    let selector = super::resources::selector(names, component)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let list = pods.list(&ListParams::default().labels(&selector)).await?;
    let prefix = format!("{name}-");
    let states = list
        .items
        .iter()
        .filter_map(|p| {
            let n = p.name_any();
            let ordinal = n.strip_prefix(&prefix)?.parse().ok()?;
            Some(PodState {
                ordinal,
                ready: p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
                revision: p.labels().get("controller-revision-hash").cloned(),
                terminating: p.metadata.deletion_timestamp.is_some(),
                name: n,
            })
        })
        .collect();
    let replicas = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    Ok((with_missing(states, &name, replicas, restarted), revision))
}

/// `pods` (of the StatefulSet `set_name`) with a placeholder (not ready, no revision, on
/// its way down) for every pod of that set in `restarted` (the pods this roll deleted, of
/// either set) that has no pod now and an ordinal below `replicas`. A pod deleted for a restart is gone for a moment before the StatefulSet
/// controller creates it again, and its deletion is what triggers the next reconcile: seen
/// as one pod fewer, it would let the roll restart the next one (three controllers
/// restarted within three seconds lose their quorum).
///
/// ```
/// use rustmq_operator::cluster::roll::{with_missing, PodState};
/// let pod = |i: i32| PodState { name: format!("c-{i}"), ordinal: i, ready: true, revision: Some("old".into()), terminating: false };
/// let restarted = ["c-1".to_string(), "b-0".to_string()];
/// let pods = with_missing(vec![pod(0), pod(2)], "c", 3, &restarted);
/// assert_eq!(pods.len(), 3);
/// assert_eq!(pods[2].name, "c-1");
/// assert!(pods[2].terminating && !pods[2].ready);
/// ```
pub fn with_missing(
    mut pods: Vec<PodState>,
    set_name: &str,
    replicas: i32,
    restarted: &[String],
) -> Vec<PodState> {
    for name in restarted {
        let Some(ordinal) = name
            .strip_prefix(set_name)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|o| o.parse::<i32>().ok())
            .filter(|o| *o < replicas)
        else {
            continue;
        };
        if !pods.iter().any(|p| &p.name == name) {
            pods.push(PodState {
                name: name.clone(),
                ordinal,
                ready: false,
                revision: None,
                terminating: true,
            });
        }
    }
    pods
}

/// Deletes `pod` (only the instance the decision was made about).
pub async fn restart(client: &kube::Client, names: &Names, pod: &str) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &names.namespace);
    let uid = pods.get(pod).await?.uid();
    let params = kube::api::DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..Default::default()
    };
    pods.delete(pod, &params).await?;
    Ok(())
}

/// The admin API of the controllers' leader, and its ordinal: any controller names the
/// leader, then the leader's own pod is asked. Membership and replication progress are only
/// current there: a controller just removed from the voters keeps answering with the
/// membership it last saw.
pub async fn leader_admin(access: &AdminAccess, names: &Names) -> Option<(i32, AdminApi)> {
    let any = access.service(names);
    let leader_node = any
        .cluster()
        .await
        .ok()?
        .leader
        .and_then(|l| rustmq_controller::config::parse_node_id(&l))?;
    let ordinal = leader_node as i32 - 1;
    Some((ordinal, access.controller(names, ordinal)))
}

/// The controllers' leader ordinal and each voter's lag by ordinal, from the leader itself
/// (only it knows the lags).
pub async fn controller_progress(
    access: &AdminAccess,
    names: &Names,
) -> Option<(i32, BTreeMap<i32, u64>)> {
    let (ordinal, leader) = leader_admin(access, names).await?;
    let views = leader.controllers().await.ok()?;
    let lag: BTreeMap<i32, u64> = views
        .iter()
        .filter_map(|v| Some((v.node_id as i32 - 1, v.lag?)))
        .collect();
    (!lag.is_empty()).then_some((ordinal, lag))
}

#[cfg(test)]
mod tests;
