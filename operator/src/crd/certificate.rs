//! `Certificate`: a certificate of a `RustMQCluster`'s CA for one principal and role, kept in
//! a Secret and renewed before it expires.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A certificate issued by the cluster CA into a `kubernetes.io/tls` Secret (`tls.crt`,
/// `tls.key`, `ca.crt`), renewed with a new key pair `renewBefore` its expiry; deleting the
/// resource revokes it.
// Each printcolumn(...) names its own type_, which clippy takes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rustmq.io",
    version = "v1alpha1",
    kind = "Certificate",
    plural = "certificates",
    shortname = "rmqcert",
    category = "rustmq",
    namespaced,
    status = "CertificateStatus",
    printcolumn(name = "Cluster", type_ = "string", json_path = ".spec.clusterRef"),
    printcolumn(name = "Principal", type_ = "string", json_path = ".spec.principal"),
    printcolumn(name = "Role", type_ = "string", json_path = ".spec.role"),
    printcolumn(name = "Expires", type_ = "date", json_path = ".status.notAfter"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSpec {
    /// The `RustMQCluster` (same namespace) whose CA issues it.
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterRef cannot change"))]
    pub cluster_ref: String,
    /// Who it speaks for (the principal ACLs name). A change issues a new certificate.
    #[x_kube(
        validation = Rule::new("self.matches('^[^ /]+$')").message("principal must be non-empty without spaces or '/'")
    )]
    pub principal: String,
    /// `client` (default), `admin`, `broker` or `controller`.
    #[serde(default)]
    pub role: CertificateRole,
    /// How long each certificate is valid, e.g. `2160h` (the default, 90 days); at least
    /// `1m`.
    #[serde(default = "default_duration")]
    pub duration: String,
    /// How long before expiry a new one is issued (default: a third of `duration`); less
    /// than `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before: Option<String>,
    /// The Secret it is written to (default: the resource's name). Owned by this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Host names (for broker and controller certificates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
}

fn default_duration() -> String {
    "2160h".into()
}

/// What a certificate is for.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
#[serde(rename_all = "camelCase")]
pub enum CertificateRole {
    /// An application: produce, consume (client authentication only).
    #[default]
    Client,
    /// An administrator: the admin API's writes.
    Admin,
    /// A broker.
    Broker,
    /// A controller.
    Controller,
}

/// What the operator observed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// The generation of the spec this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// `Ready`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The serial (hex) of the certificate in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Its start of validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Time>,
    /// Its end of validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
    /// When the operator issues the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<Time>,
    /// The Secret holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Certificates issued for this resource so far (the first and every renewal).
    #[serde(default)]
    pub issued: i32,
}
