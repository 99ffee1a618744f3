//! Who a client is and what it may do, on the client listener.
//!
//! With `[security] enabled`, the TLS handshake already refused any client without a
//! certificate of the client CA; [`BrokerSecurity::authenticate`] turns the certificate into
//! a [`Session`] (principal, role, serial), and [`BrokerSecurity::check`] decides each
//! resource a request touches against the ACLs the controllers hold, writing one audit
//! record per denial. The ACLs follow the replicated metadata ([`BrokerSecurity::follow`]).
//! Without security every session is anonymous and every check passes.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rustmq_controller::Controller;
use rustmq_controller::metadata::{AclState, ClusterMetadata};
use rustmq_security::acl::{AclSet, Authorizer, Operation, Reason, Request, ResourceType};
use rustmq_security::audit::{AuditEvent, AuditLog, AuditRecord};
use rustmq_security::identity::{Identity, Role};
use rustmq_security::jwt::JwtVerifier;
use rustmq_security::principal::MappingRules;
use tokio::sync::watch;

use crate::config::{ConfigError, SecuritySection};

mod listener_tls;
mod revocation;
mod warm;
pub use listener_tls::{ListenerTlsFiles, watch_listener_tls};
use revocation::{LiveSessions, RevocationAwareVerifier};
pub use revocation::{RevokedSet, SessionGuard};
use warm::CacheWarmer;

/// How a connection's principal was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Security is off: nobody is asked.
    Anonymous,
    /// The client certificate.
    Certificate,
    /// A bearer token (JWT) sent with `Authenticate`.
    Token,
    /// No certificate identity yet: only `Authenticate` is answered.
    Pending,
}

/// One connection's principal.
#[derive(Debug, Clone)]
pub struct Session {
    /// From the client certificate or the token; `None` when security is off or the
    /// connection has not authenticated yet.
    pub identity: Option<Identity>,
    /// The client's address.
    pub remote: SocketAddr,
    /// How the identity was established.
    pub method: AuthMethod,
}

impl Session {
    /// Whether requests other than `Authenticate` may be answered.
    pub fn authenticated(&self) -> bool {
        self.method != AuthMethod::Pending
    }
}

/// A connection's session, which `Authenticate` may replace while streams read it.
#[derive(Debug)]
pub struct SessionCell {
    session: parking_lot::RwLock<Session>,
    changed: tokio::sync::Notify,
}

