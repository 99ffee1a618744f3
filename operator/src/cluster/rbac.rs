//! What lets the brokers' init container read its Node's zone label: a ClusterRole
//! (`get nodes`, shared by every cluster) and one ClusterRoleBinding per cluster for its
//! ServiceAccount. Both are cluster-scoped, so no namespaced owner can garbage-collect the
//! binding: the cluster's finalizer deletes it.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use super::MANAGER;
use super::names::Names;
use crate::error::Result;

/// The ClusterRole every cluster's brokers are bound to.
pub const NODE_READER: &str = "rustmq-node-reader";

/// The per-cluster binding's name (cluster-scoped, so the namespace is in it).
pub fn binding_name(names: &Names) -> String {
    format!("rustmq-{}-{}-node-reader", names.namespace, names.cluster)
}

/// Applies the ClusterRole and this cluster's ClusterRoleBinding.
pub async fn ensure(client: &kube::Client, names: &Names) -> Result<()> {
    let params = PatchParams::apply(MANAGER).force();
    let role: ClusterRole = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": NODE_READER, "labels": {"app.kubernetes.io/managed-by": "rustmq-operator"}},
        "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
    }))?;
    Api::<ClusterRole>::all(client.clone())
        .patch(NODE_READER, &params, &Patch::Apply(&role))
        .await?;
    let name = binding_name(names);
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {
            "app.kubernetes.io/managed-by": "rustmq-operator",
            "app.kubernetes.io/instance": names.cluster,
            "rustmq.io/namespace": names.namespace,
        }},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NODE_READER},
        "subjects": [{"kind": "ServiceAccount", "name": names.service_account(), "namespace": names.namespace}],
    }))?;
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(&name, &params, &Patch::Apply(&binding))
        .await?;
    Ok(())
}

/// Deletes this cluster's ClusterRoleBinding (the shared ClusterRole stays).
pub async fn remove(client: &kube::Client, names: &Names) -> Result<()> {
    match Api::<ClusterRoleBinding>::all(client.clone())
        .delete(&binding_name(names), &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
