//! A typed client of a cluster's admin REST API (the controllers' `/api/v1`), with the
//! request and response types the controllers themselves serve.

use std::collections::BTreeMap;
use std::time::Duration;

use rustmq_controller::RebalanceStatus;
use rustmq_controller::api::{
    AclListView, AclRulesRequest, AlterTopicRequest, BrokerSummary, ClusterView, ControllerView,
    CreateTopicRequest, Envelope, IssueCertificateRequest, IssuedCertificateView, RebalanceRequest,
    RevokeRequest, TopicView,
};
use rustmq_controller::metadata::{AclChangeResult, CertificateRecord};
use rustmq_security::acl::AclRule;
use rustmq_security::ca::RevocationReason;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The admin API of one cluster.
///
/// ```
/// let api = rustmq_operator::admin::AdminApi::new(reqwest::Client::new(), "http://rmq-admin.ns.svc:9642");
/// assert_eq!(api.url("/api/v1/cluster"), "http://rmq-admin.ns.svc:9642/api/v1/cluster");
/// ```
#[derive(Clone, Debug)]
pub struct AdminApi {
    http: reqwest::Client,
    base: String,
}

impl AdminApi {
    /// A client of the API at `base` (`http://host:port`).
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_string(),
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Brokers, controllers, leader and the cluster id.
    pub async fn cluster(&self) -> Result<ClusterView> {
        self.send(
            self.http.get(self.url("/api/v1/cluster")),
            "/api/v1/cluster",
        )
        .await?
        .ok_or_else(|| self.error("/api/v1/cluster", "no cluster in the answer", None))
    }

    /// Every topic with its partitions' replicas and ISRs.
    pub async fn topics(&self) -> Result<Vec<TopicView>> {
        self.get("/api/v1/topics").await
    }

    /// Registered brokers (online, draining).
    pub async fn brokers(&self) -> Result<Vec<BrokerSummary>> {
        self.get("/api/v1/brokers").await
    }

    /// The controllers; their replication lag is set only when the leader answered.
    pub async fn controllers(&self) -> Result<Vec<ControllerView>> {
        self.get("/api/v1/controllers").await
    }

    /// Adds controller `controller-<node>` at `address` (its Raft host:port) as a voter: it
    /// catches up as a learner first, so this can take a while.
    pub async fn add_controller(&self, node: u64, address: &str) -> Result<()> {
        let path = "/api/v1/controllers";
        let body = rustmq_controller::api::AddControllerRequest {
            id: format!("controller-{node}"),
            address: address.to_string(),
        };
        // A new voter copies the log before it is promoted: longer than other calls.
        self.send_within::<serde_json::Value>(
            self.http.post(self.url(path)).json(&body),
            path,
            Duration::from_secs(60),
        )
        .await
        .map(drop)
    }

    /// Removes controller `controller-<node>` from the voters.
    pub async fn remove_controller(&self, node: u64) -> Result<()> {
        let path = format!("/api/v1/controllers/controller-{node}");
        self.send::<serde_json::Value>(self.http.delete(self.url(&path)), &path)
            .await
            .map(drop)
    }

    /// Starts draining broker `id` (its replicas move to other brokers).
    pub async fn drain(&self, id: u32) -> Result<()> {
        let path = format!("/api/v1/brokers/{id}/drain");
        self.send_json::<serde_json::Value>(reqwest::Method::POST, &path, &serde_json::json!({}))
            .await
            .map(drop)
    }

    /// Stops draining broker `id`.
    pub async fn undrain(&self, id: u32) -> Result<()> {
        let path = format!("/api/v1/brokers/{id}/drain");
        self.send::<serde_json::Value>(self.http.delete(self.url(&path)), &path)
            .await
            .map(drop)
    }

