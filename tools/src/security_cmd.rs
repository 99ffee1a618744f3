//! `rustmq-admin acl ...`, `certs ...` and `ca ...`: ACL rules and the cluster CA's
//! certificates through the admin API. Destructive commands ask for confirmation unless
//! `--force` is given.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use rustmq_controller::api::{
    AclListView, AclRulesRequest, AclTestBatch, AclTestRequest, AclTestResult, CaView,
    IssueCertificateRequest, IssuedCertificateView, RevokeRequest, RotateRequest, ValidateRequest,
    ValidationView,
};
use rustmq_controller::metadata::{AclChangeResult, CertificateRecord, CertificateStatus};
use rustmq_security::acl::{AclRule, Conditions, Effect, Operation, ResourceType};
use rustmq_security::ca::RevocationReason;
use rustmq_security::identity::Role;

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
    /// Replace the rules of every principal in a JSON or YAML file (a list of rules), one
    /// principal at a time, each in one step.
    Sync {
        file: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
    },
}

/// `rustmq-admin certs ...`
#[derive(Subcommand, Debug)]
pub enum CertsCmd {
    /// Issue a certificate; writes <principal>.pem, <principal>.key (mode 0600) and ca.pem.
    Issue {
        #[arg(long)]
        principal: String,
        /// broker, controller, client or admin.
        #[arg(long, default_value = "client")]
        role: String,
        #[arg(long, default_value_t = 90)]
        validity_days: u32,
        /// Host names (brokers, controllers), repeatable.
        #[arg(long = "dns")]
        dns_names: Vec<String>,
        /// Addresses, repeatable.
        #[arg(long = "ip")]
        ip_addresses: Vec<std::net::IpAddr>,
        /// Where to write the files.
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// Issue here with the CA in this directory (`ca.pem`, `ca.key`, e.g. the dev
        /// node's `rustmq-data/tls`) instead of through the admin API: for the first admin
        /// certificate of a secured cluster. Not recorded in the cluster (so not listed or
        /// revocable by serial): keep its validity short.
        #[arg(long)]
        ca_dir: Option<PathBuf>,
    },
    /// Recorded certificates, soonest to expire first.
    List {
        #[arg(long)]
        principal: Option<String>,
        /// active or revoked.
        #[arg(long)]
        status: Option<String>,
    },
    /// One certificate's record.
    Status { serial: String },
    /// Certificates that expire within the given days (default 30).
    Expiring {
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Revoke: brokers refuse it and close the sessions that use it.
    Revoke {
        serial: String,
        /// unspecified, key_compromise, ca_compromise, affiliation_changed, superseded,
        /// cessation_of_operation.
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        force: bool,
    },
    /// A new certificate with a new key pair for the same principal and role.
    Rotate {
        serial: String,
        #[arg(long)]
        validity_days: Option<u32>,
        /// Revoke the old one (superseded) once the new one is recorded.
        #[arg(long)]
        revoke_old: bool,
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Renew before expiry: a new certificate (and key pair) for the same identity; the old
    /// one stays valid until it expires.
    Renew {
        serial: String,
        #[arg(long)]
        validity_days: Option<u32>,
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Check a PEM certificate against the cluster CA and its revocations.
    Validate { file: PathBuf },
}

/// `rustmq-admin ca ...`
#[derive(Subcommand, Debug)]
pub enum CaCmd {
    /// The issuing CA and the root to trust.
    Info,
    /// Write the root to trust to a file.
    Export {
        #[arg(long, default_value = "ca.pem")]
        out: PathBuf,
    },
    /// Print the CA's current revocation list (PEM), for outside verifiers.
    Crl,
}

/// Asks "type yes" on a terminal; refuses without one unless `force`.
fn confirm(what: &str, force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{what}: not confirmed (no terminal); pass --force");
    }
    print!("{what}. Type yes to go on: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        bail!("not confirmed");
    }
    Ok(())
}

fn parse_list<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // JSON is YAML; one parser takes both.
    serde_norway::from_str(&text)
        .with_context(|| format!("{}: not the expected list", path.display()))
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
    ])
    .titled(title);
    for (i, r) in rules.iter().enumerate() {
        rule_row(&mut t, i, r);
    }
    t
}

