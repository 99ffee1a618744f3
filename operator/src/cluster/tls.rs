//! The Secrets behind the cluster's TLS: the operator's CA (created once, kept) and the
//! per-pod certificates signed by it, or a user's existing Secret, checked.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::certs::{StoredCa, new_ca, sign};
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
        .map(|i| (names.controller_pod(i), names.controllers(), false))
        .chain(
            (0..cluster.spec.brokers.replicas)
                .map(|i| (names.broker_pod(i), names.brokers(), true)),
        );
    for (pod, service, broker) in pods {
        let (crt, key) = (format!("{pod}.crt"), format!("{pod}.key"));
        if data.contains_key(&crt) && data.contains_key(&key) {
            continue;
        }
        let leaf = sign(
            &ca,
            &scope,
            &names.certificate_names(&pod, &service, broker),
        )?;
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
