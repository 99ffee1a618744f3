//! The subscriber's settings: the seed's TOML file (`CONFIG_FILE`) and its environment
//! variables, which override the file. Every key has a default but the four that say what
//! goes where (project, dataset, table, topic).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::schema::FieldSpec;

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not the expected TOML.
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// An environment variable has a value of the wrong kind.
    #[error("{var}={value:?}: {reason}")]
    Env {
        var: &'static str,
        value: String,
        reason: String,
    },
    /// A setting is missing or out of range.
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// How records become rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingKind {
    /// A JSON object's top-level fields are the columns; nested values are written as JSON
    /// text.
    #[default]
    Direct,
    /// `column_mappings` pick values by dotted path; `default_values` fill the rest.
    Custom,
    /// Objects become RECORD columns and arrays REPEATED ones, at any depth.
    Nested,
}

/// How the subscriber authenticates to BigQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's file).
    #[default]
    ApplicationDefault,
    /// A service-account key file (`GOOGLE_APPLICATION_CREDENTIALS` or `credentials_file`).
    ServiceAccount,
    /// The GCE/GKE metadata server (Workload Identity).
    MetadataServer,
    /// No credentials: for a BigQuery emulator at `endpoint`.
    None,
}

/// What happens to a row BigQuery (or the subscriber's own check) refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterAction {
    /// Logged with its reason, then skipped.
    #[default]
    Log,
    /// Skipped (counted).
    Drop,
    /// Produced to `dead_letter_topic` with headers saying why and from where.
    DeadLetterQueue,
    /// Appended as a JSON line to `dead_letter_file` (fsynced before it counts as handled).
    File,
}

/// `[write_method.streaming_inserts]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamingInserts {
    /// Let BigQuery insert the valid rows of a request that has invalid ones.
    pub skip_invalid_rows: bool,
    /// Let BigQuery (and the subscriber's check) ignore fields the table does not have.
    pub ignore_unknown_values: bool,
}

/// `[write_method]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteMethod {
    /// insertAll (the one method: see the README).
    pub streaming_inserts: StreamingInserts,
}

/// `[subscription]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Subscription {
    /// The topic to stream.
    pub topic: String,
    /// Bootstrap brokers, `host:port`.
    pub broker_endpoints: Vec<String>,
    /// Consumer group (default `bigquery-<dataset>-<table>`): instances of one group share
    /// the topic's partitions.
    pub consumer_group: Option<String>,
    /// Static group membership (Kafka's `group.instance.id`; a StatefulSet pod's name): a
    /// restart within the session timeout keeps the partitions without a rebalance.
    pub group_instance_id: Option<String>,
    /// CA certificate (PEM) the brokers' certificates chain to.
    pub ca_cert: Option<PathBuf>,
    /// Where a partition without a committed offset starts: `earliest` or `latest`.
    pub start_from: String,
}

impl Default for Subscription {
    fn default() -> Self {
        Self {
            topic: String::new(),
            broker_endpoints: vec!["127.0.0.1:9092".into()],
            consumer_group: None,
            group_instance_id: None,
            ca_cert: None,
            start_from: "earliest".into(),
        }
    }
}

/// `[schema]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaSection {
    /// `direct`, `custom` or `nested`.
    pub mapping: MappingKind,
    /// Custom mapping: source dotted path in the message -> column (the seed's form,
    /// `"user_data.user_id" = "user_id"`).
    pub column_mappings: BTreeMap<String, String>,
    /// Custom mapping: column -> value when the message has none. `CURRENT_TIMESTAMP()` is
    /// the time the subscriber mapped the record; anything else is taken as it is written.
    pub default_values: BTreeMap<String, String>,
    /// The table's columns (without the `_topic`, `_partition`, `_offset`, `_timestamp`
    /// columns the subscriber adds), used to create it when `auto_create_table` is set.
    pub fields: Vec<FieldSpec>,
}

/// `[batching]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Batching {
    pub max_rows_per_batch: usize,
    pub max_batch_size_bytes: usize,
    pub max_batch_latency_ms: u64,
    pub max_concurrent_batches: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            max_rows_per_batch: 1000,
            max_batch_size_bytes: 10 << 20,
            max_batch_latency_ms: 1000,
            max_concurrent_batches: 10,
        }
    }
}

