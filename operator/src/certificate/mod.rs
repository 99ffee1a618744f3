//! The `Certificate` controller: has the cluster's controllers issue a certificate with the
//! cluster CA (recorded through Raft; the private key is in their answer only), writes it
//! into a Secret the resource owns, issues a new one (new key pair) `renewBefore` expiry,
//! when the identity in the spec changes, or when the certificate was revoked behind the
//! operator's back, and revokes it when the resource is deleted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use rustmq_controller::api::IssueCertificateRequest;
use rustmq_security::ca::{CertificateInfo, RevocationReason, inspect_der, parse_pem_chain};
use rustmq_security::identity::Role;
use serde_json::json;

use crate::cluster::MANAGER;
use crate::context::Context;
use crate::crd::{Certificate, CertificateRole, CertificateStatus};
use crate::dependent::{
    ClusterResource, cluster_of, not_ready, ready_condition, reconcile_finalized, retry,
    write_status,
};
use crate::error::{Error, Result};

/// The finalizer the operator puts on every `Certificate`.
pub const FINALIZER: &str = "rustmq.io/certificate";
const CONTROLLER: &str = "certificate";
/// Annotation on the Secret: the identity its certificate was issued for.
const ISSUED_FOR: &str = "rustmq.io/issued-for";
/// The shortest `duration` (the controllers refuse shorter validities).
const MIN_DURATION: Duration = Duration::from_secs(60);

impl ClusterResource for Certificate {
    type Status = CertificateStatus;
    fn cluster_ref(&self) -> &str {
        &self.spec.cluster_ref
    }
    fn status(&self) -> Option<&CertificateStatus> {
        self.status.as_ref()
    }
    fn conditions(status: &CertificateStatus) -> &[Condition] {
        &status.conditions
    }
    fn set_conditions(status: &mut CertificateStatus, conditions: Vec<Condition>) {
        status.conditions = conditions;
    }
}

/// Validity and renew-before of a spec, checked.
///
/// ```
/// use std::time::Duration;
/// use rustmq_operator::certificate::lifetimes;
/// assert_eq!(
///     lifetimes("2160h", None).unwrap(),
///     (Duration::from_secs(2160 * 3600), Duration::from_secs(720 * 3600))
/// );
/// assert!(lifetimes("1h", Some("2h")).is_err());
/// ```
pub fn lifetimes(
    duration: &str,
    renew_before: Option<&str>,
) -> std::result::Result<(Duration, Duration), String> {
    let parse = |field: &str, v: &str| {
        humantime::parse_duration(v).map_err(|e| format!("{field} '{v}': {e}"))
    };
    let validity = parse("duration", duration)?;
    if validity < MIN_DURATION {
        return Err(format!("duration '{duration}' is shorter than 1m"));
    }
    let renew = match renew_before {
        Some(r) => parse("renewBefore", r)?,
        None => validity / 3,
    };
    if renew >= validity {
        return Err(format!(
            "renewBefore ({}) must be shorter than duration ({duration})",
            renew_before.unwrap_or_default()
        ));
    }
    Ok((validity, renew))
}

fn role(r: CertificateRole) -> Role {
    match r {
        CertificateRole::Client => Role::Client,
        CertificateRole::Admin => Role::Admin,
        CertificateRole::Broker => Role::Broker,
        CertificateRole::Controller => Role::Controller,
    }
}

/// The identity a spec asks for, as recorded on the Secret: a change means a new
/// certificate.
fn identity(c: &Certificate) -> String {
    format!(
        "{}/{}/{}",
        role(c.spec.role).as_str(),
        c.spec.principal,
        c.spec.dns_names.join(",")
    )
}

fn secret_name(c: &Certificate) -> String {
    c.spec.secret_name.clone().unwrap_or_else(|| c.name_any())
}

fn time(seconds: i64) -> Option<Time> {
    Timestamp::from_second(seconds).ok().map(Time)
}

/// The certificate in a Secret, and the identity it was issued for.
fn stored(s: &Secret) -> Option<(CertificateInfo, String)> {
    let data = s.data.as_ref()?;
    let pem = std::str::from_utf8(&data.get("tls.crt")?.0).ok()?;
    let chain = parse_pem_chain(pem).ok()?;
    let info = inspect_der(chain.first()?).ok()?;
    let issued_for = s.annotations().get(ISSUED_FOR).cloned().unwrap_or_default();
    Some((info, issued_for))
}

