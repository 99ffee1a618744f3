//! The node's admin REST API: the controller's router with what the broker adds, served
//! over HTTP or, with `admin.https`, over HTTPS with the listener's certificate (client
//! certificates of the client CA are taken when presented, for admin writes).

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use rustmq_security::ca::CertificateAuthority;
use rustmq_transport::https::{AdminPeer, TlsListener};
use rustmq_transport::tls;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{BrokerConfig, ConfigError};
use crate::security::BrokerSecurity;

/// The CA the admin API issues certificates with: `security.issuing_ca_*`, or the
/// development CA (`dev_ca`) when its key is there.
pub(crate) fn issuing_ca(
    config: &BrokerConfig,
    dev_ca: Option<&PathBuf>,
) -> Result<Option<Arc<CertificateAuthority>>, ConfigError> {
    let files = match (
        &config.security.issuing_ca_cert,
        &config.security.issuing_ca_key,
    ) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        _ => dev_ca
            .map(|ca| (ca.clone(), ca.with_file_name("ca.key")))
            .filter(|(_, k)| k.exists()),
    };
    files
        .map(|(c, k)| {
            CertificateAuthority::load(&c, &k)
                .map(Arc::new)
                .map_err(|e| ConfigError::Value {
                    key: "security.issuing_ca_cert".into(),
                    reason: e.to_string(),
                })
        })
        .transpose()
}

/// Who may write through the admin API: with security on, admin certificates,
/// super-users, and what the ACLs grant (certificates or bearer tokens).
pub(crate) fn auth(
    config: &BrokerConfig,
    security: &BrokerSecurity,
) -> Result<Option<Arc<rustmq_controller::api::AdminAuth>>, ConfigError> {
    if !security.enabled() {
        return Ok(None);
    }
    Ok(Some(Arc::new(rustmq_controller::api::AdminAuth {
        rules: config.security.mapping_rules()?,
        jwt: security.jwt_verifier(),
        super_users: config.security.super_users.clone(),
    })))
}

/// The HTTPS server config of the admin API (`admin.https`): the listener's certificate,
/// client certificates optional and verified against `client_ca` when given.
pub(crate) fn https_config(
    cert: &std::path::Path,
    key: &std::path::Path,
    client_ca: Option<&PathBuf>,
) -> Result<rustls::ServerConfig, tls::TlsError> {
    match client_ca {
        Some(ca) => {
            tls::mutual_server_config(cert, key, tls::optional_client_verifier(ca)?, b"http/1.1")
        }
        None => tls::server_config(cert, key, b"http/1.1"),
    }
}

/// Serves `app` on `tcp` (through TLS with `https`) until `stop`.
pub(crate) async fn serve(
    tcp: TcpListener,
    app: Router,
    https: Option<rustls::ServerConfig>,
    mut stop: watch::Receiver<bool>,
) {
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    let served = match https {
        Some(cfg) => match TlsListener::new(tcp, cfg) {
            Ok(l) => {
                axum::serve(l, app.into_make_service_with_connect_info::<AdminPeer>())
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Err(e) => Err(e),
        },
        None => {
            axum::serve(tcp, app.into_make_service_with_connect_info::<AdminPeer>())
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    if let Err(e) = served {
        tracing::error!(error = %e, "admin API stopped");
    }
}