impl SessionCell {
    /// A cell holding `s`.
    pub fn new(s: Session) -> Self {
        Self {
            session: parking_lot::RwLock::new(s),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The session now.
    pub fn get(&self) -> Session {
        self.session.read().clone()
    }

    /// Replaces the session (a new token) and wakes whoever waits on its expiry.
    pub fn set(&self, s: Session) {
        *self.session.write() = s;
        self.changed.notify_waiters();
    }

    /// Resolves when the session is replaced.
    pub async fn changed(&self) {
        self.changed.notified().await
    }
}

/// A refused request, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Names the operation and the resource.
    pub message: String,
}

/// Authentication and authorization of one broker.
pub struct BrokerSecurity {
    enabled: bool,
    rules: parking_lot::RwLock<MappingRules>,
    authorizer: Arc<Authorizer>,
    warmer: Arc<CacheWarmer>,
    super_users: parking_lot::RwLock<Vec<String>>,
    allow_if_no_acl: std::sync::atomic::AtomicBool,
    audit: AuditLog,
    denials: AtomicU64,
    authentication_failures: AtomicU64,
    revoked: Arc<RevokedSet>,
    sessions: Arc<LiveSessions>,
    tls_reloads: AtomicU64,
    /// When the listener's certificate ends (seconds since the epoch; 0: not loaded).
    listener_not_after: std::sync::atomic::AtomicI64,
    jwt: Option<Arc<JwtVerifier>>,
}

impl std::fmt::Debug for BrokerSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSecurity")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl BrokerSecurity {
    /// Security as `[security]` says, starting from the ACLs in `md`; audit records go to
    /// `security.audit.path` or `default_audit_path`.
    pub async fn new(
        cfg: &SecuritySection,
        node: String,
        default_audit_path: &Path,
        md: &ClusterMetadata,
    ) -> Result<Arc<Self>, ConfigError> {
        let jwt = if cfg.enabled && cfg.jwt.enabled {
            Some(Arc::new(JwtVerifier::new(cfg.jwt.clone()).await.map_err(
                |e| ConfigError::Value {
                    key: "security.jwt".into(),
                    reason: e.to_string(),
                },
            )?))
        } else {
            None
        };
        let mut audit_cfg = cfg.audit.clone();
        if cfg.enabled && audit_cfg.path.is_none() {
            audit_cfg.path = Some(default_audit_path.to_path_buf());
        }
        let audit_path = audit_cfg.path.clone();
        let audit = AuditLog::open(audit_cfg, node).map_err(|e| ConfigError::Value {
            key: "security.audit.path".into(),
            reason: format!(
                "{}: {e}",
                audit_path
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        })?;
        let first = AclSet::new(
            md.acls.version,
            md.acls.rules.iter().cloned().collect(),
            cfg.super_users.iter().cloned(),
            cfg.allow_if_no_acl,
        );
        let authorizer = Arc::new(Authorizer::new(first, cfg.acl_cache_capacity));
        Ok(Arc::new(
            Self {
                enabled: cfg.enabled,
                rules: parking_lot::RwLock::new(cfg.mapping_rules()?),
                warmer: Arc::new(CacheWarmer::new(authorizer.clone(), cfg.acl_cache_capacity)),
                authorizer,
                super_users: parking_lot::RwLock::new(cfg.super_users.clone()),
                allow_if_no_acl: std::sync::atomic::AtomicBool::new(cfg.allow_if_no_acl),
                audit,
                denials: AtomicU64::new(0),
                authentication_failures: AtomicU64::new(0),
                revoked: Arc::new(RevokedSet::default()),
                sessions: Arc::default(),
                tls_reloads: AtomicU64::new(0),
                listener_not_after: Default::default(),
                jwt,
            }
            .with_certificates(md),
        ))
    }

    fn with_certificates(self, md: &ClusterMetadata) -> Self {
        self.revoked.update(&md.certificates);
        self
    }

    /// No authentication, no authorization (every check passes).
    pub fn disabled() -> Arc<Self> {
        let authorizer = Arc::new(Authorizer::new(AclSet::default(), 1));
        Arc::new(Self {
            enabled: false,
            rules: parking_lot::RwLock::new(MappingRules::default()),
            warmer: Arc::new(CacheWarmer::new(authorizer.clone(), 1)),
            authorizer,
            super_users: parking_lot::RwLock::new(Vec::new()),
            allow_if_no_acl: std::sync::atomic::AtomicBool::new(true),
            audit: AuditLog::memory("broker"),
            denials: AtomicU64::new(0),
            authentication_failures: AtomicU64::new(0),
            revoked: Arc::new(RevokedSet::default()),
            sessions: Arc::default(),
            tls_reloads: AtomicU64::new(0),
            listener_not_after: Default::default(),
            jwt: None,
        })
    }

    /// Whether clients are authenticated and requests authorized.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Requests refused since start.
    pub fn denials(&self) -> u64 {
        self.denials.load(Ordering::Relaxed)
    }

    /// Connections refused after the handshake (no usable identity) since start.
    pub fn authentication_failures(&self) -> u64 {
        self.authentication_failures.load(Ordering::Relaxed)
    }

    /// ACL decisions computed ahead for `acl cache warm` principals since start.
    pub fn acl_decisions_warmed(&self) -> u64 {
        self.warmer.warmed()
    }

    /// Times the listener's certificates were reloaded since start.
    pub fn tls_reloads(&self) -> u64 {
        self.tls_reloads.load(Ordering::Relaxed)
    }

    pub(crate) fn listener_certificate_loaded(&self, not_after: i64) {
        self.listener_not_after.store(not_after, Ordering::Relaxed);
    }

    /// When the client listener's certificate ends (seconds since the epoch), once loaded.
    pub fn listener_certificate_not_after(&self) -> Option<i64> {
        Some(self.listener_not_after.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }

    pub(crate) fn tls_reloaded(&self) {
        self.tls_reloads.fetch_add(1, Ordering::Relaxed);
    }

    /// The version of the ACLs in force.
    pub fn acl_version(&self) -> u64 {
        self.authorizer.current().version()
    }

    /// Puts `acls` in force if they are not already.
    pub fn apply_acls(&self, acls: &AclState) {
        // Versions only grow; the first set was built from the metadata at start.
        if self.authorizer.current().version() == acls.version {
            return;
        }
        self.install(acls.version, acls.rules.iter().cloned().collect());
        tracing::info!(
            version = acls.version,
            rules = acls.rules.len(),
            "ACLs in force"
        );
    }

    fn install(&self, version: u64, rules: Vec<rustmq_security::acl::AclRule>) {
        self.authorizer.replace(AclSet::new(
            version,
            rules,
            self.super_users.read().iter().cloned(),
            self.allow_if_no_acl.load(Ordering::Relaxed),
        ));
    }

    /// Takes the runtime security keys of a changed `broker.toml`: the principal mapping
    /// rules (for connections authenticated from now on), the super-users and
    /// `allow_if_no_acl` (for the next request).
    pub fn reconfigure(&self, cfg: &SecuritySection) -> Result<(), ConfigError> {
        let rules = cfg.mapping_rules()?;
        *self.rules.write() = rules;
        let changed = *self.super_users.read() != cfg.super_users
            || self.allow_if_no_acl.load(Ordering::Relaxed) != cfg.allow_if_no_acl;
        if changed {
            *self.super_users.write() = cfg.super_users.clone();
            self.allow_if_no_acl
                .store(cfg.allow_if_no_acl, Ordering::Relaxed);
            let current = self.authorizer.current();
            self.install(current.version(), current.rules().to_vec());
        }
        Ok(())
    }

    /// Keeps the ACLs in step with the replicated metadata until `stop`.
    pub async fn follow(
        self: Arc<Self>,
        controller: Arc<Controller>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut rx = controller.subscribe();
        loop {
            let md = rx.borrow_and_update().clone();
            self.apply_acls(&md.acls);
            if self.enabled {
                self.warmer.follow(&md);
            }
            self.apply_revocations(&md);
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    }

    /// Puts the revocations of `md` in force: the handshake refuses the certificates from
    /// now on, and the open sessions using them are closed (one audit record each).
    pub fn apply_revocations(&self, md: &ClusterMetadata) {
        for serial in self.revoked.update(&md.certificates) {
            let conns = self.sessions.take(&serial);
            tracing::info!(%serial, sessions = conns.len(), "certificate revoked; closing its sessions");
            let principal = md
                .certificates
                .records
                .get(&serial)
                .map(|r| r.info.principal.clone());
            for conn in conns {
                self.audit.record(AuditRecord {
                    principal: principal.clone(),
                    certificate_serial: Some(serial.clone()),
                    remote_addr: Some(conn.remote_address().to_string()),
                    reason: Some("client certificate revoked".into()),
                    ..AuditRecord::new(AuditEvent::SessionClosed)
                });
                conn.close(
                    quinn::VarInt::from_u32(rustmq_protocol::CLOSE_UNAUTHENTICATED),
                    b"client certificate revoked",
                );
            }
        }
    }

    /// The client-certificate verifier of the listener: `inner` (the CA check), then the
    /// revocations this broker knows.
    pub fn client_verifier(
        &self,
        inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    ) -> Arc<dyn rustls::server::danger::ClientCertVerifier> {
        Arc::new(RevocationAwareVerifier {
            inner,
            revoked: self.revoked.clone(),
        })
    }

    /// Registers an authenticated connection so a revocation of its certificate closes it;
    /// unregistered when the guard drops.
    pub fn register(&self, session: &Session, conn: &quinn::Connection) -> Option<SessionGuard> {
        let id = session.identity.as_ref().filter(|i| !i.serial.is_empty())?;
        Some(self.sessions.register(id.serial.clone(), conn.clone()))
    }

    /// The session of a connection whose handshake completed: with security on, the
    /// identity of the client certificate (a connection without a usable one is refused,
    /// audited).
    pub fn authenticate(&self, conn: &quinn::Connection) -> Result<Session, Denied> {
        let remote = conn.remote_address();
        if !self.enabled {
            return Ok(Session {
                identity: None,
                remote,
                method: AuthMethod::Anonymous,
            });
        }
        let certs = rustmq_transport::quic::peer_certificates(conn);
        if certs.is_none() && self.jwt.is_some() {
            // The handshake let it in without a certificate: it must send a token.
            return Ok(Session {
                identity: None,
                remote,
                method: AuthMethod::Pending,
            });
        }
        let identity = certs
            .ok_or_else(|| "no client certificate".to_string())
            .and_then(|certs| {
                let leaf = certs
                    .first()
                    .ok_or_else(|| "no client certificate".to_string())?;
                Identity::from_certificate(leaf, &self.rules.read()).map_err(|e| e.to_string())
            });
        // Revoked between the handshake's check and now.
        let identity = identity.and_then(|id| {
            if self.revoked.contains(&id.serial) {
                Err("client certificate revoked".to_string())
            } else {
                Ok(id)
            }
        });
        match identity {
            Ok(id) => {
                self.warmer.connected(&id.principal, remote.ip());
                Ok(Session {
                    identity: Some(id),
                    remote,
                    method: AuthMethod::Certificate,
                })
            }
            Err(reason) => {
                self.authentication_failures.fetch_add(1, Ordering::Relaxed);
                self.audit.record(AuditRecord {
                    remote_addr: Some(remote.to_string()),
                    reason: Some(reason.clone()),
                    ..AuditRecord::new(AuditEvent::AuthenticationFailure)
                });
                Err(Denied {
                    message: format!("authentication failed: {reason}"),
                })
            }
        }
    }

    fn decide(
        &self,
        session: &Session,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Option<rustmq_security::acl::Decision> {
        if !self.enabled {
            return None;
        }
        let principal = session
            .identity
            .as_ref()
            .map(|i| i.principal.clone())
            .unwrap_or_default();
        Some(self.authorizer.authorize(&Request {
            principal,
            host: Some(session.remote.ip()),
            operation,
            resource_type,
            resource: name.to_string(),
        }))
    }

    /// Whether `session` may do `operation` on the resource; a refusal is audited (one
    /// record per call) and comes back with the message the client gets.
    pub fn check(
        &self,
        session: &Session,
        request_id: u32,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> Result<(), Denied> {
        let Some(d) = self.decide(session, operation, resource_type, name) else {
            return Ok(());
        };
        if d.allowed {
            return Ok(());
        }
        self.denials.fetch_add(1, Ordering::Relaxed);
        let resource = rustmq_security::acl::resource_label(resource_type, name);
        let id = session.identity.as_ref();
        self.audit.record(AuditRecord {
            resource: Some(resource.clone()),
            operation: Some(operation.as_str().into()),
            decision: Some("deny".into()),
            matched_rule: match d.reason {
                Reason::DeniedByRule { rule } => Some(rule),
                _ => None,
            },
            acl_version: Some(d.acl_version),
            reason: Some(match d.reason {
                Reason::DeniedByRule { .. } => "a deny rule matches".into(),
                _ => "no rule allows it".into(),
            }),
            request_id: Some(u64::from(request_id)),
            ..session_record(session, AuditEvent::Denied)
        });
        Err(Denied {
            message: format!(
                "principal '{}' is not authorized to {} {resource}",
                id.map(|i| i.principal.as_str()).unwrap_or(""),
                operation.as_str()
            ),
        })
    }

    /// Whether `session` may do `operation` on the resource, without an audit record: for
    /// listings that leave out what the principal may not see (Kafka does not log those
    /// either).
    pub fn permits(
        &self,
        session: &Session,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.decide(session, operation, resource_type, name)
            .is_none_or(|d| d.allowed)
    }

    /// The bearer-token verifier, when tokens are accepted.
    pub fn jwt_verifier(&self) -> Option<Arc<JwtVerifier>> {
        self.jwt.clone()
    }

    /// Whether clients may authenticate with a bearer token instead of a certificate.
    pub fn accepts_tokens(&self) -> bool {
        self.jwt.is_some()
    }

    /// `Authenticate`: verifies `token` for the connection whose session is `current`;
    /// the new session, or why not (audited). A session may re-authenticate only as the
    /// principal it already is.
    pub async fn authenticate_token(
        &self,
        current: &Session,
        mechanism: &str,
        token: &str,
    ) -> Result<Session, Denied> {
        let refuse = |reason: String| {
            self.authentication_failures.fetch_add(1, Ordering::Relaxed);
            self.audit.record(AuditRecord {
                principal: current.identity.as_ref().map(|i| i.principal.clone()),
                remote_addr: Some(current.remote.to_string()),
                reason: Some(reason.clone()),
                ..AuditRecord::new(AuditEvent::AuthenticationFailure)
            });
            Denied {
                message: format!("authentication failed: {reason}"),
            }
        };
        let Some(jwt) = &self.jwt else {
            return Err(refuse("this broker takes no bearer tokens".into()));
        };
        if !mechanism.eq_ignore_ascii_case("jwt") {
            return Err(refuse(format!(
                "unknown mechanism '{mechanism}' (expected jwt)"
            )));
        }
        if current.method == AuthMethod::Certificate {
            return Err(refuse(
                "the connection is authenticated by its certificate".into(),
            ));
        }
        let verified = jwt.verify(token).await.map_err(|e| refuse(e.to_string()))?;
        let principal = self
            .rules
            .read()
            .map(&verified.principal)
            .map_err(|e| refuse(e.to_string()))?;
        if let Some(id) = &current.identity
            && id.principal != principal
        {
            return Err(refuse(format!(
                "re-authentication as '{principal}' on a connection of '{}'",
                id.principal
            )));
        }
        self.warmer.connected(&principal, current.remote.ip());
        Ok(Session {
            identity: Some(Identity {
                principal,
                role: Role::Client,
                serial: String::new(),
                subject: format!("jwt kid={}", verified.key_id),
                not_after: verified.expires_at,
            }),
            remote: current.remote,
            method: AuthMethod::Token,
        })
    }

    /// Records a request refused because its connection has not authenticated yet.
    pub fn unauthenticated_request(&self, session: &Session, request_id: u32) {
        self.authentication_failures.fetch_add(1, Ordering::Relaxed);
        self.audit.record(AuditRecord {
            remote_addr: Some(session.remote.to_string()),
            reason: Some("request before authentication".into()),
            request_id: Some(u64::from(request_id)),
            ..AuditRecord::new(AuditEvent::AuthenticationFailure)
        });
    }

    /// Records a TLS handshake the client listener refused (with security on, a missing,
    /// foreign, expired or unfit client certificate ends here).
    pub fn handshake_failed(&self, remote: SocketAddr, reason: &str) {
        if !self.enabled {
            return;
        }
        self.authentication_failures.fetch_add(1, Ordering::Relaxed);
        self.audit.record(AuditRecord {
            remote_addr: Some(remote.to_string()),
            reason: Some(format!("TLS handshake refused: {reason}")),
            ..AuditRecord::new(AuditEvent::AuthenticationFailure)
        });
    }

    /// Records that a session was closed (its certificate expired).
    pub fn session_closed(&self, session: &Session, reason: &str) {
        self.audit.record(AuditRecord {
            reason: Some(reason.into()),
            ..session_record(session, AuditEvent::SessionClosed)
        });
    }
}

/// An audit record of `event` naming the session's principal, role, serial and address.
fn session_record(session: &Session, event: AuditEvent) -> AuditRecord {
    let id = session.identity.as_ref();
    AuditRecord {
        principal: id.map(|i| i.principal.clone()),
        role: id.map(|i| i.role),
        certificate_serial: id.map(|i| i.serial.clone()).filter(|s| !s.is_empty()),
        remote_addr: Some(session.remote.to_string()),
        ..AuditRecord::new(event)
    }
}

impl rustmq_controller::api::SecurityView for BrokerSecurity {
    fn audit(&self) -> &AuditLog {
        &self.audit
    }

    fn status(&self) -> Option<rustmq_controller::api::ListenerSecurity> {
        Some(rustmq_controller::api::ListenerSecurity {
            enabled: self.enabled,
            tokens: self.jwt.is_some(),
            acl_version: self.acl_version(),
            denials: self.denials(),
            authentication_failures: self.authentication_failures(),
            certificate_reloads: self.tls_reloads(),
        })
    }

    fn register_metrics(self: Arc<Self>, registry: &mut prometheus_client::registry::Registry) {
        registry.register_collector(Box::new(SecurityFigures(Arc::downgrade(&self))));
    }
}

/// Security counters read at each scrape. Weak: the registry must not keep a stopped
/// broker's security alive.
#[derive(Debug)]
struct SecurityFigures(std::sync::Weak<BrokerSecurity>);

impl prometheus_client::collector::Collector for SecurityFigures {
    fn encode(&self, mut e: prometheus_client::encoding::DescriptorEncoder) -> std::fmt::Result {
        use rustmq_transport::metrics::{counter, gauge};
        let Some(s) = self.0.upgrade() else {
            return Ok(());
        };
        let e = &mut e;
        gauge(
            e,
            "security_enabled",
            "1 when clients are authenticated and requests authorized",
            i64::from(s.enabled),
        )?;
        gauge(
            e,
            "acl_version",
            "The ACL version in force on this broker",
            s.acl_version() as i64,
        )?;
        counter(
            e,
            "authorization_denials",
            "Requests (or parts of them) refused by the ACLs",
            s.denials(),
        )?;
        counter(
            e,
            "authentication_failures",
            "Handshakes, tokens and unauthenticated requests refused",
            s.authentication_failures(),
        )?;
        counter(
            e,
            "acl_decisions_warmed",
            "ACL decisions computed ahead for the principals of `acl cache warm`",
            s.acl_decisions_warmed(),
        )?;
        if let Some(t) = s.listener_certificate_not_after() {
            gauge(
                e,
                "tls_certificate_expiry_timestamp_seconds",
                "When the client listener's certificate ends (seconds since the epoch)",
                t,
            )?;
        }
        counter(
            e,
            "certificate_reloads",
            "Times the listener's certificates were reloaded",
            s.tls_reloads(),
        )?;
        counter(
            e,
            "audit_records",
            "Audit records written",
            s.audit.records(),
        )?;
        counter(
            e,
            "audit_write_failures",
            "Audit records that could not be written to the file",
            s.audit.write_failures(),
        )?;
        Ok(())
    }
}
