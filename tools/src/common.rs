//! Shared by the tools: connecting a client the way the CLI flags say.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rustmq_client::{ClientConfig, RustMqClient, TlsConfig};

/// The dev mode's CA path relative to where people run the tools.
pub const DEV_CA: &str = "rustmq-data/tls/ca.pem";

/// Connects to `brokers`, trusting `ca_cert`.
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
            ..Default::default()
        },
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    RustMqClient::new(config)
        .await
        .with_context(|| format!("cannot connect to brokers {brokers}"))
}

/// Process set-up shared by the tools: installs the workspace's one rustls crypto provider,
/// sends logs to stderr (`RUSTMQ_LOG`, default `warn`), runs `body`, and on failure prints one
/// line with the chain of causes (no backtrace for an operator's mistake) and exits with 1.
pub fn run_tool(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    let result = rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a rustls crypto provider was already installed"))
        .and_then(|()| {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("RUSTMQ_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                )
                .with_writer(std::io::stderr)
                .init();
            body()
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
