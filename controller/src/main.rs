//! `rustmq-controller --config controller.toml`: one Raft voter of the controller cluster,
//! serving internal RPC (Raft, brokers) and the admin REST API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use rustmq_controller::Controller;
use rustmq_controller::config::ControllerConfig;

/// RustMQ controller.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// controller.toml; RUSTMQ_<SECTION>__<KEY> environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    rustmq_transport::process::run(|| {
        let args = Args::parse();
        let config = ControllerConfig::load(args.config.as_deref())?;
        rustmq_transport::process::block_on(run(config))
    })
}

async fn run(config: ControllerConfig) -> anyhow::Result<()> {
    rustmq_transport::telemetry::init("rustmq-controller", &config.telemetry)?;
    let opts = config.options()?;
    let http = config.http_listen();
    // Bind the admin API first: a port conflict is reported before Raft starts.
    let listener = tokio::net::TcpListener::bind(http)
        .await
        .with_context(|| format!("admin API cannot listen on {http}"))?;
    let controller = Controller::open(opts.clone())
        .await
        .context("starting the controller")?;
    println!("RustMQ controller {} is up", config.controller.node_id);
    println!("  data directory : {}", opts.data_dir.display());
    for a in &opts.rpc_listen {
        println!("  internal RPC   : {a}");
    }
    println!(
        "  admin REST API : {}://{}",
        if config.admin.https { "https" } else { "http" },
        listener.local_addr()?
    );
    println!("  voters         : {:?}", opts.peers);
    let limits = rustmq_transport::ratelimit::RateLimits::start(config.admin.rate_limiting.clone());
    let ca = config
        .tls
        .issuing_ca()
        .context("loading the issuing CA ([tls] ca_cert and ca_key)")?
        .map(std::sync::Arc::new);
    if let Some(ca) = &ca {
        println!("  issuing CA     : {}", ca.info().subject);
    }
    let mut audit_cfg = config.audit.clone();
    if audit_cfg.path.is_none() {
        audit_cfg.path = Some(opts.data_dir.join("audit").join("audit.log"));
    }
    let audit = rustmq_security::audit::AuditLog::open(
        audit_cfg,
        format!("controller-{}", config.controller.node_id),
    )
    .context("opening the audit log ([audit] path)")?;
    let auth = if config.admin.require_authentication {
        let jwt = if config.admin.jwt.enabled {
            Some(std::sync::Arc::new(
                rustmq_security::jwt::JwtVerifier::new(config.admin.jwt.clone())
                    .await
                    .context("[admin.jwt]")?,
            ))
        } else {
            None
        };
        Some(std::sync::Arc::new(rustmq_controller::api::AdminAuth {
            rules: rustmq_security::principal::MappingRules::parse(
                &config.admin.principal_mapping_rules,
            )?,
            jwt,
            super_users: config.admin.super_users.clone(),
        }))
    } else {
        None
    };
    let mut app = rustmq_controller::api::router_full(
        controller.clone(),
        rustmq_controller::api::AdminExtras {
            limits: Some(limits),
            ca,
            security: Some(std::sync::Arc::new(rustmq_controller::api::AuditOnly(
                audit,
            ))),
            auth,
            ..Default::default()
        },
    );
    if config.admin.log_requests {
        app = app.layer(axum::middleware::from_fn(log_request));
    }
    if config.admin.enable_cors {
        app = app.layer(tower_http::cors::CorsLayer::permissive());
    }
    let https = match (&opts.tls, config.admin.https) {
        (Some(t), true) => Some(rustmq_transport::tls::mutual_server_config(
            &t.cert,
            &t.key,
            rustmq_transport::tls::optional_client_verifier(&t.ca_cert)?,
            b"http/1.1",
        )?),
        (None, true) => anyhow::bail!("admin.https needs [tls] certificates"),
        _ => None,
    };
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let admin = tokio::spawn(async move {
        use rustmq_transport::https::{AdminPeer, TlsListener};
        let shutdown = async move {
            let _ = stop_rx.changed().await;
        };
        match https {
            Some(cfg) => {
                axum::serve(
                    TlsListener::new(listener, cfg)?,
                    app.into_make_service_with_connect_info::<AdminPeer>(),
                )
                .with_graceful_shutdown(shutdown)
                .await
            }
            None => {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<AdminPeer>(),
                )
                .with_graceful_shutdown(shutdown)
                .await
            }
        }
    });
    rustmq_transport::process::wait_for_signal().await?;
    println!("shutting down");
    let _ = stop_tx.send(true);
    controller.shutdown().await;
    admin.await.context("admin API task")??;
    Ok(())
}

/// `admin.log_requests`: one line per request.
async fn log_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(%method, %path, status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "admin API request");
    resp
}
