//! Watching `broker.toml` while the broker runs: the file is read again when its content
//! changes (Kubernetes rewrites a mounted ConfigMap in place) or on `SIGHUP`, and its
//! runtime keys are applied through [`Broker::reconfigure`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::broker::Broker;
use crate::config::{BrokerConfig, ConfigError};

/// How often the file's content is compared with the last one read. The kubelet itself
/// refreshes ConfigMap volumes only every minute or so, so a short poll adds little.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Reads `path` every [`POLL_INTERVAL`] and on `SIGHUP` (when `hangup` is set); when its
/// bytes changed, loads the configuration with `load` (the same layering the process
/// started with) and applies it, then hands the configuration now in force to `on_applied`
/// (parts of the node outside the broker take their runtime keys there). Runs until `stop`
/// turns true. A file that cannot be read
/// or loaded is logged and changes nothing; the broker keeps serving with what it has.
pub async fn watch_config_file<F, A>(
    broker: Arc<Broker>,
    path: PathBuf,
    load: F,
    on_applied: A,
    hangup: bool,
    mut stop: watch::Receiver<bool>,
) where
    F: Fn() -> Result<BrokerConfig, ConfigError> + Send + 'static,
    A: Fn(&BrokerConfig) + Send + 'static,
{
    let mut hup = if hangup {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; the file is still polled");
                None
            }
        }
    } else {
        None
    };
    let mut last = std::fs::read(&path).ok();
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let forced = tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => false,
            Some(()) = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        if *stop.borrow() {
            return;
        }
        let now = match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) => {
                // A ConfigMap update swaps a symlink: a read may fall between the two.
                tracing::debug!(error = %e, path = %path.display(), "config file not readable now");
                continue;
            }
        };
        if !forced && now == last {
            continue;
        }
        last = now;
        match broker.reload(load()) {
            Ok(change) if change.is_empty() => {
                tracing::info!(path = %path.display(), "configuration read again: nothing changed");
            }
            Ok(_) => on_applied(&broker.config()),
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "configuration not applied");
            }
        }
    }
}
