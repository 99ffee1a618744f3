//! Day-2 operations on a running cluster, once per reconcile: scaling brokers (before the
//! StatefulSets are applied: it decides their size), then rolling restarts and approved
//! rebalances (after). What they report goes into the status (`operation`, `rebalance`,
//! and `Degraded` when an operation cannot go on).

use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use rustmq_broker::config::BrokerConfig;
use rustmq_controller::RebalanceStatus;

use super::names::Names;
use super::resources::Component;
use super::roll::{self, RollStep};
use super::scale::{
    self, ControllerScaleDecision, ControllerScaleInput, ScaleDecision, ScaleInput,
};
use crate::admin::AdminApi;
use crate::context::Context;
use crate::crd::{OperationStatus, RebalanceSummary, RustMQCluster};
use crate::error::Result;

/// The annotation that approves the rebalance the status proposes.
pub const REBALANCE_ANNOTATION: &str = "rustmq.io/rebalance";

/// When the operator last started an approved rebalance, set in the same patch that removes
/// [`REBALANCE_ANNOTATION`]. Why not the status alone: the reconcile that removal triggers
/// may read a cached object from before this reconcile's status write, and its own status
/// write then dropped `lastApprovedAt` for good (a CI run of the operator e2e did); every
/// object version without the approving annotation carries this one.
pub const REBALANCE_APPROVED_AT_ANNOTATION: &str = "rustmq.io/rebalance-approved-at";

/// What the day-2 steps report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The operation under way.
    pub operation: Option<OperationStatus>,
    /// An operation that cannot go on: (reason, message).
    pub blocked: Option<(&'static str, String)>,
    /// The controllers' rebalance state.
    pub rebalance: Option<RebalanceSummary>,
}

fn previous(cluster: &RustMQCluster) -> Option<OperationStatus> {
    cluster.status.as_ref().and_then(|s| s.operation.clone())
}

fn now() -> String {
    Timestamp::now().to_string()
}

