//! The `Topic` controller: creates, grows, re-configures and deletes topics through the
//! cluster's admin API, puts back changes made behind its back, and guards deletion with a
//! finalizer that a vanished cluster releases.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use rustmq_controller::api::{AlterTopicRequest, TopicView};
use rustmq_controller::metadata::TopicConfig;
use serde_json::json;

use crate::admin::AdminApi;
use crate::cluster::{MANAGER, Names};
use crate::conditions::condition;
use crate::context::Context;
use crate::crd::{DeletionPolicy, RustMQCluster, Topic, TopicStatus};
use crate::error::{Error, Result};

/// The finalizer the operator puts on every `Topic`.
pub const FINALIZER: &str = "rustmq.io/topic";
const CONTROLLER: &str = "topic";

fn key(t: &Topic) -> String {
    format!(
        "Topic/{}/{}",
        t.namespace().unwrap_or_default(),
        t.name_any()
    )
}

/// The topic's name in RustMQ.
fn topic_name(t: &Topic) -> String {
    t.spec.topic_name.clone().unwrap_or_else(|| t.name_any())
}

/// Reconciles one `Topic`.
pub async fn reconcile(topic: Arc<Topic>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let ns = topic.namespace().unwrap_or_else(|| "default".into());
    let api: Api<Topic> = Api::namespaced(ctx.client.clone(), &ns);
    let result = finalizer(&api, FINALIZER, topic.clone(), |event| async {
        match event {
            Finalizer::Apply(t) => apply(&t, &ctx).await,
            Finalizer::Cleanup(t) => cleanup(&t, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconciled(CONTROLLER, started);
    if result.is_ok() {
        ctx.backoff.reset(&key(&topic));
    }
    result
}

/// Retries failures with a doubling delay (5 s up to 5 min).
pub fn error_policy(topic: Arc<Topic>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(topic = %key(&topic), %error, "reconcile failed");
    ctx.metrics.failed(CONTROLLER, error);
    Action::requeue(ctx.backoff.next(&key(&topic)))
}

/// The cluster the topic belongs to, unless it is missing or being deleted.
async fn cluster_of(t: &Topic, ctx: &Context) -> Result<Option<(RustMQCluster, AdminApi)>> {
    let ns = t.namespace().unwrap_or_else(|| "default".into());
    let clusters: Api<RustMQCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(c) = clusters.get_opt(&t.spec.cluster_ref).await? else {
        return Ok(None);
    };
    if c.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let names = Names::new(&c.name_any(), &ns, &ctx.settings.cluster_domain);
    Ok(Some((
        c,
        AdminApi::new(ctx.http.clone(), names.admin_url()),
    )))
}

async fn write_status(t: &Topic, ctx: &Context, status: TopicStatus) -> Result<()> {
    let api: Api<Topic> = Api::namespaced(ctx.client.clone(), &t.namespace().unwrap_or_default());
    let patch = json!({"apiVersion": "rustmq.io/v1alpha1", "kind": "Topic", "status": status});
    api.patch_status(
        &t.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Writes `Ready=False` with `reason`; a Warning Event the first time the message is seen.
async fn not_ready(t: &Topic, ctx: &Context, reason: &str, message: String) -> Result<()> {
    let previous = t.status.clone().unwrap_or_default();
    let seen = previous
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.message == message);
    let mut status = previous.clone();
    status.conditions = vec![condition(
        &previous.conditions,
        "Ready",
        false,
        reason,
        &message,
        t.metadata.generation,
    )];
    write_status(t, ctx, status).await?;
    if !seen {
        ctx.publish(t, EventType::Warning, reason, message).await;
    }
    Ok(())
}

/// The spec's config as the controllers understand it (the comparison is between parsed
/// settings, so `60000` and `"60000"` are the same).
fn desired_config(t: &Topic) -> std::result::Result<TopicConfig, String> {
    let mut c = TopicConfig::default();
    for (k, v) in &t.spec.config {
        c.set(k, v).map_err(|e| e.to_string())?;
    }
    Ok(c)
}

async fn apply(t: &Topic, ctx: &Context) -> Result<Action> {
    let resync = Action::requeue(ctx.settings.topic_resync);
    let Some((_, admin)) = cluster_of(t, ctx).await? else {
        not_ready(
            t,
            ctx,
            "ClusterNotFound",
            format!("RustMQCluster '{}' does not exist", t.spec.cluster_ref),
        )
        .await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };
    let config = match desired_config(t) {
        Ok(c) => c,
        Err(message) => {
            not_ready(t, ctx, "InvalidConfig", message).await?;
            return Ok(resync);
        }
    };
    let name = topic_name(t);
    let partitions = t.spec.partitions.max(1) as u32;
    let replication = t.spec.replication_factor.max(1) as u32;
    let view = match admin.topic(&name).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            match admin
                .create_topic(&name, partitions, replication, &t.spec.config)
                .await
            {
                Ok(()) => {}
                // Refusals the user must fix (too few brokers, a bad name): a condition.
                Err(Error::Admin {
                    status: Some(400),
                    message,
                    ..
                }) => {
                    not_ready(t, ctx, "CreateRefused", message).await?;
                    return Ok(Action::requeue(Duration::from_secs(30)));
                }
                Err(e) => return Err(e),
            }
            ctx.publish(
                t,
                EventType::Normal,
                "TopicCreated",
                format!("created topic '{name}' with {partitions} partitions"),
            )
            .await;
            admin.topic(&name).await?.ok_or_else(|| Error::Admin {
                url: admin.url(&format!("/api/v1/topics/{name}")),
                message: "created but not found".into(),
                status: None,
            })?
        }
        Err(e) => return Err(e),
    };
    if view.replication_factor != replication {
        not_ready(
            t,
            ctx,
            "ReplicationFactorMismatch",
            format!(
                "the topic has replication factor {}; changing it is a reassignment, not a spec change",
                view.replication_factor
            ),
        )
        .await?;
        return Ok(resync);
    }
    if partitions < view.partitions {
        not_ready(
            t,
            ctx,
            "PartitionsCannotShrink",
            format!(
                "the topic has {} partitions; partitions can only grow (spec asks for {partitions})",
                view.partitions
            ),
        )
        .await?;
        return Ok(resync);
    }
    let mut change = AlterTopicRequest::default();
    if partitions > view.partitions {
        change.partitions = Some(partitions);
    }
    let config_drifted = view.config != config;
    if config_drifted {
        change.config = Some(t.spec.config.clone());
    }
    let view = if change.partitions.is_some() || change.config.is_some() {
        // The last reconcile applied this very generation: a difference now was made by
        // someone else, and is being undone.
        let previous = t.status.clone().unwrap_or_default();
        let drift = previous.observed_generation == t.metadata.generation;
        let altered = admin.alter_topic(&name, &change).await?;
        let what = match (change.partitions, config_drifted) {
            (Some(p), true) => format!("partitions to {p} and its config"),
            (Some(p), false) => format!("partitions to {p}"),
            _ => "its config".into(),
        };
        if drift {
            ctx.publish(
                t,
                EventType::Warning,
                "DriftCorrected",
                format!(
                    "topic '{name}' was changed outside the operator; set {what} back to the spec"
                ),
            )
            .await;
        } else {
            ctx.publish(t, EventType::Normal, "TopicUpdated", format!("set {what}"))
                .await;
        }
        altered
    } else {
        view
    };
    ready(t, ctx, &view).await?;
    Ok(resync)
}

async fn ready(t: &Topic, ctx: &Context, view: &TopicView) -> Result<()> {
    let previous = t.status.clone().unwrap_or_default();
    let under = view.under_replicated_partitions as i32;
    let message = if under == 0 {
        format!("{} partitions, all fully replicated", view.partitions)
    } else {
        format!("{} partitions, {under} under-replicated", view.partitions)
    };
    let status = TopicStatus {
        observed_generation: t.metadata.generation,
        conditions: vec![condition(
            &previous.conditions,
            "Ready",
            true,
            "TopicReady",
            &message,
            t.metadata.generation,
        )],
        partitions: view.partitions as i32,
        under_replicated_partitions: under,
    };
    if t.status.as_ref() != Some(&status) {
        write_status(t, ctx, status).await?;
    }
    Ok(())
}

async fn cleanup(t: &Topic, ctx: &Context) -> Result<Action> {
    let name = topic_name(t);
    if t.spec.deletion_policy == DeletionPolicy::Retain {
        return Ok(Action::await_change());
    }
    // A cluster that is gone (or going) cannot hold the topic: release the finalizer so
    // that the namespace can be deleted.
    let Some((_, admin)) = cluster_of(t, ctx).await? else {
        return Ok(Action::await_change());
    };
    admin.delete_topic(&name).await?;
    ctx.publish(
        t,
        EventType::Normal,
        "TopicDeleted",
        format!("deleted topic '{name}'"),
    )
    .await;
    Ok(Action::await_change())
}

/// Runs the controller until the process is told to stop.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let topics = match &namespace {
        Some(ns) => Api::<Topic>::namespaced(ctx.client.clone(), ns),
        None => Api::<Topic>::all(ctx.client.clone()),
    };
    Controller::new(topics, watcher::Config::default().any_semantic())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, "topic controller");
            }
        })
        .await;
}
