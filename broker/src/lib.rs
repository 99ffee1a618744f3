//! RustMQ broker.
//!
//! - [`wal`]: the single write-ahead log shared by all partitions (group commit, recovery).
//! - [`partition`]: offsets, the batch index, the high watermark, retention, the write cache.
//! - [`broker`]: Produce / Fetch / ListOffsets / Metadata / Health against the partitions, one
//!   file per concern (topology, produce, fetch, retention, views, replication).
//! - [`lease`]: the leader lease a broker needs to act as a partition leader.
//! - [`server`]: the QUIC listener (one stream per request, catch-up consumers on background-priority bulk threads).
//! - [`priority`]: background threads (cold reads, bulk connections) lower their CPU priority.
//! - [`config`], [`tls`]: `broker.toml` and certificates; [`config_watch`] applies a changed
//!   `broker.toml`'s runtime keys while the broker runs.
//!
//! [`Node`] runs a whole single-node cluster in one process: the embedded one-voter
//! controller, the broker, the QUIC listener and the admin REST API. This is the dev mode
//! (`rustmq-broker --dev`) and what most integration tests start.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rustmq_broker::NodeError> {
//! use rustmq_broker::{Node, config::BrokerConfig};
//! let mut config = BrokerConfig::dev(std::path::Path::new("/tmp/rustmq"));
//! config.network.quic_listen = "127.0.0.1:0".parse().unwrap();
//! config.admin.http_listen = "127.0.0.1:0".parse().unwrap();
//! let node = Node::start(config).await?;
//! println!("QUIC on {}, admin on {}", node.quic_addr(), node.admin_addr());
//! node.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
pub mod broker;
#[cfg(feature = "test-support")]
pub mod child;
pub mod config;
pub mod config_watch;
pub mod etl;
pub mod groups;
pub mod lease;
pub mod partition;
pub mod priority;
pub mod security;
pub mod server;
pub mod task_time;
pub mod tier;
pub use rustmq_transport::tls;
pub mod wal;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustmq_controller::metadata::BrokerRegistration;
use rustmq_controller::{Controller, ControllerError, ControllerOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broker::{Broker, BrokerError};
use crate::config::BrokerConfig;
use crate::task_time::{TaskKind::Periodic, timed};
use rustmq_transport::tls::TlsError;

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Controller.
    #[error("controller: {0}")]
    Controller(#[from] ControllerError),
    /// Broker.
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    /// TLS.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// QUIC listener.
    #[error(transparent)]
    Server(#[from] server::ServerError),
    /// `[security]` cannot be set up.
    #[error(transparent)]
    Security(#[from] config::ConfigError),
    /// Admin API listener.
    #[error("cannot listen on {addr} for the admin API: {source}")]
    Admin {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// A running single-node cluster: controller, broker, QUIC listener, admin API.
pub struct Node {
    controller: Arc<Controller>,
    broker: Arc<Broker>,
    security: Arc<security::BrokerSecurity>,
    endpoint: quinn::Endpoint,
    lanes: Arc<server::BulkLanes>,
    quic_addr: SocketAddr,
    admin_addr: SocketAddr,
    ca_cert: Option<PathBuf>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Starts everything; returns once all listeners accept.
    pub async fn start(config: BrokerConfig) -> Result<Self, NodeError> {
        let mut ctl = ControllerOptions::single_node(config.controller_dir());
        ctl.election_timeout = Duration::from_millis(config.controller.election_timeout_ms);
        ctl.heartbeat_interval = Duration::from_millis(config.controller.heartbeat_interval_ms);
        let remote = !config.controller.endpoints.is_empty();
        if remote {
            // A metadata observer of the controller cluster (see ControllerOptions::join).
            ctl.node_id = rustmq_controller::BROKER_NODE_BASE + u64::from(config.broker.id);
            ctl.join = config.controller.endpoint_addrs();
            ctl.rpc_listen = vec![config.network.rpc_listen];
            ctl.advertised_addr = format!(
                "{}:{}",
                config.broker.advertised_host,
                config
                    .network
                    .advertised_rpc_port
                    .unwrap_or(config.network.rpc_listen.port())
            );
            ctl.tls = config.controller.internal_tls()?;
        }
        let controller = Controller::open(ctl).await?;
        let security = security::BrokerSecurity::new(
            &config.security,
            format!("broker-{}", config.broker.id),
            &config.broker.data_dir.join("audit").join("audit.log"),
            &controller.metadata(),
        )
        .await?;
        if security.enabled() {
            let who = if config.security.jwt.enabled {
                "a client certificate or a bearer token"
            } else {
                "client certificates"
            };
            tracing::info!("security on: {who} required, requests checked against the ACLs");
        }

        let dev_dir = config
            .controller
            .dev_certificates_dir
            .clone()
            .unwrap_or_else(|| config.tls_dir());
        let (cert, key, ca_cert) =
            match (&config.network.tls_cert_path, &config.network.tls_key_path) {
                (Some(c), Some(k)) => (c.clone(), k.clone(), None),
                _ => {
                    let dev = tls::ensure_dev_certificates(&dev_dir)?;
                    (dev.server_cert, dev.server_key, Some(dev.ca_cert))
                }
            };
        // With security on, mutual TLS: the handshake itself refuses clients without a
        // certificate of the client CA.
        let client_ca = if config.security.enabled {
            Some(
                config
                    .security
                    .client_ca_cert
                    .clone()
                    .or_else(|| config.controller.ca_cert.clone())
                    .or_else(|| ca_cert.clone())
                    .ok_or_else(|| config::ConfigError::Value {
                        key: "security.client_ca_cert".into(),
                        reason: "security is enabled but no CA for client certificates is set (nor controller.ca_cert)".into(),
                    })?,
            )
        } else {
            None
        };
        let listener_tls = security::ListenerTlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca,
            certificate_optional: security.accepts_tokens(),
        };
        let tls = listener_tls.server_config(&security)?;
        let lanes = server::BulkLanes::for_network(&config.network).map_err(|source| {
            server::ServerError::Bind {
                addr: config.network.quic_listen,
                source,
            }
        })?;
        let endpoint = server::bind(config.network.quic_listen, tls, &config.network, &lanes)?;
        let quic_addr = endpoint
            .local_addr()
            .map_err(|source| server::ServerError::Bind {
                addr: config.network.quic_listen,
                source,
            })?;
        // A new incarnation per process start: the controllers move this broker's old
        // leaderships away (its replication state did not survive the restart).
        let me = BrokerRegistration {
            id: config.broker.id,
            host: config.broker.advertised_host.clone(),
            port_quic: config
                .network
                .advertised_quic_port
                .unwrap_or(quic_addr.port()),
            port_rpc: config.network.advertised_rpc_port.unwrap_or(
                controller
                    .rpc_addr()
                    .map(|a| a.port())
                    .unwrap_or(config.network.rpc_listen.port()),
            ),
            rack_id: config.broker.rack_id.clone(),
            incarnation: rand::random::<u64>(),
            empty_log: std::fs::read_dir(config.wal_dir())
                .map(|mut d| d.next().is_none())
                .unwrap_or(true),
        };
        controller.register_broker(me.clone()).await?;
        let broker = Broker::start(config.clone(), controller.clone()).await?;

        let (stop, _) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(timed(
            Periodic,
            security
                .clone()
                .follow(controller.clone(), stop.subscribe()),
        ))];
        if remote {
            tasks.push(tokio::spawn(timed(
                Periodic,
                heartbeat(
                    controller.clone(),
                    Arc::downgrade(&broker),
                    me,
                    broker.lease().clone(),
                    Duration::from_millis(config.controller.broker_heartbeat_interval_ms),
                    stop.subscribe(),
                ),
            )));
        }
        tasks.push(tokio::spawn(security::watch_listener_tls(
            listener_tls.clone(),
            security.clone(),
            endpoint.clone(),
            config.network.clone(),
            Duration::from_millis(config.security.certificate_reload_interval_ms),
            stop.subscribe(),
        )));
        let quic = tokio::spawn(server::serve(
            endpoint.clone(),
            broker.clone(),
            security.clone(),
            config.network.clone(),
            lanes.clone(),
            stop.subscribe(),
        ));
        let listener = tokio::net::TcpListener::bind(config.admin.http_listen)
            .await
            .map_err(|source| NodeError::Admin {
                addr: config.admin.http_listen,
                source,
            })?;
        let admin_addr = listener.local_addr().map_err(|source| NodeError::Admin {
            addr: config.admin.http_listen,
            source,
        })?;
        let limits =
            rustmq_transport::ratelimit::RateLimits::start(config.admin.rate_limiting.clone());
        let app = rustmq_controller::api::router_full(
            controller.clone(),
            rustmq_controller::api::AdminExtras {
                broker: Some(broker.clone()),
                limits: Some(limits),
                ca: admin::issuing_ca(&config, ca_cert.as_ref())?,
                security: Some(security.clone()),
                auth: admin::auth(&config, &security)?,
            },
        );
        let https = if config.admin.https {
            Some(admin::https_config(
                &cert,
                &key,
                listener_tls.client_ca.as_ref(),
            )?)
        } else {
            None
        };
        let admin = tokio::spawn(admin::serve(listener, app, https, stop.subscribe()));
        Ok(Self {
            controller,
            broker,
            security,
            endpoint,
            lanes,
            quic_addr,
            admin_addr,
            ca_cert,
            stop,
            tasks: {
                tasks.extend([quic, admin]);
                tasks
            },
        })
    }

    /// The QUIC address clients connect to.
    pub fn quic_addr(&self) -> SocketAddr {
        self.quic_addr
    }

    /// The admin REST API address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The development CA certificate clients should trust (None with configured certs).
    pub fn ca_cert(&self) -> Option<&PathBuf> {
        self.ca_cert.as_ref()
    }

    /// The embedded controller.
    pub fn controller(&self) -> &Arc<Controller> {
        &self.controller
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Client authentication and ACL checks.
    pub fn security(&self) -> &Arc<security::BrokerSecurity> {
        &self.security
    }

    /// Applies the runtime keys of `path` whenever its content changes, loading it with
    /// `load` (see [`config_watch::watch_config_file`]); `hangup`: also on `SIGHUP` (for the
    /// process's own file, not in tests that share a process). Stops with the node.
    ///
    /// ```no_run
    /// # async fn f(mut node: rustmq_broker::Node) {
    /// use rustmq_broker::config::BrokerConfig;
    /// let path = std::path::PathBuf::from("/etc/rustmq/broker.toml");
    /// let file = path.clone();
    /// node.watch_config(path, move || BrokerConfig::load(BrokerConfig::default(), Some(&file)), true);
    /// # }
    /// ```
    pub fn watch_config<F>(&mut self, path: PathBuf, load: F, hangup: bool)
    where
        F: Fn() -> Result<BrokerConfig, config::ConfigError> + Send + 'static,
    {
        let security = self.security.clone();
        self.tasks
            .push(tokio::spawn(config_watch::watch_config_file(
                self.broker.clone(),
                path,
                load,
                move |c: &BrokerConfig| {
                    if let Err(e) = security.reconfigure(&c.security) {
                        tracing::error!(error = %e, "security settings not applied");
                    }
                },
                hangup,
                self.stop.subscribe(),
            )));
    }

    /// Where catch-up consumers are served (see [`server::BulkLanes`]).
    pub fn bulk_lanes(&self) -> &Arc<server::BulkLanes> {
        &self.lanes
    }

    /// Stops accepting, lets in-flight requests finish briefly, flushes the WAL and stops Raft.
    /// A broker of a controller cluster first shuts down in a controlled way: its
    /// leaderships move to other in-sync replicas (and it leaves every ISR) while it still
    /// answers, so clients see `NOT_LEADER` and move on instead of timing out.
    pub async fn shutdown(self) {
        if !self.broker.config().controller.endpoints.is_empty() {
            self.controlled_shutdown().await;
        }
        let _ = self.stop.send(true);
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"broker shutting down");
        for t in self.tasks {
            let _ = t.await;
        }
        self.broker.shutdown().await;
        self.controller.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

impl Node {
    /// Asks the controllers to move this broker's leaderships away and waits (up to
    /// `replication.controlled_shutdown_timeout_ms`) until this broker leads nothing or only
    /// partitions without another in-sync replica.
    async fn controlled_shutdown(&self) {
        let cfg = self.broker.config();
        let id = cfg.broker.id;
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(cfg.replication.controlled_shutdown_timeout_ms);
        loop {
            match self.controller.controlled_shutdown(id).await {
                Ok(()) => break,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    tracing::info!(error = %e, "controlled shutdown not accepted yet; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "controlled shutdown failed; stopping anyway");
                    return;
                }
            }
        }
        // Leaderships the controllers could not move stay (no other in-sync replica).
        let md = self.controller.metadata();
        let stuck = md
            .topics
            .values()
            .flat_map(|t| &t.assignments)
            .filter(|a| a.leader == id && a.isr.iter().all(|r| *r == id))
            .count();
        while self.broker.led_partition_count() > stuck && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!(
            still_leading = self.broker.led_partition_count(),
            "controlled shutdown: leadership moved"
        );
    }
}

/// A broker of a controller cluster heartbeats every `every`, with its load, and renews its
/// leader lease with each answered heartbeat; when the controllers do not know it (their state was rebuilt) it
/// registers again.
async fn heartbeat(
    controller: Arc<Controller>,
    broker: std::sync::Weak<Broker>,
    me: BrokerRegistration,
    lease: Arc<lease::Lease>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // The first failure of a run of them is logged, and the recovery with its length: a
    // broker without answered heartbeats stops acknowledging once its lease runs out.
    let mut failing_since: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let sent = std::time::Instant::now();
        let load = broker.upgrade().map(|b| b.load_report());
        let answered = controller.broker_heartbeat(me.id, load).await;
        match (&answered, failing_since) {
            (Ok(()), Some(since)) => {
                tracing::info!(
                    failing_ms = since.elapsed().as_millis() as u64,
                    "heartbeats to the controllers answered again"
                );
                failing_since = None;
            }
            (Err(e), None) => {
                tracing::warn!(error = %e, "heartbeat to the controllers failed; retrying");
                failing_since = Some(sent);
            }
            _ => {}
        }
        match answered {
            Ok(()) => lease.renewed(sent),
            Err(ControllerError::Metadata(
                rustmq_controller::metadata::MetadataError::UnknownBroker(_),
            )) => {
                if let Err(e) = controller.register_broker(me.clone()).await {
                    tracing::warn!(error = %e, "registering with the controllers failed");
                }
            }
            Err(e) => tracing::debug!(error = %e, "heartbeat to the controllers failed"),
        }
    }
}
