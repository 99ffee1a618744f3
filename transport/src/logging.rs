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

/// The filter the process's logs start with unless `RUSTMQ_LOG` says otherwise.
static DEFAULT_FILTER: OnceLock<String> = OnceLock::new();

/// The default filter [`init_early`] was given (`info` without one).
pub(crate) fn default_filter() -> String {
    DEFAULT_FILTER
        .get()
        .cloned()
        .unwrap_or_else(|| "info".into())
}

fn parse(filter: &str) -> Result<EnvFilter, LogError> {
    EnvFilter::try_new(filter).map_err(|e| LogError::Filter {
        filter: filter.to_string(),
        reason: e.to_string(),
    })
}

/// Installs the process's logs: the filter from `RUSTMQ_LOG` (else `default_filter`), the
/// format from `RUSTMQ_LOG_FORMAT` (`text`, the default, or `json`: one object per line with
/// the time, level, target, message, fields and the spans it happened in, such as a
/// request's id). Processes that export traces install through
/// [`crate::telemetry::init`] instead, which calls this with their exporter.
pub fn init(default_filter: &str) -> Result<(), LogError> {
    install(default_filter, None)
}

/// What the logs are written as, from `RUSTMQ_LOG_FORMAT`.
fn json_format() -> Result<bool, LogError> {
    match std::env::var("RUSTMQ_LOG_FORMAT").ok().as_deref() {
        None | Some("") | Some("text") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(LogError::Format(other.to_string())),
    }
}

fn filter_text(default_filter: &str) -> String {
    std::env::var("RUSTMQ_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default_filter.to_string())
}

thread_local! {
    /// The startup logs of [`init_early`], until the process's own are installed.
    static EARLY: std::cell::RefCell<Option<tracing::subscriber::DefaultGuard>> =
        const { std::cell::RefCell::new(None) };
}

/// Logs for this thread only, while a process reads its configuration (which says whether
/// traces are exported, so the process-wide subscriber cannot be built yet). Replaced by
/// [`init`] or [`crate::telemetry::init`] on the same thread.
pub fn init_early(default_filter: &str) -> Result<(), LogError> {
    let _ = DEFAULT_FILTER.set(default_filter.to_string());
    let filter = parse(&filter_text(default_filter))?;
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let guard = if json_format()? {
        tracing::subscriber::set_default(fmt.json().finish())
    } else {
        tracing::subscriber::set_default(fmt.finish())
    };
    EARLY.with(|e| *e.borrow_mut() = Some(guard));
    Ok(())
}

/// The process-wide subscriber: the logs with their runtime-changeable filter, and with
/// `export`, an OpenTelemetry layer with its own filter (so `RUSTMQ_LOG=warn` does not stop
/// traces, and a trace filter does not add log lines).
pub(crate) fn install(
    default_filter: &str,
    export: Option<(opentelemetry_sdk::trace::Tracer, EnvFilter)>,
) -> Result<(), LogError> {
    use tracing_subscriber::Layer;
    let filter_text = filter_text(default_filter);
    let filter = parse(&filter_text)?;
    let json = json_format()?;
    let (filter, handle) = reload::Layer::new(filter);
    let installed = if json {
        let fmt = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .with_filter(filter);
        let registry = tracing_subscriber::registry().with(fmt);
        registry.with(export_layer(export)).try_init()
    } else {
        let fmt = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter);
        let registry = tracing_subscriber::registry().with(fmt);
        registry.with(export_layer(export)).try_init()
    };
    installed.map_err(|_| LogError::AlreadySet)?;
    // The startup logs end where the process's begin.
    EARLY.with(|e| e.borrow_mut().take());
    let _ = CONTROL.set(Control {
        handle,
        current: Mutex::new(filter_text),
    });
    Ok(())
}

/// The OpenTelemetry layer with its own filter, when traces are exported.
fn export_layer<S>(
    export: Option<(opentelemetry_sdk::trace::Tracer, EnvFilter)>,
) -> Option<impl tracing_subscriber::Layer<S>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer;
    export.map(|(tracer, filter)| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(filter)
    })
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
