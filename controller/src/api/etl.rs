//! `/api/v1/etl/modules`: deploy, list, describe and remove WebAssembly ETL modules. A deploy
//! compiles the module here first (a module that would not load on the brokers is refused
//! with the reason), then commits it through Raft; every broker compiles it off its produce
//! path and swaps its pipeline when ready.

use std::sync::OnceLock;

use rustmq_etl::filter::TopicFilterSpec;
use rustmq_etl::pipeline::{DeployedModule, ModuleSpec, OnError};
use rustmq_etl::runtime::Runtime;

use super::*;
use crate::metadata::{EtlModuleRecord, decode_module_base64};

/// Largest request body of a deploy: the module in base64 and its settings.
pub(super) const MAX_DEPLOY_BODY_BYTES: usize =
    crate::metadata::MAX_ETL_MODULE_BYTES / 3 * 4 + (1 << 20);

/// `POST /api/v1/etl/modules`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployEtlModuleRequest {
    /// Unique name (deploying a name again replaces that module).
    pub name: String,
    /// 0 validate, 1 transform and enrich, 2 format (lower runs first).
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Topics it applies to: `{"kind": "exact"|"wildcard"|"regex"|"prefix"|"suffix",
    /// "pattern": "..."}`.
    #[schema(value_type = Vec<Object>)]
    pub topic_filters: Vec<TopicFilterSpec>,
    /// Text given to the module's `init` (often JSON).
    #[serde(default)]
    pub config: String,
    /// What happens to a record it fails on: `{"action": "reject"}` (default), `pass`,
    /// `drop`, or `{"action": "dead_letter", "topic": "..."}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub on_error: OnError,
    /// Memory cap of its instances (never above the brokers' `etl.memory_limit_bytes`).
    #[serde(default)]
    pub memory_limit_bytes: Option<usize>,
    /// Time limit of one call (never above the brokers' `etl.execution_timeout_ms`).
    #[serde(default)]
    pub execution_timeout_ms: Option<u64>,
    /// The module's bytes (`.wasm`), base64.
    pub wasm_base64: String,
}

fn default_priority() -> u8 {
    1
}

/// What a deploy or removal did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EtlChangeView {
    /// The ETL version now in force.
    pub version: u64,
    /// The module's SHA-256 (deploys only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// One deployed module (without its bytes).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EtlModuleView {
    /// Name.
    pub name: String,
    /// Priority.
    pub priority: u8,
    /// Topic filters.
    #[schema(value_type = Vec<Object>)]
    pub topic_filters: Vec<TopicFilterSpec>,
    /// Configuration given to `init` (as text; bytes that are not UTF-8 are replaced).
    pub config: String,
    /// Failure policy.
    #[schema(value_type = Object)]
    pub on_error: OnError,
    /// Memory cap, when the module has its own.
    pub memory_limit_bytes: Option<usize>,
    /// Time limit, when the module has its own.
    pub execution_timeout_ms: Option<u64>,
    /// SHA-256 of the module, hex.
    pub digest: String,
    /// Size of the module.
    pub size_bytes: u64,
    /// The ETL version its deployment made.
    pub version: u64,
    /// When it was deployed (RFC 3339).
    pub deployed_at: String,
}

impl From<&EtlModuleRecord> for EtlModuleView {
    fn from(m: &EtlModuleRecord) -> Self {
        let deployed_at = jiff::Timestamp::from_millisecond(m.deployed_at_ms)
            .map(|t| t.to_string())
            .unwrap_or_default();
        Self {
            name: m.spec.name.clone(),
            priority: m.spec.priority,
            topic_filters: m.spec.topic_filters.clone(),
            config: String::from_utf8_lossy(&m.spec.config).into_owned(),
            on_error: m.spec.on_error.clone(),
            memory_limit_bytes: m.spec.memory_limit_bytes,
            execution_timeout_ms: m.spec.execution_timeout_ms,
            digest: m.digest.clone(),
            size_bytes: m.wasm.len() as u64,
            version: m.version,
            deployed_at,
        }
    }
}

/// `GET /api/v1/etl/modules`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EtlListView {
    /// The ETL version in force.
    pub version: u64,
    /// The modules, in the order they run (priority, then name).
    pub modules: Vec<EtlModuleView>,
}

/// Compiles modules to check them: one small engine per process, made on first use.
fn checker() -> Result<&'static Runtime, String> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Runtime::new(1, 64 << 20).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

const DEPLOY_EXAMPLE: &str = r#"{"name": "mask-pii", "priority": 1, "topic_filters": [{"kind": "prefix", "pattern": "users."}], "config": "{\"fields\":[\"email\"]}", "on_error": {"action": "reject"}, "wasm_base64": "AGFzbQEAAAA..."}"#;

