//! The `RustMQCluster` controller: renders the configuration, certificates, Services,
//! StatefulSets and disruption budgets of a cluster, applies them server-side, and reports
//! what it sees in the status.

mod admin_access;
pub mod certs;
pub mod config;
pub mod day2;
mod names;
pub mod rbac;
pub mod resources;
pub mod roll;
pub mod scale;
mod status;
mod tls;

pub use admin_access::{AdminAccess, AdminClients, admin_access};
pub use names::{Names, ports};

use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Context;
use crate::crd::RustMQCluster;
use crate::error::{Error, Result};
use resources::Component;

/// The field manager of everything the operator applies.
pub const MANAGER: &str = "rustmq-operator";
/// The finalizer on every `RustMQCluster`: its cluster-scoped RBAC binding has no owner the
/// garbage collector could follow.
pub const FINALIZER: &str = "rustmq.io/cluster";
const CONTROLLER: &str = "rustmq_cluster";

/// Reconciles one `RustMQCluster`.
pub async fn reconcile(cluster: Arc<RustMQCluster>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let api: Api<RustMQCluster> = Api::namespaced(
        ctx.client.clone(),
        &cluster.namespace().unwrap_or_else(|| "default".into()),
    );
    let span = crate::dependent::reconcile_span(
        "rustmqcluster",
        &cluster.namespace().unwrap_or_else(|| "default".into()),
        &cluster.name_any(),
    );
    let result = finalizer(&api, FINALIZER, cluster.clone(), |event| async {
        match event {
            Finalizer::Apply(c) => apply(&c, &ctx).await,
            Finalizer::Cleanup(c) => {
                rbac::remove(&ctx.client, &names(&c, &ctx)).await?;
                Ok(Action::await_change())
            }
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconciled(CONTROLLER, started);
    if result.is_ok() {
        ctx.backoff.reset(&key(&cluster));
    }
    result
}

/// Failed reconciliations are retried after a delay that doubles per consecutive failure
/// (5 s up to 5 min), so a broken API server is not hammered.
pub fn error_policy(cluster: Arc<RustMQCluster>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(cluster = %key(&cluster), %error, "reconcile failed");
    ctx.metrics.failed(CONTROLLER, error);
    Action::requeue(ctx.backoff.next(&key(&cluster)))
}

fn key(c: &RustMQCluster) -> String {
    format!(
        "RustMQCluster/{}/{}",
        c.namespace().unwrap_or_default(),
        c.name_any()
    )
}

fn names(cluster: &RustMQCluster, ctx: &Context) -> Names {
    Names::new(
        &cluster.name_any(),
        &cluster.namespace().unwrap_or_else(|| "default".into()),
        &ctx.settings.cluster_domain,
    )
}

async fn apply(cluster: &RustMQCluster, ctx: &Context) -> Result<Action> {
    let names = names(cluster, ctx);
    tracing::debug!(cluster = %key(cluster), "reconciling");
    let day2 = match build(cluster, ctx, &names).await {
        Ok((cfg, scaled, controllers)) => {
            day2::after_apply(cluster, ctx, &names, &cfg, &scaled, &controllers).await?
        }
        Err(Error::InvalidSpec { reason, message }) => {
            status::degraded(cluster, ctx, reason, &message).await?;
            // Nothing will change until the spec (or a referenced Secret) does: look again
            // now and then for the latter.
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
        Err(e) => return Err(e),
    };
    let busy = day2.operation.is_some();
    let ready = status::observe(cluster, ctx, &names, day2).await?;
    Ok(Action::requeue(if ready && !busy {
        ctx.settings.cluster_resync
    } else {
        Duration::from_secs(5)
    }))
}

async fn build(
    cluster: &RustMQCluster,
    ctx: &Context,
    names: &Names,
) -> Result<(
    rustmq_broker::config::BrokerConfig,
    scale::ScaleDecision,
    scale::ControllerScaleDecision,
)> {
    let spec = &cluster.spec;
    let broker_toml = config::broker_toml(spec, names)?;
    let controller_toml = config::controller_toml(spec, names)?;
    let broker_config = config::validate(
        &broker_toml,
        &controller_toml,
        spec.tls.existing_secret.is_none(),
    )?;
    tls::ensure(cluster, &ctx.client, names).await?;
    rbac::ensure(&ctx.client, names).await?;
    // Per component: a broker setting restarts no controller, and a broker setting the
    // brokers apply at runtime restarts nothing (the new file reaches the pods anyway).
    let hashes = [
        config_hash(&[&controller_toml]),
        config_hash(&[&config::restart_relevant(
            &broker_toml,
            broker_config.operations.allow_runtime_config_updates,
        )?]),
    ];
    let ns = &names.namespace;
    let client = &ctx.client;
    apply_object::<ServiceAccount>(client, ns, resources::service_account(cluster, names)?).await?;
    apply_object::<ConfigMap>(
        client,
        ns,
        resources::config_map(cluster, names, &broker_toml, &controller_toml)?,
    )
    .await?;
    for c in [Component::Controller, Component::Broker] {
        apply_object::<Service>(client, ns, resources::headless_service(cluster, names, c)?)
            .await?;
    }
    apply_object::<Service>(client, ns, resources::admin_service(cluster, names)?).await?;
    apply_object::<Service>(client, ns, resources::bootstrap_service(cluster, names)?).await?;
    let scaled = day2::scale(cluster, ctx, names, &broker_config).await?;
    let controllers = day2::scale_controllers(cluster, ctx, names).await?;
    for (c, hash) in [Component::Controller, Component::Broker]
        .iter()
        .zip(&hashes)
    {
        let c = *c;
        let replicas = match c {
            Component::Controller => controllers.replicas,
            Component::Broker => scaled.replicas,
        };
        apply_object::<StatefulSet>(
            client,
            ns,
            resources::stateful_set(cluster, names, c, hash, replicas, grace(c, &broker_config))?,
        )
        .await?;
        apply_object::<PodDisruptionBudget>(
            client,
            ns,
            resources::disruption_budget(cluster, names, c)?,
        )
        .await?;
    }
    Ok((broker_config, scaled, controllers))
}

/// The pods' termination grace period: a broker's is `operations.graceful_shutdown_timeout_ms`
/// (its controlled shutdown hands leaderships over first); a controller stops in moments.
fn grace(c: Component, cfg: &rustmq_broker::config::BrokerConfig) -> i64 {
    match c {
        Component::Controller => 30,
        Component::Broker => cfg.operations.graceful_shutdown_timeout_ms.div_ceil(1000) as i64,
    }
}

/// Applies `object` server-side as the operator (taking over fields others set).
async fn apply_object<K>(client: &kube::Client, namespace: &str, object: K) -> Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = object.name_any();
    match api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
    {
        Ok(_) => Ok(()),
        // The API server refused what the spec rendered to (a bad quantity or affinity, a
        // field it will not change): the user's to fix, so a condition, not a retry loop.
        Err(kube::Error::Api(e)) if e.code == 422 => Err(Error::InvalidSpec {
            reason: "RefusedByApiServer",
            message: format!("{} {name}: {}", K::kind(&Default::default()), e.message),
        }),
        Err(e) => Err(e.into()),
    }
}

/// A stable digest of the rendered files (FNV-1a): the same text gives the same hash in
/// every operator version, so upgrading the operator rolls no pods by itself.
fn config_hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.bytes().chain([0])) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Runs the controller until the process is told to stop. `namespace`: watch one
/// namespace (unset: all).
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let (clusters, sets) = match &namespace {
        Some(ns) => (
            Api::<RustMQCluster>::namespaced(ctx.client.clone(), ns),
            Api::<StatefulSet>::namespaced(ctx.client.clone(), ns),
        ),
        None => (
            Api::<RustMQCluster>::all(ctx.client.clone()),
            Api::<StatefulSet>::all(ctx.client.clone()),
        ),
    };
    Controller::new(clusters, watcher::Config::default().any_semantic())
        .owns(
            sets,
            watcher::Config::default().labels("app.kubernetes.io/managed-by=rustmq-operator"),
        )
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cluster controller");
            }
        })
        .await;
}
