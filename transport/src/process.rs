//! What every RustMQ server binary does around its work: one rustls crypto provider, logs,
//! a one-line error and exit code, and waiting for Ctrl-C or SIGTERM.

use anyhow::Context;

/// Installs ring as the process's rustls provider, sends logs to stderr (`RUSTMQ_LOG`,
/// default `info,openraft=warn`; `RUSTMQ_LOG_FORMAT=json` for JSON lines; see
/// [`crate::logging`]), runs `body`, and on failure prints one line with the chain
/// of causes (no backtrace for an operator's mistake) and exits with 1.
///
/// Until `body` calls [`crate::telemetry::init`] (after reading its configuration, which
/// says whether traces are exported; inside its runtime, which the gRPC exporter needs) the
/// logs are its thread's only.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     rustmq_transport::process::run(|| Ok(()))
/// }
/// ```
pub fn run(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    run_with_logs("info,openraft=warn", body)
}

/// [`run`] with another default log filter (command-line tools log only warnings unless
/// `RUSTMQ_LOG` says otherwise).
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     rustmq_transport::process::run_with_logs("warn", || Ok(()))
/// }
/// ```
pub fn run_with_logs(
    default_filter: &str,
    body: impl FnOnce() -> anyhow::Result<()>,
) -> std::process::ExitCode {
    let result = rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a rustls crypto provider was already installed"))
        .and_then(|()| crate::logging::init_early(default_filter).map_err(anyhow::Error::from))
        .and_then(|()| body());
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs `fut` on a multi-threaded tokio runtime, then sends the spans still buffered
/// ([`crate::telemetry::shutdown`]).
pub fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(async {
            let done = fut.await;
            crate::telemetry::shutdown().await;
            done
        })
}

/// Returns on Ctrl-C or SIGTERM (what Kubernetes sends before killing a pod).
pub async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