/// `[error_handling]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorHandling {
    /// Attempts at a request BigQuery refused as a client error (4xx other than 429)
    /// before its rows go to the dead-letter action. Throttling, quota and server errors
    /// are retried until they stop.
    pub max_retries: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub dead_letter_action: DeadLetterAction,
    /// For `dead_letter_queue` (default `<topic>.bigquery-dlq`).
    pub dead_letter_topic: Option<String>,
    /// For `file`.
    pub dead_letter_file: Option<PathBuf>,
}

impl Default for ErrorHandling {
    fn default() -> Self {
        Self {
            max_retries: 3,
            retry_base_ms: 1000,
            retry_max_ms: 30_000,
            dead_letter_action: DeadLetterAction::Log,
            dead_letter_topic: None,
            dead_letter_file: None,
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    pub method: AuthMethod,
    /// Service-account key file (default: `GOOGLE_APPLICATION_CREDENTIALS`).
    pub credentials_file: Option<PathBuf>,
}

/// `[monitoring]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Monitoring {
    /// `/health` and `/metrics` (not the seed's 8080: the admin API has it).
    pub listen: SocketAddr,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8090)),
        }
    }
}

/// The whole configuration.
///
/// ```
/// use rustmq_bigquery_subscriber::config::SubscriberConfig;
/// let c: SubscriberConfig = toml::from_str(r#"
///     project_id = "p"
///     dataset = "d"
///     table = "t"
///     [subscription]
///     topic = "events"
/// "#).unwrap();
/// c.validate().unwrap();
/// assert_eq!(c.consumer_group(), "bigquery-d-t");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriberConfig {
    pub project_id: String,
    pub dataset: String,
    pub table: String,
    /// BigQuery API base URL (default Google's; an emulator's, e.g.
    /// `http://127.0.0.1:9050/bigquery/v2`).
    pub endpoint: Option<String>,
    /// Create the table (from `[schema] fields`) when it does not exist.
    pub auto_create_table: bool,
    /// Create (or replace) the view `<table>_dedup`: the table's rows with each record once
    /// (see the README on what exactly once means against BigQuery).
    pub create_dedup_view: bool,
    pub write_method: WriteMethod,
    pub subscription: Subscription,
    pub schema: SchemaSection,
    pub batching: Batching,
    pub error_handling: ErrorHandling,
    pub auth: Auth,
    pub monitoring: Monitoring,
    /// `[telemetry]` trace export (OTLP; `OTEL_*` variables override it).
    pub telemetry: rustmq_transport::telemetry::TelemetryConfig,
}

/// Reads `var` when set (an empty value counts as unset).
fn var(get: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name).filter(|v| !v.is_empty())
}

fn parsed<T: std::str::FromStr>(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, ConfigError>
where
    T::Err: std::fmt::Display,
{
    var(get, name)
        .map(|v| {
            v.trim().parse::<T>().map_err(|e| ConfigError::Env {
                var: name,
                value: v.clone(),
                reason: e.to_string(),
            })
        })
        .transpose()
}

fn keyword<T: serde::de::DeserializeOwned>(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    choices: &str,
) -> Result<Option<T>, ConfigError> {
    var(get, name)
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.trim().to_lowercase())).map_err(
                |_| ConfigError::Env {
                    var: name,
                    value: v.clone(),
                    reason: format!("expected one of {choices}"),
                },
            )
        })
        .transpose()
}

