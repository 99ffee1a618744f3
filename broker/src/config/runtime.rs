//! Which `broker.toml` keys a running broker takes on without restarting, and how a changed
//! file splits into what applies now and what waits for the next restart: Kafka's dynamic
//! broker configs, read from the file (a ConfigMap on Kubernetes) instead of the controllers.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{BrokerConfig, ConfigError};

/// Keys a running broker applies when its file changes (`section.key`, or `section.*` for
/// every key of a section). `[scaling]` and `[operations]` are read by the operator and
/// `rustmq-admin`, never by the broker's own work, so changing them needs no restart.
pub const RUNTIME_KEYS: &[&str] = &[
    "log.retention_ms",
    "log.retention_bytes",
    "log.max_message_bytes",
    "replication.min_in_sync_replicas",
    "replication.ack_timeout_ms",
    "replication.fetch_max_wait_ms",
    "replication.fetch_max_bytes",
    "scaling.*",
    "operations.*",
    "security.principal_mapping_rules",
    "security.super_users",
    "security.allow_if_no_acl",
];

/// Whether the dotted `key` is one of [`RUNTIME_KEYS`].
///
/// ```
/// use rustmq_broker::config::is_runtime_key;
/// assert!(is_runtime_key("log.retention_ms"));
/// assert!(is_runtime_key("operations.kubernetes.wal_volume_size"));
/// assert!(!is_runtime_key("wal.capacity_bytes"));
/// ```
pub fn is_runtime_key(key: &str) -> bool {
    RUNTIME_KEYS.iter().any(|k| match k.strip_suffix('*') {
        Some(section) => key.starts_with(section),
        None => key == *k,
    })
}

/// What reading a changed file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    /// Keys now in effect.
    pub applied: Vec<String>,
    /// Keys that changed in the file but take effect only when the broker restarts.
    pub needs_restart: Vec<String>,
}

impl ConfigChange {
    /// Nothing differed.
    pub fn is_empty(&self) -> bool {
        self.applied.is_empty() && self.needs_restart.is_empty()
    }
}

/// Every leaf of `config` by dotted key (sections nest, arrays are leaves).
fn flatten(config: &BrokerConfig) -> Result<BTreeMap<String, Value>, ConfigError> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            _ => {
                out.insert(prefix.to_string(), v.clone());
            }
        }
    }
    let v = serde_json::to_value(config).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let mut out = BTreeMap::new();
    walk("", &v, &mut out);
    Ok(out)
}

fn unflatten(flat: BTreeMap<String, Value>) -> Value {
    let mut root = Map::new();
    'keys: for (key, value) in flat {
        let mut node = &mut root;
        let mut parts: Vec<&str> = key.split('.').collect();
        let Some(leaf) = parts.pop() else { continue };
        for p in parts {
            let entry = node
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            // A key of one struct is never both a section and a value.
            let Value::Object(m) = entry else {
                continue 'keys;
            };
            node = m;
        }
        node.insert(leaf.to_string(), value);
    }
    Value::Object(root)
}

