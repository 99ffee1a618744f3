//! The BigQuery side: authentication by the configured method, the table's schema (created
//! when asked), what a partition's rows already hold, and insertAll with every failure
//! sorted into what is retried and what is not.

use std::collections::BTreeSet;
use std::sync::Arc;

use gcp_bigquery_client::Client;
use gcp_bigquery_client::client_builder::ClientBuilder;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::get_query_results_parameters::GetQueryResultsParameters;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::table::Table;
use gcp_bigquery_client::model::table_data_insert_all_request::TableDataInsertAllRequest;
use gcp_bigquery_client::model::table_data_insert_all_request_rows::TableDataInsertAllRequestRows;
use gcp_bigquery_client::model::table_row::TableRow;
use gcp_bigquery_client::model::table_schema::TableSchema;
use serde_json::{Map, Value};

use crate::config::{AuthMethod, StreamingInserts, SubscriberConfig};
use crate::schema::{FieldSpec, OFFSET_COLUMN, PARTITION_COLUMN, TIMESTAMP_COLUMN, TOPIC_COLUMN};

/// A failed call, sorted by what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Throttling (429), quota, a server error (5xx), or the service unreachable: try
    /// again after a backoff, for as long as it lasts.
    #[error("BigQuery unavailable: {0}")]
    Transient(String),
    /// BigQuery refused the request (4xx): retrying the same request fails the same way.
    #[error("BigQuery refused the request ({code}): {message}")]
    Refused { code: i64, message: String },
    /// Credentials could not be obtained.
    #[error("cannot authenticate to BigQuery: {0}")]
    Auth(String),
}

impl SinkError {
    /// Whether waiting may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Quota and throttling reasons BigQuery reports in a 403 (retried like a 429).
const RETRIABLE_REASONS: [&str; 5] = [
    "rateLimitExceeded",
    "quotaExceeded",
    "backendError",
    "internalError",
    "timeout",
];

fn sorted(e: BQError) -> SinkError {
    match e {
        BQError::ResponseError { error } => {
            let e = error.error;
            let reasons: Vec<&str> = e
                .errors
                .iter()
                .filter_map(|m| m.get("reason").map(String::as_str))
                .collect();
            if e.code == 429
                || e.code >= 500
                || reasons.iter().any(|r| RETRIABLE_REASONS.contains(r))
            {
                SinkError::Transient(format!("{} {}", e.code, e.message))
            } else {
                SinkError::Refused {
                    code: e.code,
                    message: e.message,
                }
            }
        }
        BQError::AuthError(e) => SinkError::Auth(e.to_string()),
        BQError::YupAuthError(e) => SinkError::Auth(e.to_string()),
        BQError::NoToken => SinkError::Auth("no token".into()),
        // Connection refused or reset, timeouts, a body that is not BigQuery's JSON (a
        // proxy's error page): the request may not have been seen.
        e => SinkError::Transient(e.to_string()),
    }
}

/// The view of `table` that keeps one row per record (topic, partition, offset), as
/// BigQuery's documentation recommends for streaming inserts: the first row by timestamp.
///
/// ```
/// let sql = rustmq_bigquery_subscriber::bigquery::dedup_view_sql("p.d.t", "p.d.t_dedup");
/// assert!(sql.starts_with("CREATE OR REPLACE VIEW `p.d.t_dedup`"));
/// ```
pub fn dedup_view_sql(table: &str, view: &str) -> String {
    format!(
        "CREATE OR REPLACE VIEW `{view}` AS \
         SELECT * EXCEPT (rustmq_row) FROM ( \
           SELECT *, ROW_NUMBER() OVER ( \
             PARTITION BY {TOPIC_COLUMN}, {PARTITION_COLUMN}, {OFFSET_COLUMN} \
             ORDER BY {TIMESTAMP_COLUMN}) AS rustmq_row \
           FROM `{table}`) \
         WHERE rustmq_row = 1"
    )
}

/// No credentials, for emulators.
#[derive(Clone)]
struct NoCredentials;

#[async_trait::async_trait]
impl gcp_bigquery_client::auth::Authenticator for NoCredentials {
    async fn access_token(&self) -> Result<String, BQError> {
        Ok("emulator".into())
    }
}

/// One row BigQuery did not insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Its index in the request.
    pub index: usize,
    /// Why (BigQuery's reason and message).
    pub reason: String,
    /// It was valid: BigQuery skipped it because another row of its request was not
    /// (`stopped`), or it failed for a transient reason. Send it again.
    pub resend: bool,
}

/// The table the subscriber writes.
pub struct BigQuery {
    client: Client,
    project: String,
    dataset: String,
    table: String,
    inserts: StreamingInserts,
}

impl BigQuery {
    /// A client for `config`'s table, authenticated by its method.
    pub async fn connect(config: &SubscriberConfig) -> Result<Self, SinkError> {
        let mut builder = ClientBuilder::new();
        if let Some(url) = &config.endpoint {
            builder.with_v2_base_url(url.trim_end_matches('/').to_string());
        }
        let client = match config.auth.method {
            AuthMethod::None => builder
                .build_from_authenticator(Arc::new(NoCredentials))
                .await
                .map_err(sorted)?,
            AuthMethod::ApplicationDefault => builder
                .build_from_application_default_credentials()
                .await
                .map_err(sorted)?,
            AuthMethod::ServiceAccount => {
                let file = config.auth.credentials_file.as_ref().ok_or_else(|| {
                    SinkError::Auth("no service-account key file configured".into())
                })?;
                builder
                    .build_from_service_account_key_file(&file.to_string_lossy())
                    .await
                    .map_err(sorted)?
            }
            AuthMethod::MetadataServer => builder
                .build_with_workload_identity(false)
                .await
                .map_err(sorted)?,
        };
        Ok(Self {
            client,
            project: config.project_id.clone(),
            dataset: config.dataset.clone(),
            table: config.table.clone(),
            inserts: config.write_method.streaming_inserts.clone(),
        })
    }