/// Decides the broker StatefulSet's size, starting or cancelling drains.
pub async fn scale(
    cluster: &RustMQCluster,
    ctx: &Context,
    names: &Names,
    cfg: &BrokerConfig,
) -> Result<ScaleDecision> {
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let set = sets.get_opt(&names.brokers()).await?;
    let current = set.as_ref().and_then(|s| s.spec.as_ref()?.replicas);
    let ready = set
        .as_ref()
        .and_then(|s| s.status.as_ref()?.ready_replicas)
        .unwrap_or(0);
    let desired = cluster.spec.brokers.replicas;
    let admin = super::admin_access(ctx, cluster, names)
        .await?
        .service(names);
    // The admin API is only asked when the size changes.
    let (brokers, topics) = if current.is_some_and(|c| c != desired) {
        (
            admin.brokers().await.ok(),
            admin.topics().await.unwrap_or_default(),
        )
    } else {
        (None, Vec::new())
    };
    let draining_for_scale_in = previous(cluster)
        .filter(|o| o.kind == "ScaleIn")
        .map(|o| {
            o.pending
                .iter()
                .filter_map(|p| p.rsplit('-').next()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let d = scale::decide(&ScaleInput {
        desired,
        current,
        ready,
        brokers,
        topics,
        max_additions: cfg.scaling.max_concurrent_additions as i32,
        max_decommissions: cfg.scaling.max_concurrent_decommissions as i32,
        draining_for_scale_in,
    });
    for id in &d.undrain {
        match admin.undrain(*id).await {
            Ok(()) => {
                ctx.publish(
                    cluster,
                    EventType::Normal,
                    "DrainCancelled",
                    format!("broker {id} stays: the scale-in was called off"),
                )
                .await
            }
            Err(e) => tracing::warn!(broker = id, error = %e, "cancelling a drain failed"),
        }
    }
    for id in &d.drain {
        match admin.drain(*id).await {
            Ok(()) => {
                ctx.publish(
                    cluster,
                    EventType::Normal,
                    "DrainingBroker",
                    format!("scaling in: moving every replica off broker {id}"),
                )
                .await
            }
            Err(e) => tracing::warn!(broker = id, error = %e, "starting a drain failed"),
        }
    }
    Ok(d)
}

/// Decides the controller StatefulSet's size, adding or removing one voter at a time.
pub async fn scale_controllers(
    cluster: &RustMQCluster,
    ctx: &Context,
    names: &Names,
) -> Result<ControllerScaleDecision> {
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let current = sets
        .get_opt(&names.controllers())
        .await?
        .and_then(|s| s.spec?.replicas);
    let desired = cluster.spec.controllers.replicas;
    let (pods, _) = roll::observe(&ctx.client, names, Component::Controller, &[]).await?;
    let access = super::admin_access(ctx, cluster, names).await?;
    // Membership is read only when the count may be changing, and from the leader: a
    // controller just removed still answers with the membership it last saw.
    let leader = if current.is_some_and(|c| c != desired)
        || previous(cluster).is_some_and(|o| o.kind == "ScaleControllers")
    {
        roll::leader_admin(&access, names).await
    } else {
        None
    };
    let mut members = None;
    if let Some((_, api)) = &leader {
        members = api
            .controllers()
            .await
            .ok()
            .map(|v| v.iter().map(|c| c.node_id).collect());
    }
    let admin = leader
        .map(|(_, api)| api)
        .unwrap_or_else(|| access.service(names));
    let d = scale::decide_controllers(&ControllerScaleInput {
        desired,
        current,
        running: pods
            .iter()
            .filter(|p| !p.terminating)
            .map(|p| p.ordinal)
            .collect(),
        members,
    });
    let address = |o: i32| format!("{}:{}", names.controller_host(o), super::ports::RAFT);
    if let Some(o) = d.add {
        match admin.add_controller(o as u64 + 1, &address(o)).await {
            Ok(()) => {
                ctx.publish(
                    cluster,
                    EventType::Normal,
                    "ControllerAdded",
                    format!("controller-{} is a voter", o + 1),
                )
                .await
            }
            Err(e) => tracing::info!(controller = o + 1, error = %e, "adding a voter: not yet"),
        }
    }
    if let Some(o) = d.remove {
        match admin.remove_controller(o as u64 + 1).await {
            Ok(()) => {
                ctx.publish(
                    cluster,
                    EventType::Normal,
                    "ControllerRemoved",
                    format!("controller-{} left the voters", o + 1),
                )
                .await
            }
            Err(e) => tracing::warn!(controller = o + 1, error = %e, "removing a voter failed"),
        }
    }
    Ok(d)
}

/// After the objects are applied: the scaling operation's status (a scale-out ends with a
/// rebalance), the next step of a rolling restart, and an approved rebalance.
pub async fn after_apply(
    cluster: &RustMQCluster,
    ctx: &Context,
    names: &Names,
    cfg: &BrokerConfig,
    scaled: &ScaleDecision,
    controllers: &ControllerScaleDecision,
) -> Result<Report> {
    let mut report = Report::default();
    let admin = super::admin_access(ctx, cluster, names)
        .await?
        .service(names);
    let prev = previous(cluster);
    if let Some(why) = &scaled.refused {
        report.blocked = Some(("ScaleInRefused", why.clone()));
    }
    if let Some(message) = &controllers.operation {
        report.operation = Some(OperationStatus {
            kind: "ScaleControllers".into(),
            message: message.clone(),
            started_at: prev
                .as_ref()
                .filter(|p| p.kind == "ScaleControllers")
                .and_then(|p| p.started_at.clone())
                .or_else(|| Some(now())),
            ..Default::default()
        });
    } else {
        report.operation = scaling_status(cluster, ctx, &admin, prev.as_ref(), scaled).await;
    }
    if report.operation.is_none() {
        let (op, blocked) = rolling(cluster, ctx, names, cfg, prev.as_ref()).await?;
        report.operation = op;
        if blocked.is_some() {
            report.blocked = blocked;
        }
    }
    if report.blocked.is_none()
        && let Some(op) = &report.operation
        && matches!(op.kind.as_str(), "ScaleOut" | "ScaleIn")
        && let Some(started) = op.started_at.as_deref()
        && overdue(started, cfg.scaling.rebalance_timeout_ms, Timestamp::now())
    {
        // Reported, not forced: the operation keeps waiting. The message stays the same
        // while it waits, so the Event is published once.
        report.blocked = Some((
            "OperationOverdue",
            format!(
                "{} started at {started} has run longer than scaling.rebalance_timeout_ms \
                 ({} s); it keeps waiting (status.operation says for what)",
                op.kind,
                cfg.scaling.rebalance_timeout_ms / 1000
            ),
        ));
    }
    if report.operation.is_none()
        && let Some(p) = &prev
    {
        ctx.publish(
            cluster,
            EventType::Normal,
            &format!("{}Done", p.kind),
            format!("{} finished", p.kind),
        )
        .await;
    }
    report.rebalance = rebalance(cluster, ctx, &admin).await;
    Ok(report)
}

async fn scaling_status(
    cluster: &RustMQCluster,
    ctx: &Context,
    admin: &AdminApi,
    prev: Option<&OperationStatus>,
    scaled: &ScaleDecision,
) -> Option<OperationStatus> {
    let started_at = prev
        .filter(|p| Some(p.kind.as_str()) == scaled.operation.as_ref().map(|o| o.0))
        .and_then(|p| p.started_at.clone())
        .or_else(|| Some(now()));
    if let Some((kind, message)) = &scaled.operation {
        return Some(OperationStatus {
            kind: kind.to_string(),
            pending: scaled
                .draining
                .iter()
                .map(|id| format!("{}-{id}", cluster.name_any() + "-broker"))
                .collect(),
            message: message.clone(),
            started_at,
            ..Default::default()
        });
    }
    // A scale-out whose brokers all run: rebalance partitions onto them, then done. Whether
    // one is needed is read from the controllers, not only from the previous status (which
    // the cache may not show yet): a dry-run plan that moves replicas onto brokers holding
    // none means new brokers wait for their share.
    let desired = cluster.spec.brokers.replicas;
    let was_scaling_out = prev.is_some_and(|p| p.kind == "ScaleOut");
    let plan = admin.rebalance(false).await.ok();
    let empty: Vec<u32> = plan
        .as_ref()
        .map(|st| {
            st.plan
                .brokers
                .iter()
                .filter(|b| b.replicas == 0)
                .map(|b| b.id)
                .collect()
        })
        .unwrap_or_default();
    let needed = plan
        .as_ref()
        .is_some_and(|st| st.plan.replica_moves.iter().any(|m| empty.contains(&m.to)));
    let running = plan
        .as_ref()
        .is_some_and(|st| st.state == "running" || st.plan.in_flight > 0);
    if !was_scaling_out && !needed {
        return None;
    }
    let mut op = prev
        .filter(|p| p.kind == "ScaleOut")
        .cloned()
        .unwrap_or_else(|| OperationStatus {
            kind: "ScaleOut".into(),
            started_at: Some(now()),
            ..Default::default()
        });
    let online = admin
        .brokers()
        .await
        .ok()?
        .iter()
        .filter(|b| b.online && !b.draining)
        .count() as i32;
    if online < desired {
        op.message = format!("{online} of {desired} brokers registered; waiting for the rest");
        return Some(op);
    }
    if running {
        op.message = "rebalancing partitions onto the new brokers".into();
        return Some(op);
    }
    if !needed {
        return None;
    }
    match admin.rebalance(true).await {
        Ok(st) => {
            op.message = format!(
                "rebalancing partitions onto the new brokers ({} replica and {} leader moves in the first round)",
                st.replicas_moved, st.leaders_moved
            );
            ctx.publish(
                cluster,
                EventType::Normal,
                "Rebalancing",
                "scale-out: moving partitions onto the new brokers".into(),
            )
            .await;
        }
        Err(e) => op.message = format!("starting the rebalance failed: {e}"),
    }
    Some(op)
}

/// One step of a rolling restart: (the operation, and why it is blocked if it is).
async fn rolling(
    cluster: &RustMQCluster,
    ctx: &Context,
    names: &Names,
    cfg: &BrokerConfig,
    prev: Option<&OperationStatus>,
) -> Result<(Option<OperationStatus>, Option<(&'static str, String)>)> {
    let prev = prev.filter(|p| p.kind == "RollingUpdate");
    let mut op = prev.cloned().unwrap_or_else(|| OperationStatus {
        kind: "RollingUpdate".into(),
        started_at: Some(now()),
        ..Default::default()
    });
    for component in [Component::Controller, Component::Broker] {
        let (pods, revision) = roll::observe(&ctx.client, names, component, &op.restarted).await?;
        let Some(revision) = revision else {
            op.message = "waiting for the StatefulSet controller to see the new spec".into();
            return Ok((Some(op), None));
        };
        if pods
            .iter()
            .all(|p| p.revision.as_deref() == Some(revision.as_str()) && !p.terminating)
        {
            continue;
        }
        let step = match component {
            Component::Controller => {
                let access = super::admin_access(ctx, cluster, names).await?;
                let progress = roll::controller_progress(&access, names).await;
                roll::next_controller(
                    &pods,
                    &revision,
                    progress.as_ref().map(|p| p.0),
                    progress.as_ref().map(|p| &p.1),
                )
            }
            Component::Broker => {
                // The ISRs come from the leader: any controller answers from its own copy,
                // and one restarted moments ago by this roll may still be up to
                // CAUGHT_UP_ENTRIES behind, with ISRs from before a shrink, which would
                // let a broker go while a partition is below min.insync.replicas.
                let access = super::admin_access(ctx, cluster, names).await?;
                match roll::leader_admin(&access, names).await {
                    None => RollStep::Wait {
                        why: "no controller leader is known to read the ISRs from".into(),
                        pending: Vec::new(),
                    },
                    Some((_, leader)) => match leader.topics().await {
                        Ok(topics) => roll::next_broker(
                            &pods,
                            &revision,
                            &topics,
                            cfg.replication.min_in_sync_replicas,
                        ),
                        Err(e) => RollStep::Wait {
                            why: format!("the controller leader's admin API does not answer: {e}"),
                            pending: Vec::new(),
                        },
                    },
                }
            }
        };
        match step {
            RollStep::Done => continue,
            RollStep::Wait { why, pending } => {
                op.message = why;
                op.pending = pending;
                // A restarted broker that is not back in service in time is reported (the
                // roll keeps waiting for it).
                let late = match (&op.pod, op.last_restart_at.as_deref()) {
                    (Some(pod), Some(at))
                        if component == Component::Broker
                            && overdue(
                                at,
                                cfg.scaling.health_check_timeout_ms,
                                Timestamp::now(),
                            ) =>
                    {
                        Some((
                            "RestartOverdue",
                            format!(
                                "the roll has waited since {pod} restarted at {at}, longer \
                                 than scaling.health_check_timeout_ms ({} s); it keeps waiting \
                                 (status.operation says for what)",
                                cfg.scaling.health_check_timeout_ms / 1000
                            ),
                        ))
                    }
                    _ => None,
                };
                return Ok((Some(op), late));
            }
            RollStep::Blocked { why, pending } => {
                op.message = why.clone();
                op.pending = pending;
                return Ok((Some(op), Some(("RollBlocked", why))));
            }
            RollStep::Restart { pod, why, pending } => {
                if component == Component::Broker
                    && let Some(wait) = velocity_wait(prev, cfg)
                {
                    op.message = format!(
                        "operations.upgrade_velocity: next broker restart ({pod}) in {}s",
                        wait.as_secs().max(1)
                    );
                    op.pending = std::iter::once(pod).chain(pending).collect();
                    return Ok((Some(op), None));
                }
                tracing::info!(%pod, %why, ?pending, "rolling update: restarting a pod");
                roll::restart(&ctx.client, names, &pod).await?;
                ctx.publish(
                    cluster,
                    EventType::Normal,
                    "RestartingPod",
                    format!("rolling update: restarting {pod} ({why})"),
                )
                .await;
                op.message = format!("restarting {pod}: {why}");
                op.pod = Some(pod.clone());
                op.pending = pending;
                op.restarted.push(pod);
                if component == Component::Broker {
                    op.last_restart_at = Some(now());
                }
                return Ok((Some(op), None));
            }
        }
    }
    Ok((None, None))
}

/// Whether more than `limit_ms` passed between `since` (RFC 3339) and `now`.
fn overdue(since: &str, limit_ms: u64, now: Timestamp) -> bool {
    let Ok(since) = since.parse::<Timestamp>() else {
        return false;
    };
    Duration::try_from(now.duration_since(since)).is_ok_and(|d| d > Duration::from_millis(limit_ms))
}

/// How long until `operations.upgrade_velocity` allows the next broker restart.
fn velocity_wait(prev: Option<&OperationStatus>, cfg: &BrokerConfig) -> Option<Duration> {
    let last: Timestamp = prev?.last_restart_at.as_ref()?.parse().ok()?;
    let since = Timestamp::now().duration_since(last);
    let since = Duration::try_from(since).unwrap_or_default();
    cfg.operations
        .restart_interval()
        .checked_sub(since)
        .filter(|d| !d.is_zero())
}

/// Runs an approved rebalance (the annotation is removed once the controllers took it) and
/// reads the controllers' rebalance state.
async fn rebalance(
    cluster: &RustMQCluster,
    ctx: &Context,
    admin: &AdminApi,
) -> Option<RebalanceSummary> {
    let mut last_approved_at = last_approval(cluster);
    let mut state = None;
    if cluster
        .annotations()
        .get(REBALANCE_ANNOTATION)
        .map(String::as_str)
        == Some("approve")
    {
        tracing::info!(cluster = %cluster.name_any(), "rebalance approved by annotation; starting it");
        match admin.rebalance(true).await {
            Ok(started) => {
                let at = now();
                last_approved_at = Some(at.clone());
                state = Some(started);
                ctx.publish(
                    cluster,
                    EventType::Normal,
                    "RebalanceApproved",
                    "the controllers are moving partitions as proposed".into(),
                )
                .await;
                let api: Api<RustMQCluster> =
                    Api::namespaced(ctx.client.clone(), &cluster.namespace().unwrap_or_default());
                let patch = serde_json::json!({"metadata": {"annotations": {
                    REBALANCE_ANNOTATION: null,
                    REBALANCE_APPROVED_AT_ANNOTATION: at,
                }}});
                if let Err(e) = api
                    .patch(
                        &cluster.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                {
                    tracing::warn!(error = %e, "removing the rebalance annotation failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "an approved rebalance could not start"),
        }
    }
    if state.is_none() {
        state = admin.rebalance(false).await.ok();
    }
    let previous = cluster.status.as_ref().and_then(|s| s.rebalance.clone());
    rebalance_summary(state.as_ref(), previous, last_approved_at)
}

/// When a rebalance was last approved: the annotation set with the approval's removal, else
/// (clusters approved before it existed) the status.
fn last_approval(cluster: &RustMQCluster) -> Option<String> {
    cluster
        .annotations()
        .get(REBALANCE_APPROVED_AT_ANNOTATION)
        .cloned()
        .or_else(|| {
            cluster
                .status
                .as_ref()
                .and_then(|s| s.rebalance.as_ref()?.last_approved_at.clone())
        })
}

/// The status's rebalance summary from the controllers' state. When the state could not be
/// read this time, the previous summary stays; either way `last_approved_at` is kept: the
/// approving annotation is gone once the controllers took it, so a summary dropped now
/// would lose the approval for good.
fn rebalance_summary(
    state: Option<&RebalanceStatus>,
    previous: Option<RebalanceSummary>,
    last_approved_at: Option<String>,
) -> Option<RebalanceSummary> {
    let Some(st) = state else {
        return (previous.is_some() || last_approved_at.is_some()).then(|| RebalanceSummary {
            last_approved_at,
            ..previous.unwrap_or_default()
        });
    };
    Some(RebalanceSummary {
        state: st.state.clone(),
        leader_moves: st.plan.leader_moves.len() as i32,
        replica_moves: st.plan.replica_moves.len() as i32,
        proposal: st
            .plan
            .brokers
            .iter()
            .filter(|b| b.replicas != b.replicas_after || b.leaders != b.leaders_after)
            .map(|b| {
                format!(
                    "broker-{}: replicas {}->{}, leaders {}->{}",
                    b.id, b.replicas, b.replicas_after, b.leaders, b.leaders_after
                )
            })
            .collect(),
        last_approved_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_survives_a_rebalance_state_that_could_not_be_read() {
        let at = Some("2026-12-07T06:24:14Z".to_string());
        // No state and no previous summary: the approval alone is kept.
        let s = rebalance_summary(None, None, at.clone()).unwrap();
        assert_eq!(s.last_approved_at, at);
        // A previous summary stays, with the new approval.
        let previous = RebalanceSummary {
            state: "idle".into(),
            leader_moves: 3,
            ..Default::default()
        };
        let s = rebalance_summary(None, Some(previous), at.clone()).unwrap();
        assert_eq!((s.state.as_str(), s.leader_moves), ("idle", 3));
        assert_eq!(s.last_approved_at, at);
        // Nothing known, nothing approved: no summary.
        assert_eq!(rebalance_summary(None, None, None), None);
        // A state read: it replaces the previous summary, the approval kept.
        let st = RebalanceStatus {
            state: "running".into(),
            ..Default::default()
        };
        let s = rebalance_summary(Some(&st), None, at.clone()).unwrap();
        assert_eq!((s.state.as_str(), s.last_approved_at), ("running", at));
    }

    #[test]
    fn the_approval_time_comes_from_the_annotation_even_when_the_status_is_stale() {
        let stale_status = |at: Option<&str>| {
            Some(crate::crd::RustMQClusterStatus {
                rebalance: Some(RebalanceSummary {
                    state: "running".into(),
                    last_approved_at: at.map(String::from),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        let mut c: RustMQCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "rustmq.io/v1alpha1", "kind": "RustMQCluster",
            "metadata": {"name": "rmq", "namespace": "ns"},
            "spec": {"version": "1.2.3", "objectStorage": {"s3": {"bucket": "b", "credentialsSecret": "k"}}},
        }))
        .unwrap();
        // The object as the reconcile after an approval may see it: the approving annotation
        // gone, the approval time beside it, the status from before the approval.
        c.metadata.annotations = Some(
            [(
                REBALANCE_APPROVED_AT_ANNOTATION.to_string(),
                "2026-12-07T16:07:37Z".to_string(),
            )]
            .into(),
        );
        c.status = stale_status(None);
        assert_eq!(last_approval(&c).as_deref(), Some("2026-12-07T16:07:37Z"));
        // An earlier approval in the status does not win over the annotation's.
        c.status = stale_status(Some("2026-12-07T15:00:00Z"));
        assert_eq!(last_approval(&c).as_deref(), Some("2026-12-07T16:07:37Z"));
        // A cluster approved before the annotation existed keeps its status's time.
        c.metadata.annotations = None;
        assert_eq!(last_approval(&c).as_deref(), Some("2026-12-07T15:00:00Z"));
        c.status = None;
        assert_eq!(last_approval(&c), None);
    }

    #[test]
    fn an_operation_is_overdue_only_past_its_limit() {
        let start = "2026-12-03T10:00:00Z";
        let at = |t: &str| t.parse::<Timestamp>().unwrap();
        assert!(!overdue(start, 30_000, at("2026-12-03T10:00:30Z")));
        assert!(overdue(start, 30_000, at("2026-12-03T10:00:31Z")));
        // A clock behind the recorded start, or a start that does not parse, is not late.
        assert!(!overdue(start, 30_000, at("2026-12-03T09:00:00Z")));
        assert!(!overdue("yesterday", 0, at("2026-12-03T10:00:00Z")));
    }
}