fn query(pairs: &[(&str, &Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", urlencode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The resource of a test request: `topic.orders` -> (topic, orders); `cluster`.
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
        } => {
            let q = query(&[("principal", &principal), ("resource_type", &resource_type)]);
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
        AclCmd::Sync { file, force } => {
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
    }
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

fn status_cell(s: &CertificateStatus) -> (String, Tone) {
    match s {
        CertificateStatus::Active => ("active".into(), Tone::Good),
        CertificateStatus::Revoked { reason, .. } => (
            format!(
                "revoked ({})",
                serde_json::to_value(reason)
                    .map(|v| crate::output::text(&v))
                    .unwrap_or_default()
            ),
            Tone::Bad,
        ),
    }
}

fn when(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|_| secs.to_string())
}

fn certs_tab(records: &[CertificateRecord]) -> Tab {
    let mut t = Tab::new(&["SERIAL", "PRINCIPAL", "ROLE", "NOT AFTER", "STATUS"]);
    for r in records {
        t.toned_row(vec![
            (r.info.serial.clone(), Tone::Plain),
            (r.info.principal.clone(), Tone::Plain),
            (
                r.info
                    .role
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "ca".into()),
                Tone::Plain,
            ),
            (when(r.info.not_after), Tone::Plain),
            status_cell(&r.status),
        ]);
    }
    t
}

/// Writes an issued certificate's files; the key only readable by its owner.
fn write_issued(dir: &Path, v: &IssuedCertificateView) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name: String = v
        .certificate
        .info
        .principal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &v.chain_pem)
        .with_context(|| format!("cannot write {}", cert.display()))?;
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o
            .open(&key)
            .with_context(|| format!("cannot write {}", key.display()))?;
        f.write_all(v.private_key_pem.as_bytes())?;
    }
    std::fs::write(dir.join("ca.pem"), &v.ca_pem)?;
    Ok((cert, key))
}

fn issued_out(v: &IssuedCertificateView, cert: &Path, key: &Path, out: Out) -> anyhow::Result<()> {
    // The key is in the file, not on the screen.
    let shown = serde_json::json!({
        "certificate": v.certificate,
        "certificate_file": cert,
        "private_key_file": key,
    });
    let mut t = certs_tab(std::slice::from_ref(&v.certificate));
    t.title = Some(format!(
        "Written: {} and {} (the key is not kept by the cluster)",
        cert.display(),
        key.display()
    ));
    out.print(&shown, &[t])
}