impl BrokerConfig {
    /// Dotted keys whose values differ between `self` and `other`, sorted.
    ///
    /// ```
    /// use rustmq_broker::config::BrokerConfig;
    /// let a = BrokerConfig::default();
    /// let mut b = a.clone();
    /// b.log.retention_ms = 60_000;
    /// assert_eq!(a.changed_keys(&b).unwrap(), vec!["log.retention_ms".to_string()]);
    /// ```
    pub fn changed_keys(&self, other: &Self) -> Result<Vec<String>, ConfigError> {
        let (a, b) = (flatten(self)?, flatten(other)?);
        let mut keys: Vec<String> = a
            .keys()
            .chain(b.keys())
            .filter(|k| a.get(*k) != b.get(*k))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The configuration a running broker moves to when its file now reads `newer`: the
    /// runtime keys from `newer` (when `newer` allows runtime updates), everything else as it
    /// is. Returns it with what changed.
    ///
    /// ```
    /// use rustmq_broker::config::BrokerConfig;
    /// let running = BrokerConfig::default();
    /// let mut file = running.clone();
    /// file.log.retention_ms = 60_000;
    /// file.wal.capacity_bytes *= 2;
    /// let (next, change) = running.with_runtime_keys_of(&file).unwrap();
    /// assert_eq!(next.log.retention_ms, 60_000);
    /// assert_eq!(next.wal.capacity_bytes, running.wal.capacity_bytes);
    /// assert_eq!(change.applied, vec!["log.retention_ms".to_string()]);
    /// assert_eq!(change.needs_restart, vec!["wal.capacity_bytes".to_string()]);
    /// ```
    pub fn with_runtime_keys_of(&self, newer: &Self) -> Result<(Self, ConfigChange), ConfigError> {
        let runtime = newer.operations.allow_runtime_config_updates;
        let (applied, needs_restart): (Vec<String>, Vec<String>) = self
            .changed_keys(newer)?
            .into_iter()
            .partition(|k| runtime && is_runtime_key(k));
        if applied.is_empty() {
            return Ok((
                self.clone(),
                ConfigChange {
                    applied,
                    needs_restart,
                },
            ));
        }
        let mut merged = flatten(self)?;
        let fresh = flatten(newer)?;
        for key in &applied {
            match fresh.get(key) {
                Some(v) => merged.insert(key.clone(), v.clone()),
                None => merged.remove(key),
            };
        }
        let next: Self = serde_json::from_value(unflatten(merged))
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        next.validate()?;
        Ok((
            next,
            ConfigChange {
                applied,
                needs_restart,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_configs_change_nothing() {
        let a = BrokerConfig::default();
        let (next, change) = a.with_runtime_keys_of(&a.clone()).unwrap();
        assert!(change.is_empty());
        assert_eq!(next, a);
    }

    #[test]
    fn nested_and_optional_keys_are_compared() {
        let a = BrokerConfig::default();
        let mut b = a.clone();
        b.network.quic_config.max_idle_timeout_ms += 1;
        b.wal.path = Some("/elsewhere".into());
        b.operations.kubernetes.wal_volume_size = "100Gi".into();
        assert_eq!(
            a.changed_keys(&b).unwrap(),
            vec![
                "network.quic_config.max_idle_timeout_ms",
                "operations.kubernetes.wal_volume_size",
                "wal.path",
            ]
        );
        // An optional key removed again counts as a change too.
        assert_eq!(b.changed_keys(&a).unwrap().len(), 3);
    }

    #[test]
    fn runtime_keys_apply_and_the_rest_waits() {
        let running = BrokerConfig::default();
        let mut file = running.clone();
        file.replication.min_in_sync_replicas = 2;
        file.replication.fetch_max_bytes = 1 << 20;
        file.scaling.max_concurrent_additions = 1;
        file.network.max_connections += 1;
        let (next, change) = running.with_runtime_keys_of(&file).unwrap();
        assert_eq!(
            change.applied,
            vec![
                "replication.fetch_max_bytes",
                "replication.min_in_sync_replicas",
                "scaling.max_concurrent_additions",
            ]
        );
        assert_eq!(change.needs_restart, vec!["network.max_connections"]);
        assert_eq!(next.replication.min_in_sync_replicas, 2);
        assert_eq!(next.replication.fetch_max_bytes, 1 << 20);
        assert_eq!(
            next.network.max_connections,
            running.network.max_connections
        );
    }

    #[test]
    fn with_runtime_updates_off_everything_waits_for_a_restart() {
        let running = BrokerConfig::default();
        let mut file = running.clone();
        file.operations.allow_runtime_config_updates = false;
        file.log.retention_bytes = 1 << 30;
        let (next, change) = running.with_runtime_keys_of(&file).unwrap();
        assert!(change.applied.is_empty());
        assert_eq!(
            change.needs_restart,
            vec![
                "log.retention_bytes",
                "operations.allow_runtime_config_updates"
            ]
        );
        assert_eq!(next, running);
    }

    #[test]
    fn a_merge_that_breaks_a_rule_is_refused() {
        // max_message_bytes may not pass the frame size the broker started with.
        let running = BrokerConfig::default();
        let mut file = running.clone();
        file.network.max_frame_bytes *= 4;
        file.log.max_message_bytes = file.network.max_frame_bytes;
        let err = running.with_runtime_keys_of(&file).unwrap_err();
        assert!(err.to_string().contains("log.max_message_bytes"), "{err}");
    }
}