    /// `project.dataset.table`.
    pub fn name(&self) -> String {
        format!("{}.{}.{}", self.project, self.dataset, self.table)
    }

    /// The table's columns, or `None` when it does not exist.
    pub async fn fields(&self) -> Result<Option<Vec<FieldSpec>>, SinkError> {
        match self
            .client
            .table()
            .get(&self.project, &self.dataset, &self.table, None)
            .await
        {
            Ok(t) => {
                let fields = serde_json::to_value(t.schema.fields.unwrap_or_default())
                    .and_then(serde_json::from_value)
                    .map_err(|e| SinkError::Transient(format!("table schema: {e}")))?;
                Ok(Some(fields))
            }
            Err(e) => match sorted(e) {
                SinkError::Refused { code: 404, .. } => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Creates the table with `fields`.
    pub async fn create(&self, fields: &[FieldSpec]) -> Result<(), SinkError> {
        let schema: TableSchema = serde_json::to_value(fields)
            .and_then(|f| serde_json::from_value(serde_json::json!({ "fields": f })))
            .map_err(|e| SinkError::Refused {
                code: 400,
                message: format!("schema fields: {e}"),
            })?;
        let t = Table::new(&self.project, &self.dataset, &self.table, schema);
        match self.client.table().create(t).await {
            Ok(_) => Ok(()),
            // Another instance created it first.
            Err(e) => match sorted(e) {
                SinkError::Refused { code: 409, .. } => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Creates or replaces the view `<table>_dedup` ([`dedup_view_sql`]).
    pub async fn create_dedup_view(&self) -> Result<String, SinkError> {
        let view = format!("{}_dedup", self.name());
        self.client
            .job()
            .query(
                &self.project,
                QueryRequest::new(dedup_view_sql(&self.name(), &view)),
            )
            .await
            .map_err(sorted)?;
        Ok(view)
    }

    /// The offsets of `topic`/`partition` at or after `from` that the table holds.
    pub async fn offsets_from(
        &self,
        topic: &str,
        partition: u32,
        from: i64,
    ) -> Result<BTreeSet<i64>, SinkError> {
        // Topic names are [a-zA-Z0-9._-], so quoting them needs no escaping.
        let sql = format!(
            "SELECT {OFFSET_COLUMN} FROM `{}` WHERE {TOPIC_COLUMN} = '{topic}' \
             AND {PARTITION_COLUMN} = {partition} AND {OFFSET_COLUMN} >= {from}",
            self.name()
        );
        let mut request = QueryRequest::new(sql);
        request.max_results = Some(100_000);
        let first = self
            .client
            .job()
            .query(&self.project, request)
            .await
            .map_err(sorted)?;
        let mut out = BTreeSet::new();
        let collect = |rows: Option<Vec<TableRow>>, out: &mut BTreeSet<i64>| {
            for r in rows.unwrap_or_default() {
                let v = r
                    .columns
                    .and_then(|c| c.into_iter().next())
                    .and_then(|c| c.value);
                match v {
                    Some(Value::String(s)) => out.extend(s.parse::<i64>().ok()),
                    Some(Value::Number(n)) => out.extend(n.as_i64()),
                    _ => {}
                }
            }
        };
        collect(first.rows, &mut out);
        let job = first.job_reference.and_then(|j| j.job_id);
        let mut page = first.page_token;
        while let (Some(token), Some(job)) = (page.take(), job.as_ref()) {
            let next = self
                .client
                .job()
                .get_query_results(
                    &self.project,
                    job,
                    GetQueryResultsParameters {
                        page_token: Some(token),
                        max_results: Some(100_000),
                        ..Default::default()
                    },
                )
                .await
                .map_err(sorted)?;
            collect(next.rows, &mut out);
            page = next.page_token;
        }
        Ok(out)
    }

    /// Inserts `rows` (insert id, row) in one insertAll request: the rows it did not
    /// insert, or why the whole request failed.
    pub async fn insert(
        &self,
        rows: &[(String, Map<String, Value>)],
    ) -> Result<Vec<RowError>, SinkError> {
        let mut request = TableDataInsertAllRequest::new();
        if self.inserts.skip_invalid_rows {
            request.skip_invalid_rows();
        }
        if self.inserts.ignore_unknown_values {
            request.ignore_unknown_values();
        }
        request
            .add_rows(
                rows.iter()
                    .map(|(id, row)| TableDataInsertAllRequestRows {
                        insert_id: Some(id.clone()),
                        json: Value::Object(row.clone()),
                    })
                    .collect(),
            )
            .map_err(sorted)?;
        let response = self
            .client
            .tabledata()
            .insert_all(&self.project, &self.dataset, &self.table, request)
            .await
            .map_err(sorted)?;
        Ok(response
            .insert_errors
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| {
                let index = usize::try_from(e.index?).ok().filter(|&i| i < rows.len())?;
                let errors = e.errors.unwrap_or_default();
                let reasons: Vec<String> = errors
                    .iter()
                    .map(|p| {
                        format!(
                            "{}: {}",
                            p.reason.as_deref().unwrap_or("error"),
                            p.message.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                let resend = errors.iter().all(|p| {
                    matches!(p.reason.as_deref(), Some("stopped"))
                        || p.reason
                            .as_deref()
                            .is_some_and(|r| RETRIABLE_REASONS.contains(&r))
                });
                Some(RowError {
                    index,
                    reason: reasons.join("; "),
                    resend,
                })
            })
            .collect())
    }
}
