//! `rustmq-broker`: runs a broker. Without remote controllers configured it embeds a one-voter
//! controller, which is the single-node cluster `--dev` starts on 127.0.0.1.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use rustmq_broker::Node;
use rustmq_broker::config::BrokerConfig;

/// RustMQ broker.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Single-node development cluster: listeners on 127.0.0.1 (QUIC 9092, admin API 9642),
    /// state under --data-dir, a development CA for TLS.
    #[arg(long)]
    dev: bool,
    /// Data directory (holds wal/, controller/, tls/). Dev default: ./rustmq-data.
    #[arg(long, env = "RUSTMQ_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// broker.toml; RUSTMQ_<SECTION>__<KEY> environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    // One line with the chain of causes; no backtrace for an operator's mistake.
    match run_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_main() -> anyhow::Result<()> {
    // One crypto provider for the whole process, chosen explicitly.
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a rustls crypto provider was already installed"))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUSTMQ_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .init();
    let args = Args::parse();
    let mut base = if args.dev {
        BrokerConfig::dev(args.data_dir.as_deref().unwrap_or("rustmq-data".as_ref()))
    } else {
        BrokerConfig::default()
    };
    if let Some(d) = &args.data_dir {
        base.broker.data_dir = d.clone();
    }
    let config = BrokerConfig::load(base, args.config.as_deref())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(run(config))
}

async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    let data_dir = config.broker.data_dir.clone();
    let node = Node::start(config).await.context("starting the node")?;
    println!("RustMQ single-node cluster is up");
    println!("  data directory : {}", data_dir.display());
    println!("  QUIC (clients) : {}", node.quic_addr());
    println!("  admin REST API : http://{}", node.admin_addr());
    if let Some(ca) = node.ca_cert() {
        println!(
            "  development CA : {} (clients verify the broker with it)",
            ca.display()
        );
    }
    println!("Press Ctrl-C to stop.");
    wait_for_signal().await?;
    println!("shutting down");
    node.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
