//! Shared by the tools: connecting a client the way the CLI flags say.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rustmq_client::{ClientConfig, RustMqClient, TlsConfig};

/// The dev mode's CA path relative to where people run the tools.
pub const DEV_CA: &str = "rustmq-data/tls/ca.pem";

/// Connects to `brokers`, trusting `ca_cert`, presenting the certificate of
/// `RUSTMQ_CLIENT_CERT` / `RUSTMQ_CLIENT_KEY` when set (brokers with security on).
pub async fn connect(brokers: &str, ca_cert: &Option<PathBuf>) -> anyhow::Result<RustMqClient> {
    let ca = ca_cert.clone().unwrap_or_else(|| PathBuf::from(DEV_CA));
    if !ca.exists() {
        anyhow::bail!(
            "CA certificate {} not found: pass --ca-cert (dev mode prints the path of its CA)",
            ca.display()
        );
    }
    let config = ClientConfig {
        brokers: brokers.split(',').map(|s| s.trim().to_string()).collect(),
        tls: TlsConfig {
            ca_cert: Some(ca),
            ..TlsConfig::from_env()
        },
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    RustMqClient::new(config)
        .await
        .with_context(|| format!("cannot connect to brokers {brokers}"))
}

/// Logs for every thread and, when the `OTEL_*` variables name a collector, trace export
/// (the tools have no configuration file; `OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317`
/// traces a `topic create` or a `produce` end to end).
pub fn init_telemetry(program: &str) -> anyhow::Result<()> {
    rustmq_transport::telemetry::init(
        program,
        &rustmq_transport::telemetry::TelemetryConfig::default(),
    )?;
    Ok(())
}

/// Process set-up shared by the tools: the servers' (one rustls crypto provider, logs to
/// stderr, a one-line error and exit code 1), with logs at `warn` unless `RUSTMQ_LOG` says
/// otherwise.
pub fn run_tool(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    rustmq_transport::process::run_with_logs("warn", body)
}
