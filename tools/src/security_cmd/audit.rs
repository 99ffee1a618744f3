//! `rustmq-admin audit ...` and `security ...`: the audit log, and security at a glance.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use rustmq_controller::api::{AclListView, CleanupRequest, CleanupView};
use rustmq_controller::metadata::CertificateRecord;
use rustmq_security::acl::AclRule;

use super::acl::{AclCmd, acl};
use super::{confirm, query};
use crate::admin_api::Api;
use crate::output::{Out, Tab, Tone};

/// `rustmq-admin audit ...`
#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// The node's newest audit records.
    Logs {
        /// authentication_failure, denied, session_closed, certificate_changed, acl_changed, etl_module_changed.
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
    /// Forget the records of certificates that expired long ago (revoked ones too: an
    /// expired certificate is refused anyway).
    Cleanup {
        /// Certificates (the only records cleaned up today; required so the command says
        /// what it touches).
        #[arg(long, required = true)]
        expired_certs: bool,
        /// Only those expired at least this many days ago.
        #[arg(long, default_value_t = 7)]
        expired_for_days: u32,
        /// Only list what would be forgotten.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
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
            let text = api.get_text("/metrics").await?;
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
                    source: None,
                    force,
                },
                out,
            )
            .await;
            let _ = std::fs::remove_file(&tmp);
            r
        }
        SecurityCmd::Cleanup {
            expired_certs: _,
            expired_for_days,
            dry_run,
            force,
        } => {
            if !dry_run {
                confirm(
                    &format!(
                        "Forget every certificate record expired for {expired_for_days} day(s) or more"
                    ),
                    force,
                )?;
            }
            let v: CleanupView = api
                .call(
                    reqwest::Method::POST,
                    "/api/v1/certificates/cleanup",
                    Some(&CleanupRequest {
                        expired_for_days,
                        dry_run,
                    }),
                )
                .await?;
            let mut t = Tab::new(&["SERIAL", "PRINCIPAL", "EXPIRED", "STATUS"]).titled(format!(
                "{} certificate record(s) {}",
                v.removed.len(),
                if v.dry_run {
                    "would be forgotten (dry run)"
                } else {
                    "forgotten"
                }
            ));
            for r in &v.removed {
                t.row([
                    r.info.serial.clone(),
                    r.info.principal.clone(),
                    jiff::Timestamp::from_second(r.info.not_after)
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    if r.is_revoked() { "revoked" } else { "active" }.to_string(),
                ]);
            }
            out.print(&v, &[t])
        }
    }
}
