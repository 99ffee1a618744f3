//! `rustmq-admin acl ...`: create, delete, list, test and sync ACL rules.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use rustmq_controller::api::{
    AclCacheView, AclListView, AclRulesRequest, AclTestBatch, AclTestRequest, AclTestResult,
    AclWarmRequest,
};
use rustmq_controller::metadata::AclChangeResult;
use rustmq_security::acl::{AclRule, Conditions, Effect, Operation, ResourceType};

use super::{confirm, parse_list, query, urlencode};
use crate::admin_api::Api;
use crate::output::{Out, Tab, Tone};

/// `rustmq-admin acl ...`
#[derive(Subcommand, Debug)]
pub enum AclCmd {
    /// Add a rule.
    Create {
        /// Who (`*`: every authenticated principal).
        #[arg(long)]
        principal: String,
        /// `topic.orders` (one topic), `topic.events.*` (a prefix), `topic.*`, `group.billing-*`, `cluster`.
        #[arg(long)]
        resource: String,
        /// Comma-separated: read, write, create, delete, alter, describe, consume_group, cluster_admin, all.
        #[arg(long, value_delimiter = ',', required = true)]
        operations: Vec<String>,
        /// allow or deny.
        #[arg(long, default_value = "allow")]
        effect: String,
        /// Only from these client networks (CIDR), repeatable.
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// Only in this weekly window, e.g. "Mon-Fri 09:00-17:00 Europe/Berlin".
        #[arg(long)]
        window: Option<String>,
    },
    /// Remove every rule the filters match (at least one filter).
    Delete {
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        resource: Option<String>,
        #[arg(long)]
        resource_type: Option<String>,
        #[arg(long)]
        operation: Option<String>,
        #[arg(long)]
        effect: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
    },
    /// List rules (optionally one principal's or one resource type's).
    List {
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        resource_type: Option<String>,
        /// Only the rules kept under this source (`acl sync --source`, or
        /// `kubernetes:<namespace>:<name>` for an AclRule resource).
        #[arg(long)]
        source: Option<String>,
    },
    /// Decide one request against the rules in force.
    Test {
        #[arg(long)]
        principal: String,
        /// `topic.orders`, `group.billing`, `cluster`.
        #[arg(long)]
        resource: String,
        #[arg(long)]
        operation: String,
        /// The client address (host conditions apply only when given).
        #[arg(long)]
        host: Option<std::net::IpAddr>,
    },
    /// Decide many requests: a JSON or YAML list of {principal, resource_type, resource,
    /// operation, host}.
    BulkTest {
        /// The file.
        file: PathBuf,
    },
    /// What a principal may do: its rules and the rules for `*`.
    Permissions {
        #[arg(long)]
        principal: String,
    },
    /// Replace rules with those of a JSON or YAML file (a list of rules). Without
    /// `--source`: the rules of every principal in the file, one principal at a time, each in
    /// one step. With it: every rule of that source, in one step, leaving other rules alone
    /// (a file kept in git as the truth for its rules).
    Sync {
        file: PathBuf,
        /// The name the file's rules are kept under (`MANAGED BY` in `acl list`).
        #[arg(long)]
        source: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
    },
    /// The brokers' decision caches.
    #[command(subcommand)]
    Cache(AclCacheCmd),
}

/// `rustmq-admin acl cache ...`
#[derive(Subcommand, Debug)]
pub enum AclCacheCmd {
    /// Have brokers compute these principals' decisions ahead: on every topic, for every
    /// address each connects from, after every rule change (replaces the list).
    Warm {
        /// Comma-separated principals (at most 100).
        #[arg(long, value_delimiter = ',', required_unless_present = "clear")]
        principals: Vec<String>,
        /// Empty the list.
        #[arg(long, conflicts_with = "principals")]
        clear: bool,
    },
    /// The ACL version in force and the principals warmed.
    Status,
}

