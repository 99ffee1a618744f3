//! Traces: every process exports its spans over OTLP (gRPC or HTTP) when `[telemetry]` or
//! the standard `OTEL_*` variables name a collector, and passes a W3C trace context to the
//! processes it calls ([`TraceParent`]) so one trace follows a record from the client's send
//! through the broker's admission, WAL fdatasync and replication to its acknowledgement.
//!
//! With no collector configured no OpenTelemetry layer is installed: spans cost what they
//! cost for the logs, and the context lookups find nothing.

mod config;
mod context;
pub mod http;

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;

pub use config::{OtlpProtocol, ResolvedTelemetry, SamplerChoice, TelemetryConfig};
pub use context::{BINARY_LEN, HEADER, TraceParent};

/// Why traces could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `[telemetry]` or an `OTEL_*` variable is wrong.
    #[error("telemetry configuration: {0}")]
    Config(String),
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// The logs (installed together with the traces) could not be.
    #[error(transparent)]
    Logs(#[from] crate::logging::LogError),
}

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs the process's logs ([`crate::logging`], with the default filter
/// [`crate::process::run_with_logs`] was given) and, when `config` or the environment names a
/// collector, the trace export for `program` (the default `service.name`). Must run inside a
/// tokio runtime when the protocol is gRPC. Returns whether traces are exported.
///
/// ```no_run
/// # async fn demo() -> Result<(), rustmq_transport::telemetry::TelemetryError> {
/// use rustmq_transport::telemetry::{self, TelemetryConfig};
/// let config = TelemetryConfig { endpoint: "http://127.0.0.1:4317".into(), ..Default::default() };
/// telemetry::init("rustmq-broker", &config)?;
/// // ... the process's work ...
/// telemetry::shutdown().await; // sends what is still buffered
/// # Ok(()) }
/// ```
pub fn init(program: &str, config: &TelemetryConfig) -> Result<bool, TelemetryError> {
    let default_log_filter = crate::logging::default_filter();
    let default_log_filter = default_log_filter.as_str();
    let Some(resolved) = config.resolve(program, |k| std::env::var(k).ok())? else {
        crate::logging::install(default_log_filter, None)?;
        return Ok(false);
    };
    let provider = provider(&resolved)?;
    let tracer = provider.tracer("rustmq");
    let filter = EnvFilter::try_new(&resolved.filter).map_err(|e| {
        TelemetryError::Config(format!("[telemetry] filter {:?}: {e}", resolved.filter))
    })?;
    crate::logging::install(default_log_filter, Some((tracer, filter)))?;
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    opentelemetry::global::set_tracer_provider(provider.clone());
    let _ = PROVIDER.set(provider);
    tracing::info!(endpoint = %resolved.endpoint, protocol = ?resolved.protocol,
        sampler = ?resolved.sampler, service = %resolved.service_name, "exporting traces");
    Ok(true)
}

/// The tracer provider of `resolved`: a batch processor (its own thread) in front of the
/// OTLP exporter.
pub fn provider(resolved: &ResolvedTelemetry) -> Result<SdkTracerProvider, TelemetryError> {
    let timeout = Duration::from_millis(resolved.export_timeout_ms);
    let exporter = match resolved.protocol {
        OtlpProtocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(resolved.endpoint.clone())
            .with_timeout(timeout)
            .build(),
        OtlpProtocol::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(resolved.endpoint.clone())
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_timeout(timeout)
            .build(),
    }
    .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let sampler = match resolved.sampler {
        SamplerChoice::ParentBasedRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
        SamplerChoice::Ratio(r) => Sampler::TraceIdRatioBased(r),
        SamplerChoice::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerChoice::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerChoice::AlwaysOn => Sampler::AlwaysOn,
        SamplerChoice::AlwaysOff => Sampler::AlwaysOff,
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(resolved.service_name.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build())
}

/// Sends the spans still buffered and stops the export (a no-op without one). Runs the
/// blocking flush off the runtime's threads, whose reactor the gRPC exporter needs.
pub async fn shutdown() {
    let Some(p) = PROVIDER.get().cloned() else {
        return;
    };
    let flushed = tokio::task::spawn_blocking(move || p.shutdown()).await;
    if let Ok(Err(e)) = flushed {
        eprintln!("telemetry: the last spans were not exported: {e}");
    }
}

/// Sends the spans ended so far now, rather than at the batch processor's next tick.
pub async fn flush() {
    let Some(p) = PROVIDER.get().cloned() else {
        return;
    };
    let flushed = tokio::task::spawn_blocking(move || p.force_flush()).await;
    if let Ok(Err(e)) = flushed {
        tracing::warn!(error = %e, "spans could not be exported");
    }
}

/// Whether this process exports traces.
pub fn exporting() -> bool {
    PROVIDER.get().is_some()
}
