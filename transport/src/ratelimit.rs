//! Rate limiting of the admin REST API, as the seed specifies: a global token bucket, one per
//! client IP and one per endpoint (governor's GCRA), `X-RateLimit-*` headers on every
//! response, 429 with `Retry-After` and the JSON envelope when a bucket is empty, and a
//! periodic clean-up of idle per-IP buckets.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};

/// One endpoint's bucket: `burst_size` requests at once, `refill_rate` per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointLimit {
    /// Requests allowed at once.
    pub burst_size: u32,
    /// Requests per minute, sustained.
    pub refill_rate: u32,
}

/// `[admin.rate_limiting]`.
///
/// ```
/// let c = rustmq_transport::ratelimit::RateLimitConfig::default();
/// assert!(c.enabled);
/// assert_eq!(c.endpoints["POST:/api/v1/topics"].burst_size, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Off: no limits, no headers.
    pub enabled: bool,
    /// Global bucket.
    pub global_burst_size: u32,
    /// Global requests per minute.
    pub global_refill_rate: u32,
    /// Each client IP's bucket.
    pub per_ip_burst_size: u32,
    /// Each client IP's requests per minute.
    pub per_ip_refill_rate: u32,
    /// How often idle per-IP buckets are dropped.
    pub cleanup_interval_seconds: u64,
    /// Peers (IPs or CIDRs) whose `X-Forwarded-For` names the client (load balancers,
    /// ingress). From anyone else the header is ignored: a client cannot pick its own IP.
    pub trusted_proxies: Vec<String>,
    /// Per endpoint: `"/path"` or `"METHOD:/path"`; a key also covers the paths below it
    /// (`"DELETE:/api/v1/topics"` covers `DELETE /api/v1/topics/orders`), the longest
    /// matching key wins and a key with the method beats one without.
    pub endpoints: BTreeMap<String, EndpointLimit>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let e = |b, r| EndpointLimit {
            burst_size: b,
            refill_rate: r,
        };
        Self {
            enabled: true,
            global_burst_size: 1000,
            global_refill_rate: 60,
            per_ip_burst_size: 100,
            per_ip_refill_rate: 30,
            cleanup_interval_seconds: 3600,
            trusted_proxies: Vec::new(),
            endpoints: BTreeMap::from([
                ("/health".into(), e(50, 100)),
                ("/api/v1/cluster".into(), e(50, 100)),
                ("/api/v1/topics".into(), e(20, 30)),
                ("/api/v1/brokers".into(), e(20, 30)),
                ("POST:/api/v1/topics".into(), e(5, 10)),
                ("DELETE:/api/v1/topics".into(), e(5, 10)),
            ]),
        }
    }
}

/// The seed's flat `RUSTMQ_ADMIN_*` variables, as dotted config keys.
const ENV_KEYS: &[(&str, &str)] = &[
    ("RATE_LIMITING_ENABLED", "enabled"),
    ("GLOBAL_BURST_SIZE", "global_burst_size"),
    ("GLOBAL_REFILL_RATE", "global_refill_rate"),
    ("PER_IP_BURST_SIZE", "per_ip_burst_size"),
    ("PER_IP_REFILL_RATE", "per_ip_refill_rate"),
    ("CLEANUP_INTERVAL_SECONDS", "cleanup_interval_seconds"),
];

/// A figment provider for the seed's `RUSTMQ_ADMIN_RATE_LIMITING_ENABLED`,
/// `RUSTMQ_ADMIN_GLOBAL_BURST_SIZE`, ... variables (`admin.rate_limiting.*`).
pub fn env_provider() -> figment::providers::Env {
    figment::providers::Env::prefixed("RUSTMQ_ADMIN_")
        .filter(|k| {
            ENV_KEYS
                .iter()
                .any(|(name, _)| k.as_str().eq_ignore_ascii_case(name))
        })
        .map(|k| {
            let key = ENV_KEYS
                .iter()
                .find(|(name, _)| k.as_str().eq_ignore_ascii_case(name))
                .map(|(_, key)| *key)
                .unwrap_or("unknown");
            format!("admin.rate_limiting.{key}").into()
        })
}

