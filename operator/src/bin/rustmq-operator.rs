//! `rustmq-operator`: reconciles `RustMQCluster`, `Topic`, `AclRule` and `Certificate`
//! resources. Several replicas may run; only the holder of the `rustmq-operator` Lease acts, the others wait to take over.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use rustmq_operator::context::{Context, Settings};
use rustmq_operator::metrics::Metrics;
use rustmq_operator::server::{ServerState, router};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "RUSTMQ_OPERATOR_NAMESPACE")]
    namespace: Option<String>,
    /// Address of `/health` and `/metrics`.
    #[arg(long, env = "RUSTMQ_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Namespace of the leader-election Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's name in the Lease (default: the host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Seconds a Lease holder keeps it without renewing.
    #[arg(long, default_value_t = 15)]
    lease_seconds: u64,
    /// The Kubernetes cluster's DNS domain.
    #[arg(
        long,
        env = "RUSTMQ_OPERATOR_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    cluster_domain: String,
    /// How often each Topic and AclRule is compared with its cluster (drift is undone within
    /// this), and each Certificate checked for revocation.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    topic_resync: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The same logs as the brokers': RUSTMQ_LOG filters, RUSTMQ_LOG_FORMAT=json for JSON
    // lines; traces when the OTEL_* variables name a collector (the operator has no file).
    rustmq_transport::telemetry::init(
        "rustmq-operator",
        &rustmq_transport::telemetry::TelemetryConfig::default(),
    )?;
    let args = Args::parse();
    let client = Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("rustmq-operator-{}", std::process::id()));

    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::new(&mut registry);
    let leading = Arc::new(AtomicBool::new(false));
    let state = ServerState {
        registry: Arc::new(registry),
        leading: leading.clone(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(addr = %args.listen, "serving /health and /metrics");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(state)).await {
            tracing::error!(error = %e, "the HTTP server stopped");
        }
    });

    let lease = LeaseManagerBuilder::new(client.clone(), "rustmq-operator")
        .with_namespace(&args.lease_namespace)
        .with_identity(&identity)
        .with_duration(args.lease_seconds)
        .with_grace(args.lease_seconds.div_ceil(3).max(1))
        .build()
        .await
        .context("creating the leader-election Lease")?;
    let (mut leader, lease_task) = lease.watch().await;
    tracing::info!(%identity, "waiting for the leader lease");
    while !*leader.borrow_and_update() {
        leader
            .changed()
            .await
            .context("the leader election stopped")?;
    }
    leading.store(true, Ordering::Relaxed);
    tracing::info!(%identity, "leading: reconciling");

    let ctx = Context::new(
        client,
        &identity,
        metrics,
        Settings {
            cluster_domain: args.cluster_domain,
            resync: args.topic_resync,
            ..Settings::default()
        },
    );
    let controllers = futures::future::join4(
        rustmq_operator::cluster::run(ctx.clone(), args.namespace.clone()),
        rustmq_operator::topic::run(ctx.clone(), args.namespace.clone()),
        rustmq_operator::acl_rule::run(ctx.clone(), args.namespace.clone()),
        rustmq_operator::certificate::run(ctx, args.namespace),
    );
    tokio::select! {
        _ = controllers => {
            tracing::info!("controllers stopped; releasing the lease");
            drop(leader);
            let _ = lease_task.await;
            rustmq_transport::telemetry::shutdown().await;
            Ok(())
        }
        _ = async {
            while leader.changed().await.is_ok() {
                if !*leader.borrow() {
                    return;
                }
            }
        } => {
            // Another replica may act from now on: stop at once rather than race it.
            rustmq_transport::telemetry::shutdown().await;
            anyhow::bail!("lost the leader lease")
        }
    }
}