fn rule_row(t: &mut Tab, i: usize, r: &AclRule) {
    let ops: Vec<&str> = r.operations.iter().map(|o| o.as_str()).collect();
    let effect = match r.effect {
        Effect::Allow => ("allow".to_string(), Tone::Good),
        Effect::Deny => ("deny".to_string(), Tone::Bad),
    };
    let mut cond = Vec::new();
    if !r.conditions.hosts.is_empty() {
        cond.push(format!(
            "hosts {}",
            r.conditions
                .hosts
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if let Some(w) = &r.conditions.window {
        cond.push(format!("window {}", String::from(w.clone())));
    }
    t.toned_row(vec![
        (i.to_string(), Tone::Plain),
        (r.principal.clone(), Tone::Plain),
        (r.resource.to_string(), Tone::Plain),
        (ops.join(","), Tone::Plain),
        effect,
        (
            if cond.is_empty() {
                "-".into()
            } else {
                cond.join("; ")
            },
            Tone::Plain,
        ),
        (r.source.clone().unwrap_or_else(|| "-".into()), Tone::Plain),
    ]);
}

fn rules_tab(rules: &[AclRule], title: String) -> Tab {
    let mut t = Tab::new(&[
        "#",
        "PRINCIPAL",
        "RESOURCE",
        "OPERATIONS",
        "EFFECT",
        "CONDITIONS",
        "MANAGED BY",
    ])
    .titled(title);
    for (i, r) in rules.iter().enumerate() {
        rule_row(&mut t, i, r);
    }
    t
}

fn resource_of(s: &str) -> anyhow::Result<(ResourceType, String)> {
    let (kind, name) = s.split_once('.').unwrap_or((s, ""));
    let t: ResourceType = kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = if t == ResourceType::Cluster {
        "cluster"
    } else {
        name
    };
    if name.is_empty() {
        bail!("resource '{s}': expected topic.NAME, group.NAME or cluster");
    }
    Ok((t, name.to_string()))
}

/// Runs an `acl` command.
pub async fn acl(api: &Api, cmd: AclCmd, out: Out) -> anyhow::Result<()> {
    match cmd {
        AclCmd::Create {
            principal,
            resource,
            operations,
            effect,
            hosts,
            window,
        } => {
            let rule = AclRule {
                principal,
                resource: resource.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
                operations: operations
                    .iter()
                    .map(|o| o.parse::<Operation>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                effect: effect.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
                conditions: Conditions {
                    hosts: hosts
                        .iter()
                        .map(|h| h.parse().with_context(|| format!("--host {h}: not a CIDR")))
                        .collect::<anyhow::Result<_>>()?,
                    window: window
                        .map(|w| w.parse().map_err(|e| anyhow::anyhow!("{e}")))
                        .transpose()?,
                },
                source: None,
            };
            let r: AclChangeResult = api
                .call(
                    reqwest::Method::POST,
                    "/api/v1/acls",
                    Some(&AclRulesRequest { rules: vec![rule] }),
                )
                .await?;
            out.print(&r, &[change_tab(&r)])
        }
        AclCmd::Delete {
            principal,
            resource,
            resource_type,
            operation,
            effect,
            force,
        } => {
            let q = query(&[
                ("principal", &principal),
                ("resource", &resource),
                ("resource_type", &resource_type),
                ("operation", &operation),
                ("effect", &effect),
            ]);
            if q.is_empty() {
                bail!(
                    "give at least one filter (--principal, --resource, --resource-type, --operation, --effect)"
                );
            }
            let matching: AclListView = api.get(&format!("/api/v1/acls{q}")).await?;
            if matching.rules.is_empty() {
                println!("No rule matches.");
                return Ok(());
            }
            if !force {
                out.print(
                    &matching,
                    &[rules_tab(&matching.rules, "Rules to delete".into())],
                )?;
            }
            confirm(&format!("Delete {} rule(s)", matching.rules.len()), force)?;
            let r: AclChangeResult = api
                .call(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/acls{q}"),
                    None::<&()>,
                )
                .await?;
            out.print(&r, &[change_tab(&r)])
        }
        AclCmd::List {
            principal,
            resource_type,
            source,
        } => {
            let q = query(&[
                ("principal", &principal),
                ("resource_type", &resource_type),
                ("source", &source),
            ]);
            let l: AclListView = api.get(&format!("/api/v1/acls{q}")).await?;
            out.print(
                &l,
                &[rules_tab(&l.rules, format!("ACL version {}", l.version))],
            )
        }
        AclCmd::Test {
            principal,
            resource,
            operation,
            host,
        } => {
            let (resource_type, resource) = resource_of(&resource)?;
            let req = AclTestRequest {
                principal,
                resource_type,
                resource,
                operation: operation.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
                host,
            };
            test(api, vec![req], out).await
        }
        AclCmd::BulkTest { file } => {
            let requests: Vec<AclTestRequest> = parse_list(&file)?;
            test(api, requests, out).await
        }
        AclCmd::Permissions { principal } => {
            let mine: AclListView = api
                .get(&format!("/api/v1/acls?principal={}", urlencode(&principal)))
                .await?;
            let everyone: AclListView = api.get("/api/v1/acls?principal=%2A").await?;
            let mut rules = mine.rules;
            rules.extend(everyone.rules);
            out.print(
                &rules,
                &[rules_tab(
                    &rules,
                    format!(
                        "Rules for '{principal}' and '*' (ACL version {})",
                        mine.version
                    ),
                )],
            )
        }
        AclCmd::Sync {
            file,
            source: Some(source),
            force,
        } => {
            let rules: Vec<AclRule> = parse_list(&file)?;
            confirm(
                &format!(
                    "Replace every rule of source '{source}' with the {} rule(s) of {}",
                    rules.len(),
                    file.display()
                ),
                force,
            )?;
            let r: AclChangeResult = api
                .call(
                    reqwest::Method::PUT,
                    &format!("/api/v1/acls/sources/{}", urlencode(&source)),
                    Some(&AclRulesRequest { rules }),
                )
                .await?;
            let mut t = Tab::new(&["SOURCE", "REMOVED", "ADDED", "VERSION"]);
            t.row([
                source.clone(),
                r.removed.to_string(),
                r.added.to_string(),
                r.version.to_string(),
            ]);
            out.print(&serde_json::json!({"source": source, "result": r}), &[t])
        }
        AclCmd::Sync {
            file,
            source: None,
            force,
        } => {
            let rules: Vec<AclRule> = parse_list(&file)?;
            let mut principals: Vec<String> = rules.iter().map(|r| r.principal.clone()).collect();
            principals.sort();
            principals.dedup();
            confirm(
                &format!(
                    "Replace every rule of {} with the {} rule(s) of {}",
                    principals.join(", "),
                    rules.len(),
                    file.display()
                ),
                force,
            )?;
            let mut results = Vec::new();
            for p in principals {
                let mine: Vec<AclRule> =
                    rules.iter().filter(|r| r.principal == p).cloned().collect();
                let r: AclChangeResult = api
                    .call(
                        reqwest::Method::PUT,
                        &format!("/api/v1/acls/principals/{}", urlencode(&p)),
                        Some(&AclRulesRequest { rules: mine }),
                    )
                    .await?;
                results.push((p, r));
            }
            let mut t = Tab::new(&["PRINCIPAL", "REMOVED", "ADDED", "VERSION"]);
            for (p, r) in &results {
                t.row([
                    p.clone(),
                    r.removed.to_string(),
                    r.added.to_string(),
                    r.version.to_string(),
                ]);
            }
            let data: Vec<_> = results
                .iter()
                .map(|(p, r)| serde_json::json!({"principal": p, "result": r}))
                .collect();
            out.print(&data, &[t])
        }
        AclCmd::Cache(AclCacheCmd::Warm { principals, clear }) => {
            let principals: Vec<String> = if clear {
                Vec::new()
            } else {
                principals
                    .into_iter()
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect()
            };
            let v: AclCacheView = api
                .call(
                    reqwest::Method::PUT,
                    "/api/v1/acls/cache/warm",
                    Some(&AclWarmRequest { principals }),
                )
                .await?;
            out.print(&v, &[cache_tab(&v)])
        }
        AclCmd::Cache(AclCacheCmd::Status) => {
            let v: AclCacheView = api.get("/api/v1/acls/cache").await?;
            out.print(&v, &[cache_tab(&v)])
        }
    }
}

fn cache_tab(v: &AclCacheView) -> Tab {
    let mut t = Tab::new(&["ACL VERSION", "WARMED PRINCIPALS"]);
    t.row([
        v.version.to_string(),
        if v.warm_principals.is_empty() {
            "-".into()
        } else {
            v.warm_principals.join(",")
        },
    ]);
    t
}

fn change_tab(r: &AclChangeResult) -> Tab {
    let mut t = Tab::new(&["REMOVED", "ADDED", "ACL VERSION"]);
    t.row([
        r.removed.to_string(),
        r.added.to_string(),
        r.version.to_string(),
    ]);
    t
}

async fn test(api: &Api, requests: Vec<AclTestRequest>, out: Out) -> anyhow::Result<()> {
    let results: Vec<AclTestResult> = api
        .call(
            reqwest::Method::POST,
            "/api/v1/acls/test",
            Some(&AclTestBatch { requests }),
        )
        .await?;
    let mut t = Tab::new(&[
        "PRINCIPAL",
        "RESOURCE",
        "OPERATION",
        "DECISION",
        "RULE",
        "ACL VERSION",
    ]);
    for r in &results {
        let d = if r.decision.allowed {
            ("allow".to_string(), Tone::Good)
        } else {
            ("deny".to_string(), Tone::Bad)
        };
        t.toned_row(vec![
            (r.request.principal.clone(), Tone::Plain),
            (
                format!(
                    "{}:{}",
                    r.request.resource_type.as_str(),
                    r.request.resource
                ),
                Tone::Plain,
            ),
            (r.request.operation.as_str().to_string(), Tone::Plain),
            d,
            (
                r.rule
                    .as_ref()
                    .map(|x| {
                        format!(
                            "{} {} {}",
                            x.principal,
                            x.resource,
                            if x.effect == Effect::Allow {
                                "allow"
                            } else {
                                "deny"
                            }
                        )
                    })
                    .unwrap_or_else(|| "no rule".into()),
                Tone::Plain,
            ),
            (r.decision.acl_version.to_string(), Tone::Plain),
        ]);
    }
    out.print(&results, &[t])
}
