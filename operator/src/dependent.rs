//! What the controllers of resources living in a `RustMQCluster` share (`Topic`, `AclRule`,
//! `Certificate`): finding the cluster and its admin API, the finalizer around each
//! reconcile, and writing status conditions with server-side apply.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::admin::AdminApi;
use crate::cluster::{MANAGER, Names};
use crate::conditions::condition;
use crate::context::Context;
use crate::crd::RustMQCluster;
use crate::error::{Error, Result};

/// A namespaced resource that names the `RustMQCluster` it belongs to and reports a
/// `Ready` condition.
pub trait ClusterResource:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Its status.
    type Status: Serialize + Clone + Default + PartialEq + Send;

    /// The `RustMQCluster` (same namespace) it belongs to.
    fn cluster_ref(&self) -> &str;
    /// Its current status, if any.
    fn status(&self) -> Option<&Self::Status>;
    /// The status's conditions.
    fn conditions(status: &Self::Status) -> &[Condition];
    /// `status` with its conditions replaced.
    fn set_conditions(status: &mut Self::Status, conditions: Vec<Condition>);
}

/// `Kind/namespace/name`, the key of backoffs and logs.
pub fn key<R: ClusterResource>(r: &R) -> String {
    format!(
        "{}/{}/{}",
        R::kind(&()),
        r.namespace().unwrap_or_default(),
        r.name_any()
    )
}

/// The span of one reconcile (`rustmq.operator.reconcile`): its log lines name the resource,
/// and with traces exported the admin-API calls it makes join it.
pub fn reconcile_span(controller: &str, namespace: &str, name: &str) -> tracing::Span {
    tracing::info_span!("rustmq.operator.reconcile", otel.name = %format!("reconcile {controller}"),
        controller, namespace, name)
}

/// Runs `apply` or, once the resource is being deleted, `cleanup` under `finalizer_name`,
/// counting the reconcile as `controller` in the metrics.
pub async fn reconcile_finalized<R, A, C>(
    obj: Arc<R>,
    ctx: Arc<Context>,
    finalizer_name: &str,
    controller: &'static str,
    apply: A,
    cleanup: C,
) -> Result<Action>
where
    R: ClusterResource,
    A: AsyncFn(&R, &Context) -> Result<Action>,
    C: AsyncFn(&R, &Context) -> Result<Action>,
{
    let started = Instant::now();
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let api: Api<R> = Api::namespaced(ctx.client.clone(), &ns);
    let span = reconcile_span(controller, &ns, &obj.name_any());
    let result = finalizer(&api, finalizer_name, obj.clone(), |event| async {
        match event {
            Finalizer::Apply(r) => apply(&r, &ctx).await,
            Finalizer::Cleanup(r) => cleanup(&r, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    ctx.metrics.reconciled(controller, started);
    if result.is_ok() {
        ctx.backoff.reset(&key(obj.as_ref()));
    }
    result
}

/// Retries a failed reconcile with a doubling delay (5 s up to 5 min).
pub fn retry<R: ClusterResource>(
    obj: &R,
    error: &Error,
    ctx: &Context,
    controller: &'static str,
) -> Action {
    tracing::warn!(resource = %key(obj), %error, "reconcile failed");
    ctx.metrics.failed(controller, error);
    Action::requeue(ctx.backoff.next(&key(obj)))
}

/// The cluster `r` belongs to and its admin API, unless the cluster is missing or being
/// deleted.
pub async fn cluster_of<R: ClusterResource>(
    r: &R,
    ctx: &Context,
) -> Result<Option<(RustMQCluster, AdminApi)>> {
    let ns = r.namespace().unwrap_or_else(|| "default".into());
    let clusters: Api<RustMQCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(c) = clusters.get_opt(r.cluster_ref()).await? else {
        return Ok(None);
    };
    if c.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let names = Names::new(&c.name_any(), &ns, &ctx.settings.cluster_domain);
    let admin = crate::cluster::admin_access(ctx, &c, &names)
        .await?
        .service(&names);
    Ok(Some((c, admin)))
}

/// Writes `status` with server-side apply, as the operator's field manager.
pub async fn write_status<R: ClusterResource>(
    r: &R,
    ctx: &Context,
    status: &R::Status,
) -> Result<()> {
    let api: Api<R> = Api::namespaced(ctx.client.clone(), &r.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": R::api_version(&()),
        "kind": R::kind(&()),
        "status": status,
    });
    api.patch_status(
        &r.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Writes `Ready=False` with `reason` (the rest of the status kept); a Warning Event the
/// first time the message is seen.
pub async fn not_ready<R: ClusterResource>(
    r: &R,
    ctx: &Context,
    reason: &str,
    message: String,
) -> Result<()> {
    let previous = r.status().cloned().unwrap_or_default();
    let conditions = R::conditions(&previous);
    let seen = conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.message == message);
    let ready = condition(
        conditions,
        "Ready",
        false,
        reason,
        &message,
        r.meta().generation,
    );
    let mut status = previous.clone();
    R::set_conditions(&mut status, vec![ready]);
    if status != previous {
        write_status(r, ctx, &status).await?;
    }
    if !seen {
        ctx.publish(r, EventType::Warning, reason, message).await;
    }
    Ok(())
}

/// A `Ready=True` condition with `reason` and `message`, its transition time kept from the
/// resource's current status.
pub fn ready_condition<R: ClusterResource>(r: &R, reason: &str, message: &str) -> Condition {
    let previous = r.status().map(R::conditions).unwrap_or_default();
    condition(
        previous,
        "Ready",
        true,
        reason,
        message,
        r.meta().generation,
    )
}

/// Whether the last status was written for the current generation: a difference found now
/// was made behind the operator's back (drift), not asked for by a spec change.
pub fn observed_current<R: ClusterResource>(r: &R, observed: Option<i64>) -> bool {
    observed.is_some() && observed == r.meta().generation
}