    /// The rebalance state and its dry-run plan; `start` also starts a rebalance.
    pub async fn rebalance(&self, start: bool) -> Result<RebalanceStatus> {
        let path = "/api/v1/rebalance";
        let answer = if start {
            self.send_json(
                reqwest::Method::POST,
                path,
                &RebalanceRequest { dry_run: false },
            )
            .await?
        } else {
            self.send(self.http.get(self.url(path)), path).await?
        };
        answer.ok_or_else(|| self.error(path, "no rebalance state in the answer", None))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.http.get(self.url(path)), path)
            .await?
            .ok_or_else(|| self.error(path, "no data in the answer", None))
    }

    /// The topic, or `None` when the cluster has no such topic.
    pub async fn topic(&self, name: &str) -> Result<Option<TopicView>> {
        let path = format!("/api/v1/topics/{name}");
        absent_is_none(self.send(self.http.get(self.url(&path)), &path).await)
    }

    /// Creates a topic.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: u32,
        replication_factor: u32,
        config: &BTreeMap<String, String>,
    ) -> Result<()> {
        let body = CreateTopicRequest {
            name: name.to_string(),
            partitions,
            replication_factor,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            compression_type: None,
            config: config.clone(),
        };
        self.send_json::<String>(reqwest::Method::POST, "/api/v1/topics", &body)
            .await
            .map(drop)
    }

    /// Grows a topic and/or replaces its whole config; returns the topic as altered.
    pub async fn alter_topic(&self, name: &str, change: &AlterTopicRequest) -> Result<TopicView> {
        let path = format!("/api/v1/topics/{name}");
        self.send_json::<TopicView>(reqwest::Method::PATCH, &path, change)
            .await?
            .ok_or_else(|| self.error(&path, "no topic in the answer", None))
    }

    /// Deletes a topic; one that is already gone is not an error.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let path = format!("/api/v1/topics/{name}");
        absent_is_none(
            self.send::<String>(self.http.delete(self.url(&path)), &path)
                .await,
        )
        .map(drop)
    }

    /// The rules kept under `source`, with the version in force.
    pub async fn acls_of(&self, source: &str) -> Result<AclListView> {
        self.get(&format!("/api/v1/acls?source={}", encode(source)))
            .await
    }

    /// Replaces every rule kept under `source` with `rules`, in one step (nothing changes,
    /// version included, when they are the same).
    pub async fn replace_acls(&self, source: &str, rules: Vec<AclRule>) -> Result<AclChangeResult> {
        let path = format!("/api/v1/acls/sources/{}", encode(source));
        self.send_json(reqwest::Method::PUT, &path, &AclRulesRequest { rules })
            .await?
            .ok_or_else(|| self.error(&path, "no result in the answer", None))
    }

    /// Issues a certificate with the cluster CA; the answer holds its private key, which the
    /// cluster keeps nowhere.
    pub async fn issue_certificate(
        &self,
        request: &IssueCertificateRequest,
    ) -> Result<IssuedCertificateView> {
        let path = "/api/v1/certificates";
        self.send_json(reqwest::Method::POST, path, request)
            .await?
            .ok_or_else(|| self.error(path, "no certificate in the answer", None))
    }

    /// The cluster's record of a certificate, or `None` when it did not issue it.
    pub async fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>> {
        let path = format!("/api/v1/certificates/{}", encode(serial));
        absent_is_none(self.send(self.http.get(self.url(&path)), &path).await)
    }

    /// Revokes a certificate (brokers refuse it and close its sessions); one the cluster
    /// does not know is not an error.
    pub async fn revoke_certificate(&self, serial: &str, reason: RevocationReason) -> Result<()> {
        let path = format!("/api/v1/certificates/{}/revoke", encode(serial));
        absent_is_none(
            self.send_json::<serde_json::Value>(
                reqwest::Method::POST,
                &path,
                &RevokeRequest { reason },
            )
            .await,
        )
        .map(drop)
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Option<T>> {
        self.send(self.http.request(method, self.url(path)).json(body), path)
            .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<Option<T>> {
        self.send_within(req, path, Duration::from_secs(10)).await
    }

    async fn send_within<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        path: &str,
        timeout: Duration,
    ) -> Result<Option<T>> {
        let resp = rustmq_transport::telemetry::http::propagate(req)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.error(path, &e.to_string(), None))?;
        let status = resp.status();
        let body: Envelope<T> = resp.json().await.map_err(|e| {
            self.error(
                path,
                &format!("unreadable answer: {e}"),
                Some(status.as_u16()),
            )
        })?;
        if status.is_success() && body.success {
            Ok(body.data)
        } else {
            Err(self.error(
                path,
                body.error.as_deref().unwrap_or("failed without a reason"),
                Some(status.as_u16()),
            ))
        }
    }

    fn error(&self, path: &str, message: &str, status: Option<u16>) -> Error {
        Error::Admin {
            url: self.url(path),
            message: message.to_string(),
            status,
        }
    }
}

/// A 404 from the API as "nothing there".
fn absent_is_none<T>(r: Result<Option<T>>) -> Result<Option<T>> {
    match r {
        Err(Error::Admin {
            status: Some(404), ..
        }) => Ok(None),
        r => r,
    }
}

/// `s` percent-encoded for a path segment or query value.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
