//! Applying a changed `broker.toml` to the running broker: the runtime keys take effect at
//! once (the next produce, fetch round or retention pass reads them), the rest is reported
//! as waiting for a restart.

use std::sync::Arc;

use crate::config::{BrokerConfig, ConfigChange, ConfigError};

use super::Broker;

/// What reloads did, for metrics.
#[derive(Debug, Default)]
pub struct ReloadStats {
    /// Times the file was loaded again (its content changed, or `SIGHUP`).
    pub loads: std::sync::atomic::AtomicU64,
    /// Reloads that applied at least one key.
    pub applied: std::sync::atomic::AtomicU64,
    /// Reloads refused (the file did not load or the merge broke a rule).
    pub refused: std::sync::atomic::AtomicU64,
    /// Keys changed in the file that wait for a restart, from the latest reload.
    pub needs_restart: parking_lot::Mutex<Vec<String>>,
}

impl Broker {
    /// Moves to the runtime keys of `file` (a freshly loaded `broker.toml`) and reports what
    /// changed. A refused file changes nothing.
    ///
    /// ```no_run
    /// # async fn f(broker: std::sync::Arc<rustmq_broker::broker::Broker>) {
    /// let mut file = (*broker.config()).clone();
    /// file.log.retention_ms = 3_600_000;
    /// let change = broker.reconfigure(&file).unwrap();
    /// assert_eq!(change.applied, vec!["log.retention_ms".to_string()]);
    /// # }
    /// ```
    pub fn reconfigure(&self, file: &BrokerConfig) -> Result<ConfigChange, ConfigError> {
        let ld = std::sync::atomic::Ordering::Relaxed;
        let mut current = self.config.write();
        let (next, change) = current.with_runtime_keys_of(file)?;
        if !change.applied.is_empty() {
            *current = Arc::new(next);
            self.reloads.applied.fetch_add(1, ld);
        }
        drop(current);
        if !change.applied.is_empty() {
            tracing::info!(keys = ?change.applied, "configuration applied without a restart");
        }
        let mut pending = self.reloads.needs_restart.lock();
        if !change.needs_restart.is_empty() && *pending != change.needs_restart {
            tracing::warn!(
                keys = ?change.needs_restart,
                "configuration changed keys that take effect at the next restart"
            );
        }
        pending.clone_from(&change.needs_restart);
        Ok(change)
    }

    /// Takes a file loaded again (or the error loading it) through [`Broker::reconfigure`],
    /// counting the outcome.
    pub fn reload(
        &self,
        loaded: Result<BrokerConfig, ConfigError>,
    ) -> Result<ConfigChange, ConfigError> {
        let ld = std::sync::atomic::Ordering::Relaxed;
        self.reloads.loads.fetch_add(1, ld);
        let r = loaded.and_then(|c| self.reconfigure(&c));
        if r.is_err() {
            self.reloads.refused.fetch_add(1, ld);
        }
        r
    }

    /// What config reloads did so far.
    pub fn reloads(&self) -> &ReloadStats {
        &self.reloads
    }
}
