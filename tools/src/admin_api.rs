//! The admin REST API as the CLI calls it: the `{success, data, error}` envelope unwrapped,
//! errors with the status and the leader hint.

use anyhow::{Context, bail};
use rustmq_controller::api::Envelope;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The admin REST API of a cluster (any controller).
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
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
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
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