impl RateLimitConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let positive = |key: &str, v: u32| {
            if v == 0 {
                Err((
                    format!("admin.rate_limiting.{key}"),
                    "must be at least 1".to_string(),
                ))
            } else {
                Ok(())
            }
        };
        positive("global_burst_size", self.global_burst_size)?;
        positive("global_refill_rate", self.global_refill_rate)?;
        positive("per_ip_burst_size", self.per_ip_burst_size)?;
        positive("per_ip_refill_rate", self.per_ip_refill_rate)?;
        if self.cleanup_interval_seconds == 0 {
            return Err((
                "admin.rate_limiting.cleanup_interval_seconds".into(),
                "must be at least 1".into(),
            ));
        }
        for p in &self.trusted_proxies {
            parse_net(p).ok_or_else(|| {
                (
                    "admin.rate_limiting.trusted_proxies".to_string(),
                    format!("'{p}' is not an IP address or CIDR"),
                )
            })?;
        }
        for (k, e) in &self.endpoints {
            let path = k.split_once(':').map(|(_, p)| p).unwrap_or(k);
            if !path.starts_with('/') {
                return Err((
                    format!("admin.rate_limiting.endpoints.\"{k}\""),
                    "expected \"/path\" or \"METHOD:/path\"".into(),
                ));
            }
            positive(&format!("endpoints.\"{k}\".burst_size"), e.burst_size)?;
            positive(&format!("endpoints.\"{k}\".refill_rate"), e.refill_rate)?;
        }
        Ok(())
    }
}

fn parse_net(s: &str) -> Option<ipnet::IpNet> {
    s.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

type Direct = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    DefaultClock,
    StateInformationMiddleware,
>;
type Keyed = RateLimiter<
    IpAddr,
    governor::state::keyed::DefaultKeyedStateStore<IpAddr>,
    DefaultClock,
    StateInformationMiddleware,
>;

fn quota(burst: u32, per_minute: u32) -> Quota {
    let nz = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(nz(per_minute)).allow_burst(nz(burst))
}

/// Counters for `/health`.
#[derive(Debug, Default)]
struct Stats {
    allowed: AtomicU64,
    rejected_global: AtomicU64,
    rejected_per_ip: AtomicU64,
    rejected_endpoint: AtomicU64,
}

/// The admin API's limiters.
pub struct RateLimits {
    config: RateLimitConfig,
    global: Direct,
    per_ip: Keyed,
    endpoints: Vec<(Option<String>, String, Direct, EndpointLimit)>,
    trusted: Vec<ipnet::IpNet>,
    clock: DefaultClock,
    stats: Stats,
}

/// Which bucket decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Global,
    PerIp,
    Endpoint,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::PerIp => "per_ip",
            Self::Endpoint => "endpoint",
        }
    }
}

impl RateLimits {
    /// Builds the limiters and starts the idle-bucket clean-up (it stops when the limits are
    /// dropped).
    pub fn start(config: RateLimitConfig) -> Arc<Self> {
        let endpoints = config
            .endpoints
            .iter()
            .map(|(k, e)| {
                let (method, path) = match k.split_once(':') {
                    Some((m, p)) => (Some(m.to_ascii_uppercase()), p.to_string()),
                    None => (None, k.clone()),
                };
                let limiter = RateLimiter::direct(quota(e.burst_size, e.refill_rate))
                    .with_middleware::<StateInformationMiddleware>();
                (method, path, limiter, *e)
            })
            .collect();
        let limits = Arc::new(Self {
            global: RateLimiter::direct(quota(config.global_burst_size, config.global_refill_rate))
                .with_middleware::<StateInformationMiddleware>(),
            per_ip: RateLimiter::keyed(quota(config.per_ip_burst_size, config.per_ip_refill_rate))
                .with_middleware::<StateInformationMiddleware>(),
            endpoints,
            trusted: config
                .trusted_proxies
                .iter()
                .filter_map(|p| parse_net(p))
                .collect(),
            clock: DefaultClock::default(),
            stats: Stats::default(),
            config,
        });
        let weak = Arc::downgrade(&limits);
        let every = Duration::from_secs(limits.config.cleanup_interval_seconds.max(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(l) = weak.upgrade() else { return };
                // Buckets that refilled completely carry no state worth keeping.
                l.per_ip.retain_recent();
                l.per_ip.shrink_to_fit();
            }
        });
        limits
    }

    /// Whether limits apply at all.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Figures for `/health`.
    pub fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "enabled": self.config.enabled,
            "allowed": self.stats.allowed.load(Ordering::Relaxed),
            "rejected_global": self.stats.rejected_global.load(Ordering::Relaxed),
            "rejected_per_ip": self.stats.rejected_per_ip.load(Ordering::Relaxed),
            "rejected_endpoint": self.stats.rejected_endpoint.load(Ordering::Relaxed),
            "tracked_ips": self.per_ip.len(),
        })
    }

    /// The client's IP: the connection's peer, or the rightmost address of
    /// `X-Forwarded-For` not itself a trusted proxy when the peer is a trusted proxy.
    fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
        let peer = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let trusted = |ip: &IpAddr| self.trusted.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted(ip))
            .unwrap_or(peer)
    }

    fn endpoint(&self, method: &str, path: &str) -> Option<(&Direct, EndpointLimit)> {
        let covers = |p: &str| path == p || path.starts_with(&format!("{p}/"));
        self.endpoints
            .iter()
            .filter(|(m, p, _, _)| m.as_deref().is_none_or(|m| m == method) && covers(p))
            .max_by_key(|(m, p, _, _)| (p.len(), m.is_some()))
            .map(|(_, _, l, e)| (l, *e))
    }
}