#[utoipa::path(post, path = "/api/v1/etl/modules", tag = "etl", request_body = DeployEtlModuleRequest,
    responses((status = 201, description = "Deployed (or replaced); brokers swap their pipeline once they compiled it", body = Envelope<EtlChangeView>),
              (status = 400, description = "Not base64, not a module built for rustmq_etl_v1, a filter that does not compile, or a bad setting; nothing changed", body = Envelope<String>)))]
pub(super) async fn deploy_module(
    State(s): State<AdminState>,
    body: Result<Json<DeployEtlModuleRequest>, JsonRejection>,
) -> Response {
    let req = match body {
        Ok(Json(r)) => r,
        Err(rej) => return bad_body(&s.controller, rej, DEPLOY_EXAMPLE),
    };
    let wasm = match decode_module_base64(&req.wasm_base64) {
        Ok(w) => w,
        Err(e) => return map_err(&s.controller, e.into()).into_response(),
    };
    let spec = ModuleSpec {
        name: req.name,
        priority: req.priority,
        topic_filters: req.topic_filters,
        config: req.config.into_bytes(),
        on_error: req.on_error,
        memory_limit_bytes: req.memory_limit_bytes,
        execution_timeout_ms: req.execution_timeout_ms,
    };
    if let Err(e) = crate::metadata::validate_etl_module(&spec, &wasm) {
        return map_err(&s.controller, e.into()).into_response();
    }
    // Compiling takes a while (Cranelift): off the async workers.
    let (checked_spec, checked_wasm) = (spec.clone(), wasm.clone());
    let checked = tokio::task::spawn_blocking(move || {
        let rt = checker()?;
        DeployedModule::new(rt, checked_spec, &checked_wasm)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    if let Err(why) = checked {
        return refuse(
            &s.controller,
            StatusCode::BAD_REQUEST,
            format!("invalid ETL module: {why}"),
        );
    }
    let name = spec.name.clone();
    let digest = crate::metadata::etl_digest(&wasm);
    match s.controller.deploy_etl_module(spec, wasm).await {
        Ok(version) => {
            etl_changed(&s, format!("module {name} deployed ({digest})"), version);
            ok(
                &s.controller,
                StatusCode::CREATED,
                EtlChangeView {
                    version,
                    digest: Some(digest),
                },
            )
        }
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

#[utoipa::path(get, path = "/api/v1/etl/modules", tag = "etl",
    responses((status = 200, description = "The deployed modules, in the order they run", body = Envelope<EtlListView>)))]
pub(super) async fn list_modules(State(s): State<AdminState>) -> Response {
    let md = s.controller.metadata();
    let mut modules: Vec<EtlModuleView> = md.etl.modules.values().map(Into::into).collect();
    modules.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    ok(
        &s.controller,
        StatusCode::OK,
        EtlListView {
            version: md.etl.version,
            modules,
        },
    )
}

#[utoipa::path(get, path = "/api/v1/etl/modules/{name}", tag = "etl",
    params(("name" = String, Path, description = "The module")),
    responses((status = 200, description = "The module's deployment", body = Envelope<EtlModuleView>),
              (status = 404, description = "No module of this name", body = Envelope<String>)))]
pub(super) async fn describe_module(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> Response {
    match s.controller.metadata().etl.modules.get(&name) {
        Some(m) => ok(&s.controller, StatusCode::OK, EtlModuleView::from(m)),
        None => {
            map_err(&s.controller, MetadataError::UnknownEtlModule(name).into()).into_response()
        }
    }
}

#[utoipa::path(delete, path = "/api/v1/etl/modules/{name}", tag = "etl",
    params(("name" = String, Path, description = "The module")),
    responses((status = 200, description = "Removed; brokers swap their pipeline", body = Envelope<EtlChangeView>),
              (status = 404, description = "No module of this name", body = Envelope<String>)))]
pub(super) async fn remove_module(
    State(s): State<AdminState>,
    Path(name): Path<String>,
) -> Response {
    match s.controller.remove_etl_module(&name).await {
        Ok(version) => {
            etl_changed(&s, format!("module {name} removed"), version);
            ok(
                &s.controller,
                StatusCode::OK,
                EtlChangeView {
                    version,
                    digest: None,
                },
            )
        }
        Err(e) => map_err(&s.controller, e).into_response(),
    }
}

/// The audit record of a module change made through the API.
fn etl_changed(s: &AdminState, what: String, version: u64) {
    super::security::record_change(
        s,
        rustmq_security::audit::AuditRecord {
            reason: Some(format!("{what}; ETL version {version}")),
            ..rustmq_security::audit::AuditRecord::new(
                rustmq_security::audit::AuditEvent::EtlModuleChanged,
            )
        },
    );
}
