//! How the operator reaches a cluster's admin API: plain HTTP, or with `spec.security`
//! on, HTTPS trusting the cluster's CA and presenting the operator's admin certificate (the
//! Secret `<cluster>-operator-admin`). The HTTPS client of each cluster is kept while its
//! Secret is unchanged, so its connections are reused across reconciles.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;

use super::names::Names;
use crate::admin::AdminApi;
use crate::context::Context;
use crate::crd::RustMQCluster;
use crate::error::{Error, Result};

/// The operator's way into one cluster's admin API.
#[derive(Clone, Debug)]
pub struct AdminAccess {
    http: reqwest::Client,
    https: bool,
}

impl AdminAccess {
    /// Plain HTTP with `http`.
    ///
    /// ```
    /// use rustmq_operator::cluster::{AdminAccess, Names};
    /// let names = Names::new("rmq", "ns", "cluster.local");
    /// let api = AdminAccess::plain(reqwest::Client::new()).service(&names);
    /// assert_eq!(api.url("/health"), "http://rmq-admin.ns.svc.cluster.local:9642/health");
    /// ```
    pub fn plain(http: reqwest::Client) -> Self {
        Self { http, https: false }
    }

    /// The API behind the admin Service (any controller).
    pub fn service(&self, names: &Names) -> AdminApi {
        AdminApi::new(self.http.clone(), names.admin_url(self.https))
    }

    /// The API of controller pod `ordinal`.
    pub fn controller(&self, names: &Names, ordinal: i32) -> AdminApi {
        AdminApi::new(
            self.http.clone(),
            names.controller_admin_url(ordinal, self.https),
        )
    }
}

/// HTTPS clients by cluster (`namespace/name`), with the Secret's resource version they
/// were built from.
#[derive(Default)]
pub struct AdminClients(parking_lot::Mutex<HashMap<String, (String, reqwest::Client)>>);

/// The access to `cluster`'s admin API.
pub async fn admin_access(
    ctx: &Context,
    cluster: &RustMQCluster,
    names: &Names,
) -> Result<AdminAccess> {
    if !cluster.spec.security.enabled {
        return Ok(AdminAccess::plain(ctx.http.clone()));
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &names.namespace);
    let name = names.operator_admin_secret();
    let missing = || {
        Error::Certificate(format!(
            "the Secret {name} (the operator's admin certificate) does not exist yet"
        ))
    };
    let secret = secrets.get_opt(&name).await?.ok_or_else(missing)?;
    let version = secret.resource_version().unwrap_or_default();
    let key = format!("{}/{}", names.namespace, names.cluster);
    if let Some((v, http)) = ctx.admin_clients.0.lock().get(&key)
        && *v == version
    {
        return Ok(AdminAccess {
            http: http.clone(),
            https: true,
        });
    }
    let data = secret.data.unwrap_or_default();
    let field = |k: &str| {
        data.get(k)
            .map(|b| b.0.clone())
            .ok_or_else(|| Error::Certificate(format!("the Secret {name} lacks {k}")))
    };
    let tls = rustmq_transport::https::client_tls(
        &field("ca.crt")?,
        Some((&field("tls.crt")?, &field("tls.key")?)),
    )
    .map_err(|e| Error::Certificate(format!("the Secret {name}: {e}")))?;
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| Error::Certificate(format!("the admin API's HTTPS client: {e}")))?;
    ctx.admin_clients
        .0
        .lock()
        .insert(key, (version, http.clone()));
    Ok(AdminAccess { http, https: true })
}
