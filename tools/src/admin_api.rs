//! The admin REST API as the CLI calls it: the `{success, data, error}` envelope unwrapped,
//! errors with the status and the leader hint.

use anyhow::{Context, bail};
use rustmq_controller::api::Envelope;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

/// The admin REST API of a cluster (any controller).
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

/// How the CLI reaches an HTTPS admin API and proves who it is for writes.
#[derive(Debug, Clone, Default)]
pub struct ApiAuth {
    /// CA of the admin API's certificate.
    pub ca: Option<std::path::PathBuf>,
    /// A client certificate (an `admin` one may do anything).
    pub cert: Option<std::path::PathBuf>,
    /// Its key.
    pub key: Option<std::path::PathBuf>,
    /// A bearer token sent as `Authorization: Bearer`.
    pub token: Option<String>,
}

impl ApiAuth {
    /// The HTTP client: TLS with the CA (and the client certificate) when given, and the
    /// token on every request.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut b = reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(5));
        if let Some(ca) = &self.ca {
            let read = |p: &std::path::Path| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let identity = match (&self.cert, &self.key) {
                (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
                (None, None) => None,
                _ => bail!("--admin-cert and --admin-key go together"),
            };
            let tls = rustmq_transport::https::client_tls(
                &read(ca)?,
                identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
            )
            .with_context(|| format!("the admin API's TLS ({})", ca.display()))?;
            b = b.use_preconfigured_tls(tls);
        }
        if let Some(t) = &self.token {
            let mut h = reqwest::header::HeaderMap::new();
            let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
                .context("the token is not a valid header value")?;
            v.set_sensitive(true);
            h.insert(reqwest::header::AUTHORIZATION, v);
            b = b.default_headers(h);
        }
        Ok(b.build()?)
    }
}

impl Api {
    /// GETs a resource outside `/api/v1` (no envelope).
    pub async fn get_raw<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {url}"))?;
        resp.json()
            .await
            .with_context(|| format!("{url} did not answer the expected JSON"))
    }

    /// GETs a text resource (`/metrics`, `/api/v1/crl`); an error status is an error.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{url}: HTTP {status}: {text}");
        }
        Ok(text)
    }

    /// GETs an `/api/v1` resource and unwraps the envelope.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.call(reqwest::Method::GET, path, None::<&()>).await
    }

    /// Calls an `/api/v1` endpoint whose data is a sentence for the user, and prints it.
    pub async fn say<B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<()> {
        let said: String = self.call(method, path, body).await?;
        println!("{said}");
        Ok(())
    }

    /// Calls an `/api/v1` endpoint and unwraps the `{success, data, error}` envelope.
    pub async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        // With traces exported, the call is a client span the admin API's span joins.
        let span = tracing::info_span!("rustmq.admin.call", otel.kind = "client",
            otel.name = %format!("{method} {path}"));
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = span
            .in_scope(|| rustmq_transport::telemetry::http::propagate(req))
            .send()
            .instrument(span)
            .await
            .with_context(|| format!("cannot reach the admin API at {url}"))?;
        let status = resp.status();
        // Errors carry a string payload whatever the success type is: read the envelope
        // loosely first, then the data as `T`.
        let env: Envelope<serde_json::Value> = resp
            .json()
            .await
            .with_context(|| format!("{url} answered {status} without the JSON envelope"))?;
        if !env.success {
            let msg = env.error.as_deref().unwrap_or("unknown error");
            match env.leader_hint {
                Some(l) if status == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                    bail!("{msg} (HTTP {status}; leader is {l})")
                }
                _ => bail!("{msg} (HTTP {status})"),
            }
        }
        let data = env.data.unwrap_or(serde_json::Value::Null);
        serde_json::from_value(data)
            .with_context(|| format!("{url} answered data of an unexpected shape"))
    }
}