/// What the headers report: the bucket closest to empty.
struct Verdict {
    kind: Kind,
    limit: u32,
    remaining: u32,
    refill_per_minute: u32,
}

/// Axum middleware applying [`RateLimits`].
pub async fn middleware(
    State(limits): State<Arc<RateLimits>>,
    req: Request,
    next: Next,
) -> Response {
    if !limits.enabled() {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = limits.client_ip(peer, req.headers());
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let mut checks: Vec<(Kind, Result<u32, Duration>, u32, u32)> = Vec::new();
    // Narrowest first: a request refused by its endpoint costs no global token.
    if let Some((l, e)) = limits.endpoint(&method, &path) {
        checks.push((
            Kind::Endpoint,
            check(&limits, l.check()),
            e.burst_size,
            e.refill_rate,
        ));
    }
    if checks.iter().all(|c| c.1.is_ok()) {
        checks.push((
            Kind::PerIp,
            check(&limits, limits.per_ip.check_key(&ip)),
            limits.config.per_ip_burst_size,
            limits.config.per_ip_refill_rate,
        ));
    }
    if checks.iter().all(|c| c.1.is_ok()) {
        checks.push((
            Kind::Global,
            check(&limits, limits.global.check()),
            limits.config.global_burst_size,
            limits.config.global_refill_rate,
        ));
    }
    if let Some((kind, Err(wait), limit, refill)) = checks.iter().find(|c| c.1.is_err()).cloned() {
        let counter = match kind {
            Kind::Global => &limits.stats.rejected_global,
            Kind::PerIp => &limits.stats.rejected_per_ip,
            Kind::Endpoint => &limits.stats.rejected_endpoint,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let retry = wait.as_secs_f64().ceil().max(1.0) as u64;
        let body = serde_json::json!({
            "success": false,
            "data": null,
            "error": format!(
                "rate limit exceeded ({} bucket: {limit} requests, {refill} per minute); retry in {retry} s",
                kind.name()
            ),
            "leader_hint": null,
        });
        let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        let v = Verdict {
            kind,
            limit,
            remaining: 0,
            refill_per_minute: refill,
        };
        headers(resp.headers_mut(), &v);
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(retry));
        tracing::debug!(%ip, %method, %path, bucket = kind.name(), "admin API request rate-limited");
        return resp;
    }
    limits.stats.allowed.fetch_add(1, Ordering::Relaxed);
    let binding = checks
        .iter()
        .filter_map(|(kind, r, limit, refill)| {
            r.as_ref().ok().map(|remaining| Verdict {
                kind: *kind,
                limit: *limit,
                remaining: *remaining,
                refill_per_minute: *refill,
            })
        })
        .min_by_key(|v| v.remaining);
    let mut resp = next.run(req).await;
    if let Some(v) = binding {
        headers(resp.headers_mut(), &v);
    }
    resp
}

fn check(
    limits: &RateLimits,
    r: Result<
        governor::middleware::StateSnapshot,
        governor::NotUntil<<DefaultClock as Clock>::Instant>,
    >,
) -> Result<u32, Duration> {
    match r {
        Ok(s) => Ok(s.remaining_burst_capacity()),
        Err(not_until) => Err(not_until.wait_time_from(limits.clock.now())),
    }
}

fn headers(h: &mut HeaderMap, v: &Verdict) {
    // Seconds until the bucket is full again.
    let used = u64::from(v.limit.saturating_sub(v.remaining));
    let reset = (used * 60).div_ceil(u64::from(v.refill_per_minute.max(1)));
    h.insert("x-ratelimit-limit", HeaderValue::from(v.limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(v.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    h.insert("x-ratelimit-type", HeaderValue::from_static(v.kind.name()));
}
