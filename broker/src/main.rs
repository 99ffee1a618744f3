//! `rustmq-broker`: runs a broker. Without remote controllers configured it embeds a one-voter
//! controller, which is the single-node cluster `--dev` starts on 127.0.0.1.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use rustmq_broker::Node;
use rustmq_broker::config::BrokerConfig;

/// jemalloc, not the system allocator: cold reads move hundreds of MB/s through 4 MiB
/// buffers, and glibc hands such blocks back to the kernel (`mmap` per block, heap
/// trimming) and takes fresh ones again, whose first touch is the broker's CPU zeroing
/// pages (far slower in a VM). jemalloc keeps freed extents for reuse ([`JEMALLOC_OPTIONS`]).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options for the broker, read at its first allocation; `_RJEM_MALLOC_CONF` in
/// the environment still overrides each of them. With jemalloc's own default (freed pages
/// handed back over 10 s, on whichever thread frees or allocates next) the produce path
/// kept faulting record buffers back in: thousands of pages a second at half load, page
/// zeroing most of what a request-runtime stall was made of (docs/benchmarks.md, tenth
/// round). Pages now go back over a minute, so memory freed after a burst is still
/// returned, and jemalloc's background thread does the returning off the request threads
/// (it also stops buffers of 8 MiB and more from being returned the moment they are freed).
#[allow(unsafe_code)] // jemalloc looks this NUL-terminated string up by its symbol name.
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_OPTIONS: &[u8; 44] = b"background_thread:true,dirty_decay_ms:60000\0";

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
    /// Only check whether `wal.io_backend = "uring"` can work in this directory (io_uring
    /// and O_DIRECT on its file system), print the answer and exit (1 when it cannot).
    #[arg(long, value_name = "DIR")]
    check_wal_uring: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    rustmq_transport::process::run(run_main)
}

fn run_main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(dir) = &args.check_wal_uring {
        return match rustmq_broker::wal::io::uring_support(dir) {
            Ok(()) => {
                println!("io_uring WAL backend: works in {}", dir.display());
                Ok(())
            }
            Err(e) => anyhow::bail!(
                "io_uring WAL backend: cannot work in {}: {e}",
                dir.display()
            ),
        };
    }
    let mut base = if args.dev {
        BrokerConfig::dev(args.data_dir.as_deref().unwrap_or("rustmq-data".as_ref()))
    } else {
        BrokerConfig::default()
    };
    if let Some(d) = &args.data_dir {
        base.broker.data_dir = d.clone();
    }
    let file = args.config.clone();
    // The layering the process starts with, used again whenever the file changes.
    let load = move || -> Result<BrokerConfig, rustmq_broker::config::ConfigError> {
        let mut config = BrokerConfig::load(base.clone(), file.as_deref())?;
        config.resolve_rack()?;
        Ok(config)
    };
    let config = load()?;
    rustmq_transport::process::block_on(run(config, args.config.map(|p| (p, load))))
}

async fn run<F>(config: BrokerConfig, file: Option<(PathBuf, F)>) -> anyhow::Result<()>
where
    F: Fn() -> Result<BrokerConfig, rustmq_broker::config::ConfigError> + Send + 'static,
{
    rustmq_transport::telemetry::init("rustmq-broker", &config.telemetry)?;
    let data_dir = config.broker.data_dir.clone();
    let controllers = config.controller.endpoint_addrs();
    let id = config.broker.id;
    let https = config.admin.https;
    let secured = config.security.enabled;
    let tokens = secured && config.security.jwt.enabled;
    let mut node = Node::start(config).await.context("starting the node")?;
    if let Some((path, load)) = file {
        // Runtime keys of a changed file apply at once; the rest waits for a restart.
        node.watch_config(path, load, true);
    }
    if controllers.is_empty() {
        println!("RustMQ single-node cluster is up");
    } else {
        println!("RustMQ broker {id} is up, in the cluster of controllers {controllers:?}");
    }
    println!("  data directory : {}", data_dir.display());
    println!("  QUIC (clients) : {}", node.quic_addr());
    // The certificates name localhost, not 127.0.0.1's textual form.
    match https {
        true => println!(
            "  admin REST API : https://localhost:{}",
            node.admin_addr().port()
        ),
        false => println!("  admin REST API : http://{}", node.admin_addr()),
    }
    if secured {
        let who = if tokens {
            "a client certificate or a bearer token"
        } else {
            "client certificates"
        };
        println!("  security       : {who} required, requests checked against the ACLs");
    }
    if let Some(ca) = node.ca_cert() {
        println!(
            "  development CA : {} (clients verify the broker with it)",
            ca.display()
        );
    }
    println!("Press Ctrl-C to stop.");
    // A WAL that stopped (a failed fdatasync, or a failed write of batches followers had)
    // cannot tell what is on disk: exit, so the supervisor restarts the broker, recovery
    // reads what really is, and followers take over in a new leader epoch meanwhile.
    let mut wal_failed = node.broker().wal().failed();
    tokio::select! {
        r = rustmq_transport::process::wait_for_signal() => {
            r?;
            println!("shutting down");
            node.shutdown().await;
            Ok(())
        }
        Ok(why) = wal_failed.wait_for(|f| f.is_some()) => {
            let why = why.clone().unwrap_or_default();
            tracing::error!(%why, "stopping the broker: the write-ahead log failed");
            node.shutdown().await;
            anyhow::bail!("write-ahead log failed: {why}")
        }
    }
}
