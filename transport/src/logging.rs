//! A process's logs: to stderr, as text or JSON lines (`RUSTMQ_LOG_FORMAT=json`), filtered by
//! `RUSTMQ_LOG` (tracing's filter syntax), and the filter changeable while the process runs
//! (the admin API's `PUT /api/v1/log-level`).

use std::sync::OnceLock;

use parking_lot::Mutex;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Why logs could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `RUSTMQ_LOG_FORMAT` is neither `text` nor `json`.
    #[error("RUSTMQ_LOG_FORMAT={0:?}: expected text or json")]
    Format(String),
    /// The filter does not parse.
    #[error("log filter {filter:?}: {reason}")]
    Filter { filter: String, reason: String },
    /// Logs were set up elsewhere (an embedding program, a test harness): this process's
    /// filter is not ours to change.
    #[error("this process's logs are not managed by RustMQ")]
    NotManaged,
    /// A global subscriber was already installed.
    #[error("logs were already set up")]
    AlreadySet,
}

struct Control {
    handle: reload::Handle<EnvFilter, Registry>,
    current: Mutex<String>,
}

static CONTROL: OnceLock<Control> = OnceLock::new();

fn parse(filter: &str) -> Result<EnvFilter, LogError> {
    EnvFilter::try_new(filter).map_err(|e| LogError::Filter {
        filter: filter.to_string(),
        reason: e.to_string(),
    })
}

/// Installs the process's logs: the filter from `RUSTMQ_LOG` (else `default_filter`), the
/// format from `RUSTMQ_LOG_FORMAT` (`text`, the default, or `json`: one object per line with
/// the time, level, target, message, fields and the spans it happened in, such as a
/// request's id).
pub fn init(default_filter: &str) -> Result<(), LogError> {
    let filter_text = std::env::var("RUSTMQ_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default_filter.to_string());
    let filter = parse(&filter_text)?;
    let json = match std::env::var("RUSTMQ_LOG_FORMAT").ok().as_deref() {
        None | Some("") | Some("text") => false,
        Some("json") => true,
        Some(other) => return Err(LogError::Format(other.to_string())),
    };
    let (layer, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(layer);
    let installed = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    installed.map_err(|_| LogError::AlreadySet)?;
    let _ = CONTROL.set(Control {
        handle,
        current: Mutex::new(filter_text),
    });
    Ok(())
}

/// The filter in force, when this process's logs were set up by [`init`].
pub fn filter() -> Option<String> {
    CONTROL.get().map(|c| c.current.lock().clone())
}

/// Replaces the filter in force (e.g. `debug`, `info,rustmq_broker::wal=trace`); returns the
/// previous one.
///
/// ```
/// // Without `init`, the process's logs are not RustMQ's to change.
/// assert!(rustmq_transport::logging::set_filter("debug").is_err());
/// ```
pub fn set_filter(filter: &str) -> Result<String, LogError> {
    let parsed = parse(filter)?;
    let c = CONTROL.get().ok_or(LogError::NotManaged)?;
    let mut current = c.current.lock();
    c.handle.reload(parsed).map_err(|_| LogError::NotManaged)?;
    Ok(std::mem::replace(&mut *current, filter.to_string()))
}