/// Runs a `certs` command.
pub async fn certs(api: &Api, cmd: CertsCmd, out: Out) -> anyhow::Result<()> {
    match cmd {
        CertsCmd::Issue {
            principal,
            role,
            validity_days,
            dns_names,
            ip_addresses,
            out_dir,
            ca_dir: Some(ca_dir),
        } => {
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let ca = rustmq_security::ca::CertificateAuthority::load(
                &ca_dir.join("ca.pem"),
                &ca_dir.join("ca.key"),
            )?;
            let issued = ca.issue(&rustmq_security::ca::IssueRequest {
                dns_names,
                ip_addresses,
                ..rustmq_security::ca::IssueRequest::new(
                    principal,
                    role,
                    std::time::Duration::from_secs(u64::from(validity_days.max(1)) * 86_400),
                )
            })?;
            let v = IssuedCertificateView {
                certificate: CertificateRecord {
                    info: issued.info,
                    status: CertificateStatus::Active,
                    replaces: None,
                },
                certificate_pem: issued.cert_pem,
                chain_pem: issued.chain_pem,
                private_key_pem: issued.key_pem,
                ca_pem: ca.root_pem().to_string(),
            };
            let (c, k) = write_issued(&out_dir, &v)?;
            eprintln!(
                "Issued offline with {}: not recorded in the cluster.",
                ca_dir.display()
            );
            issued_out(&v, &c, &k, out)
        }
        CertsCmd::Issue {
            principal,
            role,
            validity_days,
            dns_names,
            ip_addresses,
            out_dir,
            ca_dir: None,
        } => {
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let v: IssuedCertificateView = api
                .call(
                    reqwest::Method::POST,
                    "/api/v1/certificates",
                    Some(&IssueCertificateRequest {
                        principal,
                        role,
                        validity_days,
                        dns_names,
                        ip_addresses,
                    }),
                )
                .await?;
            let (c, k) = write_issued(&out_dir, &v)?;
            issued_out(&v, &c, &k, out)
        }
        CertsCmd::List { principal, status } => {
            let q = query(&[("principal", &principal), ("status", &status)]);
            let l: Vec<CertificateRecord> = api.get(&format!("/api/v1/certificates{q}")).await?;
            out.print(&l, &[certs_tab(&l)])
        }
        CertsCmd::Status { serial } => {
            let r: CertificateRecord = api.get(&format!("/api/v1/certificates/{serial}")).await?;
            out.print(&r, &[certs_tab(std::slice::from_ref(&r))])
        }
        CertsCmd::Expiring { days } => {
            let l: Vec<CertificateRecord> = api
                .get(&format!("/api/v1/certificates?expiring_within_days={days}"))
                .await?;
            out.print(&l, &[certs_tab(&l)])
        }
        CertsCmd::Revoke {
            serial,
            reason,
            force,
        } => {
            let reason: RevocationReason =
                reason.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            confirm(
                &format!("Revoke certificate {serial}: its sessions are closed at once"),
                force,
            )?;
            let r: CertificateRecord = api
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/certificates/{serial}/revoke"),
                    Some(&RevokeRequest { reason }),
                )
                .await?;
            out.print(&r, &[certs_tab(std::slice::from_ref(&r))])
        }
        CertsCmd::Rotate {
            serial,
            validity_days,
            revoke_old,
            out_dir,
        } => rotate(api, &serial, validity_days, revoke_old, &out_dir, out).await,
        CertsCmd::Renew {
            serial,
            validity_days,
            out_dir,
        } => rotate(api, &serial, validity_days, false, &out_dir, out).await,
        CertsCmd::Validate { file } => {
            let pem = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let v: ValidationView = api
                .call(
                    reqwest::Method::POST,
                    "/api/v1/certificates/validate",
                    Some(&ValidateRequest { pem }),
                )
                .await?;
            let mut t = Tab::new(&["VALID", "SERIAL", "PRINCIPAL", "NOT AFTER", "REASON"]);
            t.toned_row(vec![
                if v.valid {
                    ("yes".into(), Tone::Good)
                } else {
                    ("no".into(), Tone::Bad)
                },
                (
                    v.certificate
                        .as_ref()
                        .map(|c| c.serial.clone())
                        .unwrap_or_else(|| "-".into()),
                    Tone::Plain,
                ),
                (
                    v.certificate
                        .as_ref()
                        .map(|c| c.principal.clone())
                        .unwrap_or_else(|| "-".into()),
                    Tone::Plain,
                ),
                (
                    v.certificate
                        .as_ref()
                        .map(|c| when(c.not_after))
                        .unwrap_or_else(|| "-".into()),
                    Tone::Plain,
                ),
                (v.reason.clone().unwrap_or_else(|| "-".into()), Tone::Plain),
            ]);
            out.print(&v, &[t])?;
            if !v.valid {
                bail!(
                    "the certificate is not valid: {}",
                    v.reason.unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

async fn rotate(
    api: &Api,
    serial: &str,
    validity_days: Option<u32>,
    revoke_old: bool,
    out_dir: &Path,
    out: Out,
) -> anyhow::Result<()> {
    let v: IssuedCertificateView = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/certificates/{serial}/rotate"),
            Some(&RotateRequest {
                validity_days,
                revoke_old,
                ..Default::default()
            }),
        )
        .await?;
    let (c, k) = write_issued(out_dir, &v)?;
    issued_out(&v, &c, &k, out)
}

/// Runs a `ca` command.
pub async fn ca(api: &Api, cmd: CaCmd, out: Out) -> anyhow::Result<()> {
    match cmd {
        CaCmd::Info => {
            let v: CaView = api.get("/api/v1/ca").await?;
            let mut t = Tab::new(&["SUBJECT", "SERIAL", "NOT AFTER"]);
            t.row([
                v.issuer.subject.clone(),
                v.issuer.serial.clone(),
                when(v.issuer.not_after),
            ]);
            out.print(&v, &[t])
        }
        CaCmd::Export { out: path } => {
            let v: CaView = api.get("/api/v1/ca").await?;
            std::fs::write(&path, &v.root_pem)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("Wrote the root CA to {}", path.display());
            Ok(())
        }
        CaCmd::Crl => {
            let url = format!("{}/api/v1/crl", api.base);
            let resp = api
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
            print!("{text}");
            Ok(())
        }
    }
}

/// `rustmq-admin audit ...`
#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// The node's newest audit records.
    Logs {
        /// authentication_failure, denied, session_closed, certificate_changed, acl_changed.
        #[arg(long)]
        event: Option<String>,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Print records as they come (`--follow`), or the newest ones.
    Events {
        #[arg(long)]
        follow: bool,
        #[arg(long)]
        event: Option<String>,
    },
    /// Certificate changes.
    Certificates {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// ACL changes.
    Acl {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// `rustmq-admin security ...`
#[derive(Subcommand, Debug)]
pub enum SecurityCmd {
    /// ACLs, certificates, this node's listener and audit counters.
    Status,
    /// Exit 1 when something needs attention: audit writes failing, certificates expiring
    /// within 30 days.
    Health,
    /// The node's security metrics.
    Metrics,
    /// Write the ACL rules and the certificate records to a JSON file.
    Backup {
        #[arg(long, default_value = "rustmq-security-backup.json")]
        out: PathBuf,
    },
    /// Put back the ACL rules of a backup (each principal's rules replaced in one step).
    Restore {
        file: PathBuf,
        #[arg(long)]
        force: bool,
    },
}

fn audit_tab(records: &[rustmq_security::audit::AuditRecord]) -> Tab {
    let mut t = Tab::new(&[
        "TIME",
        "NODE",
        "EVENT",
        "PRINCIPAL",
        "RESOURCE",
        "OPERATION",
        "SERIAL",
        "REASON",
    ]);
    let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    for r in records {
        let event = r.event.map(|e| e.as_str()).unwrap_or("-").to_string();
        let tone = match r.event {
            Some(
                rustmq_security::audit::AuditEvent::Denied
                | rustmq_security::audit::AuditEvent::AuthenticationFailure,
            ) => Tone::Bad,
            _ => Tone::Plain,
        };
        t.toned_row(vec![
            (r.timestamp.clone(), Tone::Plain),
            (r.node.clone(), Tone::Plain),
            (event, tone),
            (o(&r.principal), Tone::Plain),
            (o(&r.resource), Tone::Plain),
            (o(&r.operation), Tone::Plain),
            (o(&r.certificate_serial), Tone::Plain),
            (o(&r.reason), Tone::Plain),
        ]);
    }
    t
}

async fn audit_records(
    api: &Api,
    event: Option<&str>,
    principal: Option<&str>,
    limit: usize,
) -> anyhow::Result<Vec<rustmq_security::audit::AuditRecord>> {
    let q = query(&[
        ("event", &event.map(str::to_string)),
        ("principal", &principal.map(str::to_string)),
        ("limit", &Some(limit.to_string())),
    ]);
    api.get(&format!("/api/v1/audit{q}")).await
}

/// Runs an `audit` command.
pub async fn audit(api: &Api, cmd: AuditCmd, out: Out) -> anyhow::Result<()> {
    let (event, principal, limit) = match &cmd {
        AuditCmd::Logs {
            event,
            principal,
            limit,
        } => (event.clone(), principal.clone(), *limit),
        AuditCmd::Events { event, .. } => (event.clone(), None, 100),
        AuditCmd::Certificates { limit } => (Some("certificate_changed".into()), None, *limit),
        AuditCmd::Acl { limit } => (Some("acl_changed".into()), None, *limit),
    };
    let records = audit_records(api, event.as_deref(), principal.as_deref(), limit).await?;
    out.print(&records, &[audit_tab(&records)])?;
    if let AuditCmd::Events { follow: true, .. } = cmd {
        // Poll and print what is newer than the last record shown, one line (JSON) each.
        let mut last = records.last().map(|r| r.timestamp.clone());
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let now = audit_records(api, event.as_deref(), None, 10_000).await?;
            for r in now
                .iter()
                .filter(|r| last.as_ref().is_none_or(|l| r.timestamp > *l))
            {
                println!("{}", serde_json::to_string(r)?);
            }
            if let Some(r) = now.last() {
                last = Some(r.timestamp.clone());
            }
        }
    }
    Ok(())
}

/// A cluster's ACL rules and certificate records, as `security backup` writes them.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SecurityBackup {
    /// ACL version at the time of the backup.
    pub acl_version: u64,
    /// The rules.
    pub acls: Vec<AclRule>,
    /// The certificate records (no keys: the cluster has none).
    pub certificates: Vec<CertificateRecord>,
}

/// Runs a `security` command.
pub async fn security(api: &Api, cmd: SecurityCmd, out: Out) -> anyhow::Result<()> {
    use rustmq_controller::api::SecurityStatusView;
    match cmd {
        SecurityCmd::Status | SecurityCmd::Health => {
            let v: SecurityStatusView = api.get("/api/v1/security").await?;
            let mut t = Tab::new(&["WHAT", "VALUE"]);
            let mut row = |k: &str, v: String| t.row([k.to_string(), v]);
            row("acl version", v.acl_version.to_string());
            row("acl rules", v.acl_rules.to_string());
            row("certificates", v.certificates.to_string());
            row("revoked", v.certificates_revoked.to_string());
            row(
                "expiring within 30 days",
                v.certificates_expiring_30d.to_string(),
            );
            row(
                "issuing CA",
                v.issuing_ca.clone().unwrap_or_else(|| "-".into()),
            );
            if let Some(l) = &v.listener {
                row(
                    "client listener security",
                    if l.enabled { "on" } else { "off" }.into(),
                );
                row(
                    "bearer tokens",
                    if l.tokens { "accepted" } else { "no" }.into(),
                );
                row("acl version in force", l.acl_version.to_string());
                row("denials", l.denials.to_string());
                row(
                    "authentication failures",
                    l.authentication_failures.to_string(),
                );
                row("certificate reloads", l.certificate_reloads.to_string());
            }
            row("audit records", v.audit_records.to_string());
            row("audit write failures", v.audit_write_failures.to_string());
            out.print(&v, &[t])?;
            if matches!(cmd, SecurityCmd::Health) {
                let mut problems = Vec::new();
                if v.audit_write_failures > 0 {
                    problems.push(format!(
                        "{} audit records not written",
                        v.audit_write_failures
                    ));
                }
                if v.certificates_expiring_30d > 0 {
                    problems.push(format!(
                        "{} certificate(s) expire within 30 days (rustmq-admin certs expiring)",
                        v.certificates_expiring_30d
                    ));
                }
                if !problems.is_empty() {
                    bail!("needs attention: {}", problems.join("; "));
                }
                println!("Security healthy.");
            }
            Ok(())
        }
        SecurityCmd::Metrics => {
            let url = format!("{}/metrics", api.base);
            let text = api
                .http
                .get(&url)
                .send()
                .await
                .with_context(|| format!("cannot reach {url}"))?
                .text()
                .await?;
            const NAMES: [&str; 7] = [
                "rustmq_security_enabled",
                "rustmq_acl_version",
                "rustmq_authorization_denials",
                "rustmq_authentication_failures",
                "rustmq_certificate_reloads",
                "rustmq_audit_records",
                "rustmq_audit_write_failures",
            ];
            for line in text.lines() {
                if NAMES.iter().any(|n| line.starts_with(n)) {
                    println!("{line}");
                }
            }
            Ok(())
        }
        SecurityCmd::Backup { out: path } => {
            let acls: AclListView = api.get("/api/v1/acls").await?;
            let certificates: Vec<CertificateRecord> = api.get("/api/v1/certificates").await?;
            let b = SecurityBackup {
                acl_version: acls.version,
                acls: acls.rules,
                certificates,
            };
            std::fs::write(&path, serde_json::to_string_pretty(&b)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "Wrote {} rule(s) and {} certificate record(s) to {}",
                b.acls.len(),
                b.certificates.len(),
                path.display()
            );
            Ok(())
        }
        SecurityCmd::Restore { file, force } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let b: SecurityBackup = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a security backup", file.display()))?;
            let tmp =
                std::env::temp_dir().join(format!("rustmq-restore-{}.json", std::process::id()));
            std::fs::write(&tmp, serde_json::to_string(&b.acls)?)?;
            let r = acl(
                api,
                AclCmd::Sync {
                    file: tmp.clone(),
                    force,
                },
                out,
            )
            .await;
            let _ = std::fs::remove_file(&tmp);
            r
        }
    }
}
