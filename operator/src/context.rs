//! What every reconciliation shares: the Kubernetes client, the Event recorder, the metrics
//! and the operator's settings.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};

use crate::metrics::Metrics;

/// Operator settings that are not per resource.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Kubernetes cluster's DNS domain.
    pub cluster_domain: String,
    /// How often a `Topic` or `AclRule` is compared with the cluster, and a `Certificate`
    /// checked for revocation, even when nothing changed (drift made behind the operator's
    /// back is undone within this).
    pub resync: Duration,
    /// How often a ready `RustMQCluster` is looked at again.
    pub cluster_resync: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cluster_domain: "cluster.local".into(),
            resync: Duration::from_secs(60),
            cluster_resync: Duration::from_secs(300),
        }
    }
}

/// Shared by the reconcilers (behind an `Arc`).
pub struct Context {
    /// The Kubernetes API.
    pub client: Client,
    /// Publishes Events on the resources.
    pub recorder: Recorder,
    /// Reconcile counters and latencies.
    pub metrics: Metrics,
    /// HTTP client of the clusters' admin APIs.
    pub http: reqwest::Client,
    /// Settings.
    pub settings: Settings,
    /// Retry delays of failing objects.
    pub backoff: crate::backoff::Backoff,
    /// HTTPS clients of the clusters whose admin API needs the operator's certificate.
    pub admin_clients: crate::cluster::AdminClients,
}

impl Context {
    /// A context for `client`, reporting Events as `rustmq-operator` (instance `identity`).
    pub fn new(client: Client, identity: &str, metrics: Metrics, settings: Settings) -> Arc<Self> {
        let reporter = Reporter {
            controller: "rustmq-operator".into(),
            instance: Some(identity.to_string()),
        };
        Arc::new(Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            http: reqwest::Client::new(),
            settings,
            backoff: Default::default(),
            admin_clients: Default::default(),
        })
    }
}

impl Context {
    /// Publishes an Event on `object` (what users must see); failing to is logged, never
    /// fatal.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &object.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "could not publish an event");
        }
    }
}
