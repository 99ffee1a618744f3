//! `RustMQCluster`: one RustMQ cluster (its Raft controllers and its brokers) in a namespace.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The desired state of a RustMQ cluster.
// Each printcolumn(...) names its own type_, which clippy takes for a repeated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rustmq.io",
    version = "v1alpha1",
    kind = "RustMQCluster",
    plural = "rustmqclusters",
    shortname = "rmq",
    category = "rustmq",
    namespaced,
    status = "RustMQClusterStatus",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Brokers",
        type_ = "integer",
        json_path = ".status.readyBrokers",
        description = "Brokers ready"
    ),
    printcolumn(
        name = "Controllers",
        type_ = "integer",
        json_path = ".status.readyControllers",
        description = "Controllers ready"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RustMQClusterSpec {
    /// Container image without its tag (the tag is `version`).
    #[serde(default = "default_image")]
    pub image: String,
    /// RustMQ version: the image tag, and what the status reports as running.
    pub version: String,
    /// The Raft voters holding the cluster's metadata.
    #[serde(default)]
    pub controllers: ControllersSpec,
    /// The brokers.
    #[serde(default)]
    pub brokers: BrokersSpec,
    /// Where brokers tier their data.
    pub object_storage: ObjectStorageSpec,
    /// Services in front of the cluster.
    #[serde(default)]
    pub listeners: ListenersSpec,
    /// Certificates of the brokers, controllers and internal RPC.
    #[serde(default)]
    pub tls: TlsSpec,
    /// Client authentication and authorization, and the admin API's HTTPS.
    #[serde(default)]
    pub security: SecuritySpec,
    /// Where brokers and controllers export their traces (OpenTelemetry, OTLP).
    #[serde(default)]
    pub telemetry: TelemetrySpec,
    /// `broker.toml` keys (dotted, e.g. `wal.capacity_bytes`) set on every broker, over the
    /// operator's rendering.
    #[serde(default)]
    pub broker_config: BTreeMap<String, String>,
    /// `controller.toml` keys (dotted) set on every controller.
    #[serde(default)]
    pub controller_config: BTreeMap<String, String>,
    /// What the operator adds to every pod it creates.
    #[serde(default)]
    pub pod_template: PodTemplateOverrides,
}

fn default_image() -> String {
    "rustmq/rustmq".into()
}

/// The controllers: three or five Raft voters.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllersSpec {
    /// Voters: 3 or 5 (a majority must survive one or two losses). A change adds or
    /// removes one voter at a time through Raft membership changes.
    #[x_kube(validation = Rule::new("self == 3 || self == 5").message("controllers.replicas must be 3 or 5"))]
    #[serde(default = "three")]
    pub replicas: i32,
    /// CPU and memory of each controller.
    #[serde(default)]
    pub resources: Option<ResourceRequirements>,
    /// The volume holding each controller's Raft log and snapshots. Fixed once created:
    /// a StatefulSet's volume claims cannot change.
    #[x_kube(validation = Rule::new("self == oldSelf").message("controllers.storage cannot change after creation"))]
    #[serde(default = "default_raft_volume")]
    pub storage: VolumeSpec,
    /// Node labels its pods must run on (a dedicated node pool, for example).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of its pods, added to `podTemplate.tolerations` (for tainted dedicated
    /// nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

fn three() -> i32 {
    3
}

fn default_raft_volume() -> VolumeSpec {
    VolumeSpec {
        storage_class_name: None,
        size: "1Gi".into(),
    }
}

impl Default for ControllersSpec {
    fn default() -> Self {
        Self {
            replicas: three(),
            resources: None,
            storage: default_raft_volume(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
        }
    }
}

/// The brokers.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BrokersSpec {
    /// Brokers.
    #[x_kube(validation = Rule::new("self >= 1").message("brokers.replicas must be at least 1"))]
    #[serde(default = "three")]
    pub replicas: i32,
    /// CPU and memory of each broker.
    #[serde(default)]
    pub resources: Option<ResourceRequirements>,
    /// The volume holding each broker's write-ahead log. Fixed once created: a
    /// StatefulSet's volume claims cannot change.
    #[x_kube(validation = Rule::new("self == oldSelf").message("brokers.wal cannot change after creation"))]
    #[serde(default = "default_wal_volume")]
    pub wal: VolumeSpec,
    /// Node label whose value becomes the broker's rack (replicas of a partition are spread
    /// over racks); read by each broker pod's init container from its Node (`default` when
    /// the Node has no such label).
    #[serde(default = "default_rack_label")]
    pub rack_label: String,
    /// Node labels its pods must run on (a dedicated node pool, for example).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations of its pods, added to `podTemplate.tolerations` (for tainted dedicated
    /// nodes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

fn default_wal_volume() -> VolumeSpec {
    VolumeSpec {
        storage_class_name: None,
        size: "10Gi".into(),
    }
}

fn default_rack_label() -> String {
    "topology.kubernetes.io/zone".into()
}

impl Default for BrokersSpec {
    fn default() -> Self {
        Self {
            replicas: three(),
            resources: None,
            wal: default_wal_volume(),
            rack_label: default_rack_label(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
        }
    }
}

/// A persistent volume per pod.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// StorageClass (unset: the cluster's default).
    #[serde(default)]
    pub storage_class_name: Option<String>,
    /// Size, as a Kubernetes quantity (`10Gi`).
    pub size: String,
}

/// Where brokers tier their data: exactly one of `gcs`, `s3`, `local`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.gcs), has(self.s3), has(self.local)].filter(x, x).size() == 1").message("objectStorage needs exactly one of gcs, s3, local"))]
pub struct ObjectStorageSpec {
    /// Google Cloud Storage, with Workload Identity (no keys in the cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsStorage>,
    /// S3 or an S3-compatible store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Storage>,
    /// A directory on each broker's WAL volume: development only (nothing is shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalStorage>,
}

/// A GCS bucket.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GcsStorage {
    /// Bucket.
    pub bucket: String,
    /// Key prefix inside the bucket.
    #[serde(default)]
    pub prefix: String,
    /// Google service account the brokers' Kubernetes ServiceAccount is bound to through
    /// Workload Identity (`iam.gke.io/gcp-service-account`).
    #[serde(default)]
    pub google_service_account: Option<String>,
}

/// An S3 bucket.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Storage {
    /// Bucket.
    pub bucket: String,
    /// Key prefix inside the bucket.
    #[serde(default)]
    pub prefix: String,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint of an S3-compatible store (unset: AWS).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Secret with `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (unset: the pod's
    /// identity).
    #[serde(default)]
    pub credentials_secret: Option<String>,
}

/// A directory store.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LocalStorage {
    /// Directory inside the broker's WAL volume.
    #[serde(default = "default_local_path")]
    pub path: String,
}

fn default_local_path() -> String {
    "objects".into()
}

/// Services in front of the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ListenersSpec {
    /// The client QUIC listener's Service.
    #[serde(default)]
    pub client: ServiceListener,
    /// The admin REST API's Service (on the controllers).
    #[serde(default)]
    pub admin: ServiceListener,
}

/// One Service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceListener {
    /// `ClusterIP`, `NodePort` or `LoadBalancer`.
    #[x_kube(validation = Rule::new("self in ['ClusterIP', 'NodePort', 'LoadBalancer']").message("type must be ClusterIP, NodePort or LoadBalancer"))]
    #[serde(default = "cluster_ip", rename = "type")]
    pub service_type: String,
    /// Annotations of the Service (for example a load balancer's).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn cluster_ip() -> String {
    "ClusterIP".into()
}

impl Default for ServiceListener {
    fn default() -> Self {
        Self {
            service_type: cluster_ip(),
            annotations: BTreeMap::new(),
        }
    }
}

/// Certificates.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// A Secret (`ca.crt`, `tls.crt`, `tls.key`) to use instead of the CA and per-pod
    /// certificates the operator creates and stores.
    #[serde(default)]
    pub existing_secret: Option<String>,
}

/// Security of an operator-managed cluster. With `enabled`, every client authenticates
/// (a certificate of the cluster CA, e.g. from a `Certificate` resource, or a bearer token
/// configured through `brokerConfig` `security.jwt.*`) and every request is checked against
/// the ACLs (`AclRule` resources); the admin API is served over HTTPS and takes admin
/// certificates, super-users and grants only. The operator reaches it with an admin
/// certificate of its own, kept in the Secret `<cluster>-operator-admin`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecuritySpec {
    /// Turn authentication and authorization on.
    #[serde(default)]
    pub enabled: bool,
    /// Principals allowed everything, without ACLs (brokers and the admin API).
    #[serde(default)]
    pub super_users: Vec<String>,
    /// Allow a request when no ACL names its resource (Kafka's
    /// `allow.everyone.if.no.acl.found`). Off: no ACL means deny.
    #[serde(default)]
    pub allow_if_no_acl: bool,
    /// Kafka-style rules turning a certificate's identity into a principal
    /// (`RULE:regex/replacement/[L|U]`, ..., ending with `DEFAULT`). Empty: `DEFAULT`.
    #[serde(default)]
    pub principal_mapping_rules: Vec<String>,
}

/// Trace export of the cluster's brokers and controllers: their `[telemetry]`. Clients that
/// send a trace context (the Rust client with an OpenTelemetry layer) get the brokers' spans
/// in their own traces whatever the ratio.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TelemetrySpec {
    /// The collector's OTLP endpoint, e.g. `http://otel-collector.observability:4317`.
    /// Empty: no traces.
    #[serde(default)]
    pub endpoint: String,
    /// `grpc` (port 4317) or `http/protobuf` (port 4318).
    #[serde(default)]
    pub protocol: OtlpProtocolSpec,
    /// Share of the traces a broker or controller starts itself that are kept, 0 to 1.
    /// Unset: 1.
    #[serde(default)]
    pub sampling_ratio: Option<f64>,
}

