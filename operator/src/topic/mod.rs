//! The `Topic` controller: creates, grows, re-configures and deletes topics through the
//! cluster's admin API, puts back changes made behind its back, and guards deletion with a
//! finalizer that a vanished cluster releases.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use rustmq_controller::api::{AlterTopicRequest, TopicView};
use rustmq_controller::metadata::TopicConfig;

use crate::context::Context;
use crate::crd::{DeletionPolicy, Topic, TopicStatus};
use crate::dependent::{
    ClusterResource, cluster_of, not_ready, observed_current, ready_condition, reconcile_finalized,
    retry, write_status,
};
use crate::error::{Error, Result};

/// The finalizer the operator puts on every `Topic`.
pub const FINALIZER: &str = "rustmq.io/topic";
const CONTROLLER: &str = "topic";

impl ClusterResource for Topic {
    type Status = TopicStatus;
    fn cluster_ref(&self) -> &str {
        &self.spec.cluster_ref
    }
    fn status(&self) -> Option<&TopicStatus> {
        self.status.as_ref()
    }
    fn conditions(status: &TopicStatus) -> &[Condition] {
        &status.conditions
    }
    fn set_conditions(status: &mut TopicStatus, conditions: Vec<Condition>) {
        status.conditions = conditions;
    }
}

/// The topic's name in RustMQ.
fn topic_name(t: &Topic) -> String {
    t.spec.topic_name.clone().unwrap_or_else(|| t.name_any())
}

/// Reconciles one `Topic`.
pub async fn reconcile(topic: Arc<Topic>, ctx: Arc<Context>) -> Result<Action> {
    reconcile_finalized(topic, ctx, FINALIZER, CONTROLLER, apply, cleanup).await
}

/// Retries failures with a doubling delay (5 s up to 5 min).
pub fn error_policy(topic: Arc<Topic>, error: &Error, ctx: Arc<Context>) -> Action {
    retry(topic.as_ref(), error, &ctx, CONTROLLER)
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
    let resync = Action::requeue(ctx.settings.resync);
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
        let drift = observed_current(t, t.status.as_ref().and_then(|s| s.observed_generation));
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
    let under = view.under_replicated_partitions as i32;
    let message = if under == 0 {
        format!("{} partitions, all fully replicated", view.partitions)
    } else {
        format!("{} partitions, {under} under-replicated", view.partitions)
    };
    let status = TopicStatus {
        observed_generation: t.metadata.generation,
        conditions: vec![ready_condition(t, "TopicReady", &message)],
        partitions: view.partitions as i32,
        under_replicated_partitions: under,
    };
    if t.status.as_ref() != Some(&status) {
        write_status(t, ctx, &status).await?;
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
