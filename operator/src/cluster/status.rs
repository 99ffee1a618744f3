//! What the cluster's status says: ready pods from the StatefulSets, the cluster id and
//! brokers from the admin API, and the `Ready`, `Progressing` and `Degraded` conditions.

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use serde_json::json;

use super::MANAGER;
use super::day2::Report;
use super::names::Names;
use crate::conditions::{condition, is_true};
use crate::context::Context;
use crate::crd::{RustMQCluster, RustMQClusterStatus};
use crate::error::Result;

async fn write(cluster: &RustMQCluster, ctx: &Context, status: RustMQClusterStatus) -> Result<()> {
    let api: Api<RustMQCluster> =
        Api::namespaced(ctx.client.clone(), &cluster.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": "rustmq.io/v1alpha1",
        "kind": "RustMQCluster",
        "status": status,
    });
    api.patch_status(
        &cluster.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Reports a spec the operator cannot act on: `Degraded` with the reason, and a Warning
/// Event the first time this message is seen.
pub async fn degraded(
    cluster: &RustMQCluster,
    ctx: &Context,
    reason: &str,
    message: &str,
) -> Result<()> {
    let previous = cluster.status.clone().unwrap_or_default();
    let generation = cluster.metadata.generation;
    let already = previous
        .conditions
        .iter()
        .any(|c| c.type_ == "Degraded" && c.status == "True" && c.message == message);
    let mut status = previous.clone();
    status.observed_generation = generation;
    status.phase = Some("Degraded".into());
    status.conditions = vec![
        condition(
            &previous.conditions,
            "Ready",
            false,
            reason,
            message,
            generation,
        ),
        condition(
            &previous.conditions,
            "Progressing",
            false,
            reason,
            "waiting for the spec to be fixed",
            generation,
        ),
        condition(
            &previous.conditions,
            "Degraded",
            true,
            reason,
            message,
            generation,
        ),
    ];
    write(cluster, ctx, status).await?;
    if !already {
        ctx.publish(cluster, EventType::Warning, reason, message.to_string())
            .await;
    }
    Ok(())
}

/// One StatefulSet's rollout.
struct Rollout {
    ready: i32,
    done: bool,
}

async fn rollout(api: &Api<StatefulSet>, name: &str, want: i32) -> Result<Rollout> {
    let Some(s) = api.get_opt(name).await? else {
        return Ok(Rollout {
            ready: 0,
            done: false,
        });
    };
    let st = s.status.unwrap_or_default();
    let ready = st.ready_replicas.unwrap_or(0);
    let seen = st.observed_generation == s.metadata.generation;
    // With the OnDelete strategy the StatefulSet controller never moves `currentRevision`
    // on; every pod at the update revision is what a finished rollout looks like.
    Ok(Rollout {
        ready,
        done: seen
            && st.update_revision.is_some()
            && st.updated_replicas.unwrap_or(0) == want
            && ready == want
            && st.replicas == want,
    })
}

/// Writes the status from what the StatefulSets and the admin API show; true when the
/// cluster is `Ready`.
pub async fn observe(
    cluster: &RustMQCluster,
    ctx: &Context,
    names: &Names,
    day2: Report,
) -> Result<bool> {
    let spec = &cluster.spec;
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let controllers = rollout(&sets, &names.controllers(), spec.controllers.replicas).await?;
    let brokers = rollout(&sets, &names.brokers(), spec.brokers.replicas).await?;
    let previous = cluster.status.clone().unwrap_or_default();
    let generation = cluster.metadata.generation;

    // The admin API answers once the controllers run; its view says whether the brokers
    // have registered and a leader is elected.
    let admin = super::admin_access(ctx, cluster, names)
        .await?
        .service(names);
    let view = if controllers.ready > 0 {
        admin.cluster().await.ok()
    } else {
        None
    };
    let online = view
        .as_ref()
        .map_or(0, |v| v.brokers.iter().filter(|b| b.online).count() as i32);
    let leader = view.as_ref().is_some_and(|v| v.healthy);
    let rolled = controllers.done && brokers.done && day2.operation.is_none();
    let serving = leader && online >= spec.brokers.replicas;
    let ready = rolled && serving && day2.blocked.is_none();
    let (reason, message) = if let Some((reason, message)) = &day2.blocked {
        (*reason, message.clone())
    } else if ready {
        (
            "ClusterReady",
            format!(
                "{} controllers and {} brokers ready",
                controllers.ready, brokers.ready
            ),
        )
    } else if let Some(op) = &day2.operation {
        (
            match op.kind.as_str() {
                "ScaleOut" => "ScalingOut",
                "ScaleIn" => "ScalingIn",
                _ => "RollingUpdate",
            },
            op.message.clone(),
        )
    } else if !rolled {
        (
            "RollingOut",
            format!(
                "controllers {}/{} ready, brokers {}/{} ready",
                controllers.ready, spec.controllers.replicas, brokers.ready, spec.brokers.replicas
            ),
        )
    } else if !leader {
        (
            "NoLeader",
            "the controllers have not elected a leader".into(),
        )
    } else {
        (
            "BrokersRegistering",
            format!(
                "{online} of {} brokers registered and online",
                spec.brokers.replicas
            ),
        )
    };
    let version = if rolled {
        Some(spec.version.clone())
    } else {
        previous.version.clone()
    };
    let status = RustMQClusterStatus {
        observed_generation: generation,
        phase: Some(if ready { "Running" } else { "Pending" }.into()),
        conditions: vec![
            condition(
                &previous.conditions,
                "Ready",
                ready,
                reason,
                &message,
                generation,
            ),
            condition(
                &previous.conditions,
                "Progressing",
                !ready,
                reason,
                &message,
                generation,
            ),
            match &day2.blocked {
                Some((reason, message)) => condition(
                    &previous.conditions,
                    "Degraded",
                    true,
                    reason,
                    message,
                    generation,
                ),
                None => condition(
                    &previous.conditions,
                    "Degraded",
                    false,
                    "AsExpected",
                    "the spec is valid and applied",
                    generation,
                ),
            },
        ],
        ready_brokers: brokers.ready,
        ready_controllers: controllers.ready,
        bootstrap_servers: Some(names.bootstrap_servers()),
        admin_url: Some(names.admin_url(cluster.spec.security.enabled)),
        cluster_id: view
            .as_ref()
            .map(|v| v.cluster_id.clone())
            .filter(|id| !id.is_empty())
            .or(previous.cluster_id.clone()),
        version,
        operation: day2.operation.clone(),
        rebalance: day2.rebalance.clone(),
    };
    let was_ready = is_true(&previous.conditions, "Ready");
    let was_blocked = previous.conditions.iter().any(|c| {
        c.type_ == "Degraded"
            && c.status == "True"
            && Some(&c.message) == day2.blocked.as_ref().map(|b| &b.1)
    });
    write(cluster, ctx, status).await?;
    if let Some((reason, message)) = &day2.blocked
        && !was_blocked
    {
        ctx.publish(cluster, EventType::Warning, reason, message.clone())
            .await;
    }
    if ready && !was_ready {
        ctx.publish(cluster, EventType::Normal, "ClusterReady", message)
            .await;
    }
    Ok(ready)
}