/// How spans travel to the collector.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum OtlpProtocolSpec {
    /// OTLP over gRPC.
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP protobuf over HTTP.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// What the operator adds to every pod of the cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateOverrides {
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Tolerations.
    #[serde(default)]
    pub tolerations: Vec<Toleration>,
    /// Affinity (the operator adds none by default).
    #[serde(default)]
    pub affinity: Option<Affinity>,
    /// PriorityClass.
    #[serde(default)]
    pub priority_class_name: Option<String>,
}

/// What the operator observed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RustMQClusterStatus {
    /// The generation of the spec this status describes.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// `Pending`, `Running`, `Degraded`.
    #[serde(default)]
    pub phase: Option<String>,
    /// `Ready`, `Progressing`, `Degraded`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Brokers whose pod is ready.
    #[serde(default)]
    pub ready_brokers: i32,
    /// Controllers whose pod is ready.
    #[serde(default)]
    pub ready_controllers: i32,
    /// `host:port` addresses clients bootstrap from.
    #[serde(default)]
    pub bootstrap_servers: Option<String>,
    /// The admin API's URL.
    #[serde(default)]
    pub admin_url: Option<String>,
    /// The id the controllers gave the cluster.
    #[serde(default)]
    pub cluster_id: Option<String>,
    /// The version running.
    #[serde(default)]
    pub version: Option<String>,
    /// The day-2 operation under way (a rolling restart, scaling), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationStatus>,
    /// What a rebalance would move now; approve it with the annotation
    /// `rustmq.io/rebalance: approve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceSummary>,
}

/// A day-2 operation in progress.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    /// `RollingUpdate`, `ScaleOut`, `ScaleIn`.
    pub kind: String,
    /// The pod being restarted or the broker being drained or added, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Pods still to restart (a rolling update), in the order they will go.
    #[serde(default)]
    pub pending: Vec<String>,
    /// What the operation does or waits for now.
    pub message: String,
    /// When the operation began (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the operator last deleted a pod of a rolling update (RFC 3339): the next
    /// broker restarts no sooner than `operations.upgrade_velocity` allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restart_at: Option<String>,
    /// Pods restarted by this operation so far.
    #[serde(default)]
    pub restarted: Vec<String>,
}

/// The controllers' rebalance state, as the operator last read it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RebalanceSummary {
    /// `idle`, `running` or `cooldown`.
    pub state: String,
    /// Leaderships a rebalance would move now.
    pub leader_moves: i32,
    /// Replicas a rebalance would move now (bounded per round).
    pub replica_moves: i32,
    /// Per broker: `broker-<n>: replicas a->b, leaders c->d`.
    #[serde(default)]
    pub proposal: Vec<String>,
    /// When a rebalance was last approved through the annotation (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_approved_at: Option<String>,
}
