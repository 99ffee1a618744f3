//! `[scaling]` and `[operations]`: how the Kubernetes operator (and `rustmq-admin`) carry
//! out day-2 changes on this cluster. The broker itself only checks them; the operator
//! reads them from the rendered `broker.toml`, so one file describes the cluster.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[scaling]`: adding and removing brokers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScalingSection {
    /// Brokers started at once when scaling out; the next ones start once these registered.
    pub max_concurrent_additions: u32,
    /// Brokers drained at once when scaling in.
    pub max_concurrent_decommissions: u32,
    /// How long a scale-out's rebalance (or a scale-in's drain) may take before the
    /// operator reports it as stuck (it keeps waiting; nothing is forced).
    pub rebalance_timeout_ms: u64,
    /// Fraction of the cluster's partition replicas a rebalance may move per minute
    /// (0 < rate <= 1): replica moves are started no faster than this.
    pub traffic_migration_rate: f64,
    /// How long a new or restarted broker may take to become ready before the operator
    /// reports it.
    pub health_check_timeout_ms: u64,
}

impl Default for ScalingSection {
    fn default() -> Self {
        Self {
            max_concurrent_additions: 3,
            max_concurrent_decommissions: 1,
            rebalance_timeout_ms: 300_000,
            traffic_migration_rate: 0.1,
            health_check_timeout_ms: 30_000,
        }
    }
}

/// `[operations]`: rolling restarts and configuration changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationsSection {
    /// Settings that can change while the process runs are applied without restarting it;
    /// off: every configuration change rolls the pods.
    pub allow_runtime_config_updates: bool,
    /// Brokers restarted per minute at most during a rolling upgrade.
    pub upgrade_velocity: u32,
    /// How long a stopping broker may take (its controlled shutdown included) before it is
    /// killed; the pods' termination grace period.
    pub graceful_shutdown_timeout_ms: u64,
    /// `[operations.kubernetes]`, accepted for the seed's files: on Kubernetes the
    /// `RustMQCluster` spec decides these (StatefulSets always, `spec.brokers.wal`).
    pub kubernetes: KubernetesSection,
}

impl Default for OperationsSection {
    fn default() -> Self {
        Self {
            allow_runtime_config_updates: true,
            upgrade_velocity: 3,
            graceful_shutdown_timeout_ms: 30_000,
            kubernetes: KubernetesSection::default(),
        }
    }
}

/// `[operations.kubernetes]` (informational; see [`OperationsSection::kubernetes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesSection {
    /// Brokers run as StatefulSets.
    pub use_stateful_sets: bool,
    /// Storage class of the WAL volumes.
    pub pvc_storage_class: String,
    /// Size of each WAL volume.
    pub wal_volume_size: String,
    /// Keep pods near their volumes.
    pub enable_pod_affinity: bool,
}

impl Default for KubernetesSection {
    fn default() -> Self {
        Self {
            use_stateful_sets: true,
            pvc_storage_class: String::new(),
            wal_volume_size: "50Gi".into(),
            enable_pod_affinity: true,
        }
    }
}

impl ScalingSection {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, reason: &str| ConfigError::Value {
            key: format!("scaling.{key}"),
            reason: reason.into(),
        };
        if self.max_concurrent_additions == 0 {
            return Err(bad("max_concurrent_additions", "must be at least 1"));
        }
        if self.max_concurrent_decommissions == 0 {
            return Err(bad("max_concurrent_decommissions", "must be at least 1"));
        }
        if !(self.traffic_migration_rate > 0.0 && self.traffic_migration_rate <= 1.0) {
            return Err(bad(
                "traffic_migration_rate",
                "must be a fraction in (0, 1]",
            ));
        }
        Ok(())
    }
}

impl OperationsSection {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.upgrade_velocity == 0 {
            return Err(ConfigError::Value {
                key: "operations.upgrade_velocity".into(),
                reason: "must be at least 1 broker per minute".into(),
            });
        }
        Ok(())
    }

    /// The least time between two broker restarts of a rolling upgrade.
    ///
    /// ```
    /// let ops = rustmq_broker::config::OperationsSection::default();
    /// assert_eq!(ops.restart_interval(), std::time::Duration::from_secs(20));
    /// ```
    pub fn restart_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(60_000 / u64::from(self.upgrade_velocity.max(1)))
    }
}
