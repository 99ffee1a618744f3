//! The Secrets behind the cluster's TLS: the operator's CA (created once, kept) and the
//! per-pod certificates signed by it, or a user's existing Secret, checked.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use rustmq_security::identity::Role;

use super::certs::{StoredCa, declared_role, new_ca, seconds_left, served_names, sign};
use super::names::Names;
use crate::crd::RustMQCluster;
use crate::error::{Error, Result};

const MANAGER: &str = "rustmq-operator";

/// Makes sure the pods' TLS Secret exists and holds a certificate for every pod of the
/// spec (a user's Secret is only checked).
pub async fn ensure(cluster: &RustMQCluster, client: &kube::Client, names: &Names) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &names.namespace);
    if let Some(name) = &cluster.spec.tls.existing_secret {
        let Some(s) = secrets.get_opt(name).await? else {
            return Err(Error::InvalidSpec {
                reason: "TlsSecretNotFound",
                message: format!("tls.existingSecret '{name}' does not exist"),
            });
        };
        let data = s.data.unwrap_or_default();
        let missing: Vec<&str> = ["ca.crt", "tls.crt", "tls.key"]
            .into_iter()
            .filter(|k| !data.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            return Err(Error::InvalidSpec {
                reason: "TlsSecretIncomplete",
                message: format!("tls.existingSecret '{name}' lacks {}", missing.join(", ")),
            });
        }
        if cluster.spec.security.enabled {
            // The operator holds no key of that CA: the user gives it an admin certificate.
            let admin = names.operator_admin_secret();
            let data = secrets
                .get_opt(&admin)
                .await?
                .and_then(|s| s.data)
                .unwrap_or_default();
            if !["ca.crt", "tls.crt", "tls.key"]
                .iter()
                .all(|k| data.contains_key(*k))
            {
                return Err(Error::InvalidSpec {
                    reason: "OperatorCertificateMissing",
                    message: format!(
                        "security with tls.existingSecret needs the Secret '{admin}' (ca.crt, tls.crt, tls.key) holding an admin certificate of that CA for the operator"
                    ),
                });
            }
        }
        return Ok(());
    }
    let scope = format!("{}/{}", names.namespace, names.cluster);
    let ca = match secrets.get_opt(&names.ca_secret()).await? {
        Some(s) => read_ca(&s)?,
        None => {
            let ca = new_ca(&scope)?;
            let mut s = secret(cluster, names, &names.ca_secret());
            s.data = Some(BTreeMap::from([
                (
                    "ca.crt".into(),
                    ByteString(ca.cert_pem.clone().into_bytes()),
                ),
                ("ca.key".into(), ByteString(ca.key_pem.clone().into_bytes())),
            ]));
            // Created, never overwritten: a second operator losing the race reads the
            // winner's CA on its next pass.
            secrets.create(&PostParams::default(), &s).await?;
            ca
        }
    };
    let current = secrets
        .get_opt(&names.tls_secret())
        .await?
        .and_then(|s| s.data)
        .unwrap_or_default();
    let mut data = current.clone();
    data.insert(
        "ca.crt".into(),
        ByteString(ca.cert_pem.clone().into_bytes()),
    );
    let pods = (0..cluster.spec.controllers.replicas)
        .map(|i| {
            (
                names.controller_pod(i),
                names.controllers(),
                Role::Controller,
            )
        })
        .chain(
            (0..cluster.spec.brokers.replicas)
                .map(|i| (names.broker_pod(i), names.brokers(), Role::Broker)),
        );
    for (pod, service, role) in pods {
        let (crt, key) = (format!("{pod}.crt"), format!("{pod}.key"));
        let wanted = names.certificate_names(&pod, &service, role == Role::Broker);
        let have = data.get(&crt).and_then(|c| std::str::from_utf8(&c.0).ok());
        // Certificates from before identities (or the admin Service's names) were carried
        // are issued again: with security on, internal RPC takes only broker and
        // controller identities, and the operator dials the admin Service by name.
        if have.is_some_and(|c| declared_role(c) == Some(role) && served_names(c) == wanted)
            && data.contains_key(&key)
        {
            continue;
        }
        let leaf = sign(&ca, role, &pod, &wanted, None)?;
        data.insert(crt, ByteString(leaf.cert_pem.into_bytes()));
        data.insert(key, ByteString(leaf.key_pem.into_bytes()));
    }
    if data != current {
        let mut s = secret(cluster, names, &names.tls_secret());
        s.data = Some(data);
        secrets
            .patch(
                &names.tls_secret(),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&s),
            )
            .await?;
    }
    if cluster.spec.security.enabled {
        ensure_operator_admin(cluster, &secrets, names, &ca).await?;
    }
    Ok(())
}

/// The principal of the operator's admin certificate.
pub const OPERATOR_PRINCIPAL: &str = "rustmq-operator";

/// How long the operator's admin certificate is valid, and how long before its end it is
/// issued again.
const ADMIN_VALIDITY: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);
const ADMIN_RENEW_BEFORE_S: i64 = 30 * 86_400;

/// With security on, the operator's own admin certificate (in a Secret no pod mounts):
/// issued when missing, of another CA, or within 30 days of its end.
async fn ensure_operator_admin(
    cluster: &RustMQCluster,
    secrets: &Api<Secret>,
    names: &Names,
    ca: &StoredCa,
) -> Result<()> {
    let name = names.operator_admin_secret();
    let current = secrets
        .get_opt(&name)
        .await?
        .and_then(|s| s.data)
        .unwrap_or_default();
    let text = |k: &str| {
        current
            .get(k)
            .and_then(|b| std::str::from_utf8(&b.0).ok())
            .map(str::to_string)
    };
    let fresh = text("ca.crt").as_deref() == Some(ca.cert_pem.as_str())
        && text("tls.key").is_some()
        && text("tls.crt").as_deref().is_some_and(|c| {
            declared_role(c) == Some(Role::Admin)
                && seconds_left(c).is_some_and(|s| s > ADMIN_RENEW_BEFORE_S)
        });
    if fresh {
        return Ok(());
    }
    let leaf = sign(
        ca,
        Role::Admin,
        OPERATOR_PRINCIPAL,
        &[],
        Some(ADMIN_VALIDITY),
    )?;
    let mut s = secret(cluster, names, &name);
    s.data = Some(BTreeMap::from([
        (
            "ca.crt".into(),
            ByteString(ca.cert_pem.clone().into_bytes()),
        ),
        ("tls.crt".into(), ByteString(leaf.cert_pem.into_bytes())),
        ("tls.key".into(), ByteString(leaf.key_pem.into_bytes())),
    ]));
    secrets
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&s),
        )
        .await?;
    tracing::info!(secret = %name, "issued the operator's admin certificate");
    Ok(())
}

fn secret(cluster: &RustMQCluster, names: &Names, name: &str) -> Secret {
    let mut s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": names.namespace,
            "labels": {
                "app.kubernetes.io/name": "rustmq",
                "app.kubernetes.io/instance": cluster.name_any(),
                "app.kubernetes.io/managed-by": "rustmq-operator",
            },
        },
    }))
    .unwrap_or_default();
    s.metadata.owner_references = cluster.controller_owner_ref(&()).map(|o| vec![o]);
    s
}

fn read_ca(s: &Secret) -> Result<StoredCa> {
    let data = s.data.clone().unwrap_or_default();
    let text = |k: &str| {
        data.get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .ok_or_else(|| Error::Certificate(format!("Secret {} lacks {k}", s.name_any())))
    };
    Ok(StoredCa {
        cert_pem: text("ca.crt")?,
        key_pem: text("ca.key")?,
    })
}
