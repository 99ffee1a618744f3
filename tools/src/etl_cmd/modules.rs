//! `rustmq-admin etl deploy|list|describe|remove`: the modules the cluster runs, through
//! `/api/v1/etl/modules`.

use anyhow::{Context, bail};
use base64::Engine;
use rustmq_controller::api::{DeployEtlModuleRequest, EtlChangeView, EtlListView, EtlModuleView};
use rustmq_etl::filter::TopicFilterSpec;
use rustmq_etl::pipeline::OnError;

use crate::admin_api::Api;
use crate::output::{Out, Tab};
use crate::security_cmd::urlencode;

/// A deployment as the command line gives it.
pub struct Deploy {
    pub name: String,
    pub wasm: Vec<u8>,
    pub priority: u8,
    pub filters: Vec<String>,
    pub config: String,
    pub on_error: String,
    pub memory_limit_bytes: Option<usize>,
    pub execution_timeout_ms: Option<u64>,
}

/// `kind:pattern` as a filter.
fn parse_filter(s: &str) -> anyhow::Result<TopicFilterSpec> {
    let (kind, pattern) = s
        .split_once(':')
        .with_context(|| format!("--filter {s}: expected KIND:PATTERN"))?;
    let pattern = pattern.to_string();
    Ok(match kind {
        "exact" => TopicFilterSpec::Exact(pattern),
        "wildcard" => TopicFilterSpec::Wildcard(pattern),
        "regex" => TopicFilterSpec::Regex(pattern),
        "prefix" => TopicFilterSpec::Prefix(pattern),
        "suffix" => TopicFilterSpec::Suffix(pattern),
        other => {
            bail!("--filter {s}: unknown kind {other:?} (exact, wildcard, regex, prefix, suffix)")
        }
    })
}

/// `reject`, `pass`, `drop` or `dead-letter:TOPIC`.
fn parse_on_error(s: &str) -> anyhow::Result<OnError> {
    Ok(match s {
        "reject" => OnError::Reject,
        "pass" => OnError::Pass,
        "drop" => OnError::Drop,
        _ => match s.split_once(':') {
            Some(("dead-letter" | "dead_letter", topic)) if !topic.is_empty() => {
                OnError::DeadLetter(topic.to_string())
            }
            _ => bail!("--on-error {s}: expected reject, pass, drop or dead-letter:TOPIC"),
        },
    })
}

fn filter_text(f: &TopicFilterSpec) -> String {
    match f {
        TopicFilterSpec::Exact(p) => format!("exact:{p}"),
        TopicFilterSpec::Wildcard(p) => format!("wildcard:{p}"),
        TopicFilterSpec::Regex(p) => format!("regex:{p}"),
        TopicFilterSpec::Prefix(p) => format!("prefix:{p}"),
        TopicFilterSpec::Suffix(p) => format!("suffix:{p}"),
    }
}

fn on_error_text(o: &OnError) -> String {
    match o {
        OnError::Reject => "reject".into(),
        OnError::Pass => "pass".into(),
        OnError::Drop => "drop".into(),
        OnError::DeadLetter(t) => format!("dead-letter:{t}"),
    }
}