/// Reconciles one `Certificate`.
pub async fn reconcile(cert: Arc<Certificate>, ctx: Arc<Context>) -> Result<Action> {
    reconcile_finalized(cert, ctx, FINALIZER, CONTROLLER, apply, cleanup).await
}

/// Retries failures with a doubling delay (5 s up to 5 min).
pub fn error_policy(cert: Arc<Certificate>, error: &Error, ctx: Arc<Context>) -> Action {
    retry(cert.as_ref(), error, &ctx, CONTROLLER)
}

async fn apply(c: &Certificate, ctx: &Context) -> Result<Action> {
    let Some((_, admin)) = cluster_of(c, ctx).await? else {
        not_ready(
            c,
            ctx,
            "ClusterNotFound",
            format!("RustMQCluster '{}' does not exist", c.spec.cluster_ref),
        )
        .await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };
    let (validity, renew_before) = match lifetimes(&c.spec.duration, c.spec.renew_before.as_deref())
    {
        Ok(l) => l,
        Err(message) => {
            not_ready(c, ctx, "InvalidSpec", message).await?;
            return Ok(Action::await_change());
        }
    };
    let ns = c.namespace().unwrap_or_else(|| "default".into());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let name = secret_name(c);
    let existing = secrets.get_opt(&name).await?;
    if let Some(s) = &existing {
        let uid = c.uid();
        let owned = s
            .owner_references()
            .iter()
            .any(|o| Some(&o.uid) == uid.as_ref());
        if !owned {
            not_ready(
                c,
                ctx,
                "SecretConflict",
                format!("Secret '{name}' exists and is not owned by this Certificate"),
            )
            .await?;
            return Ok(Action::requeue(Duration::from_secs(30)));
        }
    }
    let now = Timestamp::now().as_second();
    let current = existing.as_ref().and_then(stored);
    // Why a new certificate is needed, if it is; and the serial it renews.
    let (why, replaces) = match &current {
        None => (Some("Issued"), None),
        Some((_, issued_for)) if *issued_for != identity(c) => (Some("Reissued"), None),
        Some((info, _)) => match admin.certificate(&info.serial).await? {
            None => (Some("Reissued"), None),
            Some(r) if r.is_revoked() => (Some("ReissuedAfterRevocation"), None),
            Some(_) if now >= info.not_after - renew_before.as_secs() as i64 => {
                (Some("Renewed"), Some(info.serial.clone()))
            }
            Some(_) => (None, None),
        },
    };
    let mut issued = c.status.as_ref().map_or(0, |s| s.issued);
    let info = match why {
        None => current
            .map(|(info, _)| info)
            .ok_or_else(|| Error::Certificate("the stored certificate vanished".into()))?,
        Some(reason) => {
            let request = IssueCertificateRequest {
                principal: c.spec.principal.clone(),
                role: role(c.spec.role),
                validity_days: 1,
                validity_seconds: Some(validity.as_secs()),
                dns_names: c.spec.dns_names.clone(),
                ip_addresses: Vec::new(),
                replaces,
            };
            let view = match admin.issue_certificate(&request).await {
                Ok(v) => v,
                Err(Error::Admin {
                    status: Some(409),
                    message,
                    ..
                }) => {
                    not_ready(c, ctx, "NoIssuingCA", message).await?;
                    return Ok(Action::requeue(Duration::from_secs(60)));
                }
                Err(Error::Admin {
                    status: Some(400),
                    message,
                    ..
                }) => {
                    not_ready(c, ctx, "IssueRefused", message).await?;
                    return Ok(Action::await_change());
                }
                Err(e) => return Err(e),
            };
            write_secret(c, ctx, &name, &view).await?;
            issued += 1;
            let info = view.certificate.info;
            ctx.publish(
                c,
                EventType::Normal,
                reason,
                format!(
                    "certificate {} for {}/{} written to Secret '{name}'",
                    info.serial,
                    role(c.spec.role).as_str(),
                    c.spec.principal
                ),
            )
            .await;
            info
        }
    };
    let renewal = info.not_after - renew_before.as_secs() as i64;
    let status = CertificateStatus {
        observed_generation: c.metadata.generation,
        conditions: vec![ready_condition(
            c,
            "Issued",
            &format!("certificate {} in Secret '{name}'", info.serial),
        )],
        serial: Some(info.serial.clone()),
        not_before: time(info.not_before),
        not_after: time(info.not_after),
        renewal_time: time(renewal),
        secret_name: Some(name),
        issued,
    };
    if c.status.as_ref() != Some(&status) {
        write_status(c, ctx, &status).await?;
    }
    // Back at the renewal time, and meanwhile on the resync to notice revocations.
    let until_renewal = Duration::from_secs((renewal - now).max(1) as u64);
    Ok(Action::requeue(until_renewal.min(ctx.settings.resync)))
}