impl SubscriberConfig {
    /// `CONFIG_FILE` (when set) overridden by the seed's environment variables, validated.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&|k| std::env::var(k).ok())
    }

    /// [`SubscriberConfig::from_env`] with the environment given as a function (tests).
    pub fn load(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = match var(get, "CONFIG_FILE") {
            Some(path) => Self::read(Path::new(&path))?,
            None => Self::default(),
        };
        c.apply_env(get)?;
        c.validate()?;
        Ok(c)
    }

    /// The TOML file alone.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }

    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = var(get, "GCP_PROJECT_ID") {
            self.project_id = v;
        }
        if let Some(v) = var(get, "BIGQUERY_DATASET") {
            self.dataset = v;
        }
        if let Some(v) = var(get, "BIGQUERY_TABLE") {
            self.table = v;
        }
        if let Some(v) = var(get, "BIGQUERY_ENDPOINT") {
            self.endpoint = Some(v);
        }
        if let Some(v) = var(get, "RUSTMQ_TOPIC") {
            self.subscription.topic = v;
        }
        if let Some(v) = var(get, "RUSTMQ_BROKERS") {
            self.subscription.broker_endpoints = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = var(get, "RUSTMQ_CONSUMER_GROUP") {
            self.subscription.consumer_group = Some(v);
        }
        if let Some(v) = var(get, "RUSTMQ_GROUP_INSTANCE_ID") {
            self.subscription.group_instance_id = Some(v);
        }
        if let Some(v) = var(get, "RUSTMQ_CA_CERT") {
            self.subscription.ca_cert = Some(v.into());
        }
        if let Some(v) = keyword(
            get,
            "AUTH_METHOD",
            "application_default, service_account, metadata_server, none",
        )? {
            self.auth.method = v;
        }
        if let Some(v) = var(get, "GOOGLE_APPLICATION_CREDENTIALS")
            && self.auth.credentials_file.is_none()
        {
            self.auth.credentials_file = Some(v.into());
        }
        let b = &mut self.batching;
        if let Some(v) = parsed(get, "MAX_ROWS_PER_BATCH")? {
            b.max_rows_per_batch = v;
        }
        if let Some(v) = parsed(get, "MAX_BATCH_SIZE_BYTES")? {
            b.max_batch_size_bytes = v;
        }
        if let Some(v) = parsed(get, "MAX_BATCH_LATENCY_MS")? {
            b.max_batch_latency_ms = v;
        }
        if let Some(v) = parsed(get, "MAX_CONCURRENT_BATCHES")? {
            b.max_concurrent_batches = v;
        }
        if let Some(v) = keyword(get, "SCHEMA_MAPPING", "direct, custom, nested")? {
            self.schema.mapping = v;
        }
        if let Some(v) = parsed(get, "AUTO_CREATE_TABLE")? {
            self.auto_create_table = v;
        }
        if let Some(v) = parsed(get, "CREATE_DEDUP_VIEW")? {
            self.create_dedup_view = v;
        }
        if let Some(v) = parsed(get, "SKIP_INVALID_ROWS")? {
            self.write_method.streaming_inserts.skip_invalid_rows = v;
        }
        if let Some(v) = parsed(get, "IGNORE_UNKNOWN_VALUES")? {
            self.write_method.streaming_inserts.ignore_unknown_values = v;
        }
        let e = &mut self.error_handling;
        if let Some(v) = parsed(get, "MAX_RETRIES")? {
            e.max_retries = v;
        }
        if let Some(v) = parsed(get, "RETRY_BASE_MS")? {
            e.retry_base_ms = v;
        }
        if let Some(v) = parsed(get, "RETRY_MAX_MS")? {
            e.retry_max_ms = v;
        }
        if let Some(v) = keyword(
            get,
            "DEAD_LETTER_ACTION",
            "log, drop, dead_letter_queue, file",
        )? {
            e.dead_letter_action = v;
        }
        if let Some(v) = var(get, "DEAD_LETTER_TOPIC") {
            e.dead_letter_topic = Some(v);
        }
        if let Some(v) = var(get, "DEAD_LETTER_FILE") {
            e.dead_letter_file = Some(v.into());
        }
        if let Some(v) = parsed(get, "HEALTH_LISTEN")? {
            self.monitoring.listen = v;
        }
        Ok(())
    }

    /// Checks that the settings can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &'static str, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.to_string(),
            })
        };
        for (key, v) in [
            ("project_id (GCP_PROJECT_ID)", &self.project_id),
            ("dataset (BIGQUERY_DATASET)", &self.dataset),
            ("table (BIGQUERY_TABLE)", &self.table),
            (
                "subscription.topic (RUSTMQ_TOPIC)",
                &self.subscription.topic,
            ),
        ] {
            if v.is_empty() {
                return bad(key, "required");
            }
        }
        if self.subscription.broker_endpoints.is_empty() {
            return bad("subscription.broker_endpoints (RUSTMQ_BROKERS)", "required");
        }
        if !matches!(self.subscription.start_from.as_str(), "earliest" | "latest") {
            return bad("subscription.start_from", "earliest or latest");
        }
        let b = &self.batching;
        if !(1..=50_000).contains(&b.max_rows_per_batch) {
            // insertAll takes at most 50,000 rows per request.
            return bad(
                "batching.max_rows_per_batch (MAX_ROWS_PER_BATCH)",
                "1 to 50000",
            );
        }
        if !(1024..=(10 << 20)).contains(&b.max_batch_size_bytes) {
            // insertAll's request limit is 10 MB.
            return bad(
                "batching.max_batch_size_bytes (MAX_BATCH_SIZE_BYTES)",
                "1 KiB to 10 MiB (insertAll's limit)",
            );
        }
        if b.max_batch_latency_ms == 0 {
            return bad(
                "batching.max_batch_latency_ms (MAX_BATCH_LATENCY_MS)",
                "at least 1",
            );
        }
        if !(1..=1000).contains(&b.max_concurrent_batches) {
            return bad(
                "batching.max_concurrent_batches (MAX_CONCURRENT_BATCHES)",
                "1 to 1000",
            );
        }
        let e = &self.error_handling;
        if e.retry_base_ms == 0 || e.retry_max_ms < e.retry_base_ms {
            return bad(
                "error_handling.retry_base_ms / retry_max_ms",
                "base at least 1 and max at least base",
            );
        }
        if e.dead_letter_action == DeadLetterAction::File && e.dead_letter_file.is_none() {
            return bad(
                "error_handling.dead_letter_file (DEAD_LETTER_FILE)",
                "required with dead_letter_action = file",
            );
        }
        if self.schema.mapping == MappingKind::Custom && self.schema.column_mappings.is_empty() {
            return bad("schema.column_mappings", "required with mapping = custom");
        }
        if self.auth.method == AuthMethod::ServiceAccount && self.auth.credentials_file.is_none() {
            return bad(
                "auth.credentials_file (GOOGLE_APPLICATION_CREDENTIALS)",
                "required with auth method service_account",
            );
        }
        if self.auth.method == AuthMethod::None && self.endpoint.is_none() {
            return bad(
                "endpoint (BIGQUERY_ENDPOINT)",
                "auth method none is for emulators: give their endpoint",
            );
        }
        Ok(())
    }

    /// The consumer group.
    pub fn consumer_group(&self) -> String {
        self.subscription
            .consumer_group
            .clone()
            .unwrap_or_else(|| format!("bigquery-{}-{}", self.dataset, self.table))
    }

    /// The dead-letter topic.
    pub fn dead_letter_topic(&self) -> String {
        self.error_handling
            .dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{}.bigquery-dlq", self.subscription.topic))
    }

    /// The batch latency.
    pub fn max_batch_latency(&self) -> Duration {
        Duration::from_millis(self.batching.max_batch_latency_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const REQUIRED: [(&str, &str); 4] = [
        ("GCP_PROJECT_ID", "p"),
        ("BIGQUERY_DATASET", "analytics"),
        ("BIGQUERY_TABLE", "events"),
        ("RUSTMQ_TOPIC", "user-events"),
    ];

    #[test]
    fn the_seeds_environment_variables_configure_everything() {
        let mut vars = REQUIRED.to_vec();
        vars.extend([
            ("RUSTMQ_BROKERS", "a:9092, b:9092"),
            ("AUTH_METHOD", "metadata_server"),
            ("MAX_ROWS_PER_BATCH", "5000"),
            ("MAX_BATCH_SIZE_BYTES", "5242880"),
            ("MAX_BATCH_LATENCY_MS", "500"),
            ("MAX_CONCURRENT_BATCHES", "50"),
            ("SCHEMA_MAPPING", "nested"),
            ("AUTO_CREATE_TABLE", "true"),
            ("MAX_RETRIES", "5"),
            ("RETRY_BASE_MS", "100"),
            ("RETRY_MAX_MS", "2000"),
            ("DEAD_LETTER_ACTION", "dead_letter_queue"),
        ]);
        let c = SubscriberConfig::load(&env(&vars)).unwrap();
        assert_eq!(c.subscription.broker_endpoints, ["a:9092", "b:9092"]);
        assert_eq!(c.auth.method, AuthMethod::MetadataServer);
        assert_eq!(
            c.batching,
            Batching {
                max_rows_per_batch: 5000,
                max_batch_size_bytes: 5 << 20,
                max_batch_latency_ms: 500,
                max_concurrent_batches: 50
            }
        );
        assert_eq!(c.schema.mapping, MappingKind::Nested);
        assert!(c.auto_create_table);
        assert_eq!(c.error_handling.max_retries, 5);
        assert_eq!(
            c.error_handling.dead_letter_action,
            DeadLetterAction::DeadLetterQueue
        );
        assert_eq!(c.dead_letter_topic(), "user-events.bigquery-dlq");
        assert_eq!(c.consumer_group(), "bigquery-analytics-events");
    }

    #[test]
    fn the_seeds_toml_file_loads_and_the_environment_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bigquery-config.toml");
        std::fs::write(
            &path,
            r#"
project_id = "my-project"
dataset = "transformed_data"
table = "processed_events"

[write_method.streaming_inserts]
skip_invalid_rows = true
ignore_unknown_values = true

[subscription]
topic = "raw-events"
broker_endpoints = ["rustmq-broker:9092"]

[schema]
mapping = "custom"

[schema.column_mappings]
"event_id" = "id"
"event_timestamp" = "timestamp"
"user_data.user_id" = "user_id"
"event_data.action" = "action"

[schema.default_values]
"processed_at" = "CURRENT_TIMESTAMP()"
"version" = "1.0"
"#,
        )
        .unwrap();
        let p = path.to_string_lossy().into_owned();
        let c = SubscriberConfig::load(&env(&[("CONFIG_FILE", &p), ("BIGQUERY_TABLE", "other")]))
            .unwrap();
        assert_eq!(c.project_id, "my-project");
        assert_eq!(c.table, "other");
        assert!(c.write_method.streaming_inserts.skip_invalid_rows);
        assert!(c.write_method.streaming_inserts.ignore_unknown_values);
        assert_eq!(c.subscription.broker_endpoints, ["rustmq-broker:9092"]);
        assert_eq!(c.schema.mapping, MappingKind::Custom);
        assert_eq!(c.schema.column_mappings["user_data.user_id"], "user_id");
        assert_eq!(c.schema.default_values["version"], "1.0");
    }

    #[test]
    fn bad_settings_are_refused_naming_them() {
        let e = SubscriberConfig::load(&env(&REQUIRED[..3])).unwrap_err();
        assert!(e.to_string().contains("RUSTMQ_TOPIC"), "{e}");
        let mut vars = REQUIRED.to_vec();
        vars.push(("MAX_ROWS_PER_BATCH", "lots"));
        let e = SubscriberConfig::load(&env(&vars)).unwrap_err();
        assert!(e.to_string().contains("MAX_ROWS_PER_BATCH=\"lots\""), "{e}");
        let mut vars = REQUIRED.to_vec();
        vars.push(("DEAD_LETTER_ACTION", "shred"));
        let e = SubscriberConfig::load(&env(&vars)).unwrap_err();
        assert!(e.to_string().contains("dead_letter_queue"), "{e}");
        let mut vars = REQUIRED.to_vec();
        vars.push(("DEAD_LETTER_ACTION", "file"));
        let e = SubscriberConfig::load(&env(&vars)).unwrap_err();
        assert!(e.to_string().contains("DEAD_LETTER_FILE"), "{e}");
        let mut vars = REQUIRED.to_vec();
        vars.push(("MAX_BATCH_SIZE_BYTES", "104857600"));
        let e = SubscriberConfig::load(&env(&vars)).unwrap_err();
        assert!(e.to_string().contains("insertAll"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[batching]\nmax_rows = 3\n").unwrap();
        let p = path.to_string_lossy().into_owned();
        let e = SubscriberConfig::load(&env(&[("CONFIG_FILE", &p)])).unwrap_err();
        assert!(e.to_string().contains("max_rows"), "{e}");
    }
}