/// Deploys a module.
pub async fn deploy(api: &Api, d: Deploy, out: Out) -> anyhow::Result<()> {
    let topic_filters = d
        .filters
        .iter()
        .map(|f| parse_filter(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let req = DeployEtlModuleRequest {
        name: d.name.clone(),
        priority: d.priority,
        topic_filters,
        config: d.config,
        on_error: parse_on_error(&d.on_error)?,
        memory_limit_bytes: d.memory_limit_bytes,
        execution_timeout_ms: d.execution_timeout_ms,
        wasm_base64: base64::engine::general_purpose::STANDARD.encode(&d.wasm),
    };
    let done: EtlChangeView = api
        .call(reqwest::Method::POST, "/api/v1/etl/modules", Some(&req))
        .await?;
    let mut t = Tab::new(&["MODULE", "SHA256", "ETL VERSION"]).titled(format!(
        "Deployed {} ({} bytes); brokers swap their pipeline once they compiled it",
        d.name,
        d.wasm.len()
    ));
    t.row([
        d.name,
        done.digest.clone().unwrap_or_default(),
        done.version.to_string(),
    ]);
    out.print(&done, &[t])
}

/// Lists the deployed modules.
pub async fn list(api: &Api, out: Out) -> anyhow::Result<()> {
    let l: EtlListView = api.get("/api/v1/etl/modules").await?;
    let mut t = Tab::new(&[
        "NAME", "PRIORITY", "FILTERS", "ON ERROR", "SIZE", "SHA256", "DEPLOYED",
    ])
    .titled(format!(
        "ETL version {}: {} module(s), in the order they run",
        l.version,
        l.modules.len()
    ));
    for m in &l.modules {
        t.row([
            m.name.clone(),
            m.priority.to_string(),
            m.topic_filters
                .iter()
                .map(filter_text)
                .collect::<Vec<_>>()
                .join(" "),
            on_error_text(&m.on_error),
            m.size_bytes.to_string(),
            m.digest.chars().take(12).collect(),
            m.deployed_at.clone(),
        ]);
    }
    out.print(&l, &[t])
}

/// Shows one module's deployment.
pub async fn describe(api: &Api, name: &str, out: Out) -> anyhow::Result<()> {
    let m: EtlModuleView = api
        .get(&format!("/api/v1/etl/modules/{}", urlencode(name)))
        .await?;
    let limit = |v: Option<String>| v.unwrap_or_else(|| "the brokers' limit".into());
    let mut t = Tab::new(&["WHAT", "VALUE"]).titled(format!("ETL module {}", m.name));
    for (k, v) in [
        ("priority", m.priority.to_string()),
        (
            "topic filters",
            m.topic_filters
                .iter()
                .map(filter_text)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("on error", on_error_text(&m.on_error)),
        ("config", m.config.clone()),
        (
            "memory limit bytes",
            limit(m.memory_limit_bytes.map(|b| b.to_string())),
        ),
        (
            "execution timeout ms",
            limit(m.execution_timeout_ms.map(|b| b.to_string())),
        ),
        ("size bytes", m.size_bytes.to_string()),
        ("sha256", m.digest.clone()),
        ("deployed in ETL version", m.version.to_string()),
        ("deployed at", m.deployed_at.clone()),
    ] {
        t.row([k.to_string(), v]);
    }
    out.print(&m, &[t])
}

/// Removes a module.
pub async fn remove(api: &Api, name: &str, force: bool, out: Out) -> anyhow::Result<()> {
    crate::security_cmd::confirm(
        &format!("Remove ETL module {name} from every broker's produce path"),
        force,
    )?;
    let done: EtlChangeView = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/etl/modules/{}", urlencode(name)),
            None::<&()>,
        )
        .await?;
    let mut t = Tab::new(&["MODULE", "ETL VERSION"]).titled(format!("Removed {name}"));
    t.row([name.to_string(), done.version.to_string()]);
    out.print(&done, &[t])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_policies_parse_from_the_command_line() {
        assert_eq!(
            parse_filter(r"regex:^sensor-\d+\.").unwrap(),
            TopicFilterSpec::Regex(r"^sensor-\d+\.".into())
        );
        assert_eq!(
            parse_filter("wildcard:logs.*.error").unwrap(),
            TopicFilterSpec::Wildcard("logs.*.error".into())
        );
        assert!(parse_filter("glob:x").is_err());
        assert!(parse_filter("orders").is_err());
        assert_eq!(
            parse_on_error("dead-letter:etl.dlq").unwrap(),
            OnError::DeadLetter("etl.dlq".into())
        );
        assert_eq!(parse_on_error("drop").unwrap(), OnError::Drop);
        assert!(parse_on_error("dead-letter:").is_err());
        assert!(parse_on_error("retry").is_err());
        for f in ["exact:a", "prefix:b.", "suffix:.c"] {
            assert_eq!(filter_text(&parse_filter(f).unwrap()), f);
        }
    }
}