async fn write_secret(
    c: &Certificate,
    ctx: &Context,
    name: &str,
    view: &rustmq_controller::api::IssuedCertificateView,
) -> Result<()> {
    let ns = c.namespace().unwrap_or_else(|| "default".into());
    let mut s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {
                "app.kubernetes.io/name": "rustmq",
                "app.kubernetes.io/instance": c.spec.cluster_ref,
                "app.kubernetes.io/managed-by": "rustmq-operator",
            },
            "annotations": {ISSUED_FOR: identity(c)},
        },
    }))?;
    s.metadata.owner_references = c.controller_owner_ref(&()).map(|o| vec![o]);
    s.data = Some(BTreeMap::from([
        (
            "tls.crt".into(),
            ByteString(view.chain_pem.clone().into_bytes()),
        ),
        (
            "tls.key".into(),
            ByteString(view.private_key_pem.clone().into_bytes()),
        ),
        (
            "ca.crt".into(),
            ByteString(view.ca_pem.clone().into_bytes()),
        ),
    ]));
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    secrets
        .patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&s),
        )
        .await?;
    Ok(())
}

async fn cleanup(c: &Certificate, ctx: &Context) -> Result<Action> {
    // A cluster that is gone (or going) has no sessions to end: release the finalizer.
    let Some((_, admin)) = cluster_of(c, ctx).await? else {
        return Ok(Action::await_change());
    };
    // The Secret goes with the resource (it is owned); the certificate must stop working.
    if let Some(serial) = c.status.as_ref().and_then(|s| s.serial.clone()) {
        admin
            .revoke_certificate(&serial, RevocationReason::CessationOfOperation)
            .await?;
        ctx.publish(
            c,
            EventType::Normal,
            "Revoked",
            format!("certificate {serial} revoked: its Certificate was deleted"),
        )
        .await;
    }
    Ok(Action::await_change())
}

/// Runs the controller until the process is told to stop. Secrets are not watched (the
/// operator may read Secrets one by one, not list them): a deleted or edited Secret is
/// put right on the next resync.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let certs = match &namespace {
        Some(ns) => Api::<Certificate>::namespaced(ctx.client.clone(), ns),
        None => Api::<Certificate>::all(ctx.client.clone()),
    };
    Controller::new(certs, watcher::Config::default().any_semantic())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::warn!(error = %e, "certificate controller");
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_take_go_style_durations_and_refuse_nonsense() {
        assert_eq!(
            lifetimes("1h30m", Some("30m")).unwrap(),
            (Duration::from_secs(5400), Duration::from_secs(1800))
        );
        assert_eq!(
            lifetimes("90s", None).unwrap(),
            (Duration::from_secs(90), Duration::from_secs(30))
        );
        for (d, r, needle) in [
            ("30s", None, "shorter than 1m"),
            ("2h", Some("2h"), "must be shorter"),
            ("ninety days", None, "duration"),
            ("2h", Some("soon"), "renewBefore"),
        ] {
            let e = lifetimes(d, r).unwrap_err();
            assert!(e.contains(needle), "{d} {r:?}: {e}");
        }
    }

    #[test]
    fn the_identity_changes_with_principal_role_and_names() {
        let cert = |spec: serde_json::Value| -> Certificate {
            serde_json::from_value(json!({
                "apiVersion": "rustmq.io/v1alpha1", "kind": "Certificate",
                "metadata": {"name": "c", "namespace": "ns"}, "spec": spec,
            }))
            .unwrap()
        };
        let a = cert(json!({"clusterRef": "rmq", "principal": "app"}));
        assert_eq!(identity(&a), "client/app/");
        assert_eq!(secret_name(&a), "c");
        let b = cert(json!({"clusterRef": "rmq", "principal": "app", "role": "admin"}));
        assert_ne!(identity(&a), identity(&b));
        let d = cert(json!({"clusterRef": "rmq", "principal": "app", "dnsNames": ["x.svc"]}));
        assert_ne!(identity(&a), identity(&d));
    }
}
