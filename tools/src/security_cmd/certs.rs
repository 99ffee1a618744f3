//! `rustmq-admin certs ...` and `ca ...`: certificates of the cluster CA.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use rustmq_controller::api::{
    CaView, IssueCertificateRequest, IssuedCertificateView, RevokeRequest, RotateRequest,
    ValidateRequest, ValidationView,
};
use rustmq_controller::metadata::{CertificateRecord, CertificateStatus};
use rustmq_security::ca::RevocationReason;
use rustmq_security::identity::Role;

use super::{confirm, query, when};
use crate::admin_api::Api;
use crate::output::{Out, Tab, Tone};

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
    /// Create a root CA offline: `ca.pem` and `ca.key` (mode 0600) in a directory, for a
    /// controller's `[tls] ca_cert`/`ca_key` or `certs issue --ca-dir`.
    Init {
        /// Its common name.
        #[arg(long, default_value = "RustMQ Root CA")]
        cn: String,
        #[arg(long, default_value_t = 10)]
        validity_years: u32,
        #[arg(long, default_value = "rustmq-ca")]
        out_dir: PathBuf,
        /// Overwrite a CA already in the directory.
        #[arg(long)]
        force: bool,
    },
    /// Create an intermediate CA offline, signed by the CA in `--ca-dir`: its `ca.pem` is the
    /// chain up to the root, `root.pem` the root to trust.
    Intermediate {
        /// The parent CA's directory (`ca.pem`, `ca.key`).
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long, default_value = "RustMQ Intermediate CA")]
        cn: String,
        #[arg(long, default_value_t = 5)]
        validity_years: u32,
        #[arg(long)]
        out_dir: PathBuf,
        /// Overwrite a CA already in the directory.
        #[arg(long)]
        force: bool,
    },
    /// The cluster's issuing CA chain, issuing CA first, root last.
    List,
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

fn years(n: u32) -> anyhow::Result<std::time::Duration> {
    if n == 0 {
        anyhow::bail!("--validity-years must be at least 1");
    }
    Ok(std::time::Duration::from_secs(u64::from(n) * 365 * 86_400))
}

/// Writes `content` to `path` readable by its owner only.
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

/// Writes a CA's `ca.pem` (its chain), `root.pem` and `ca.key`.
fn write_ca(
    dir: &Path,
    ca: &rustmq_security::ca::CertificateAuthority,
    force: bool,
) -> anyhow::Result<()> {
    let key = dir.join("ca.key");
    if key.exists() && !force {
        anyhow::bail!(
            "{} already holds a CA key; pass --force to replace it",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The CA's certificate, then the ones above it up to the root (what `load` reads).
    let chain = if ca.certificate_pem() == ca.root_pem() {
        ca.root_pem().to_string()
    } else {
        format!("{}{}", ca.chain_pem(), ca.root_pem())
    };
    std::fs::write(dir.join("ca.pem"), chain)?;
    std::fs::write(dir.join("root.pem"), ca.root_pem())?;
    write_private(&key, &ca.key_pem())
}

fn ca_out(
    ca: &rustmq_security::ca::CertificateAuthority,
    dir: &Path,
    out: Out,
) -> anyhow::Result<()> {
    let i = ca.info();
    let mut t = Tab::new(&["SUBJECT", "SERIAL", "NOT AFTER"]).titled(format!(
        "Written: {}/ca.pem, root.pem and ca.key (mode 0600)",
        dir.display()
    ));
    t.row([i.subject.clone(), i.serial.clone(), when(i.not_after)]);
    out.print(i, &[t])
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
    write_private(&key, &v.private_key_pem)?;
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
                        validity_seconds: None,
                        dns_names,
                        ip_addresses,
                        replaces: None,
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
        CaCmd::Init {
            cn,
            validity_years,
            out_dir,
            force,
        } => {
            let ca =
                rustmq_security::ca::CertificateAuthority::new_root(&cn, years(validity_years)?)?;
            write_ca(&out_dir, &ca, force)?;
            ca_out(&ca, &out_dir, out)
        }
        CaCmd::Intermediate {
            ca_dir,
            cn,
            validity_years,
            out_dir,
            force,
        } => {
            let parent = rustmq_security::ca::CertificateAuthority::load(
                &ca_dir.join("ca.pem"),
                &ca_dir.join("ca.key"),
            )?;
            let ca = parent.new_intermediate(&cn, years(validity_years)?)?;
            write_ca(&out_dir, &ca, force)?;
            ca_out(&ca, &out_dir, out)
        }
        CaCmd::List => {
            let v: CaView = api.get("/api/v1/ca").await?;
            let chain = rustmq_security::ca::parse_pem_chain(&v.chain_pem)?;
            let infos = chain
                .iter()
                .map(|der| rustmq_security::ca::inspect_der(der))
                .collect::<Result<Vec<_>, _>>()?;
            let mut t = Tab::new(&["SUBJECT", "ISSUER", "SERIAL", "NOT AFTER", "KIND"]);
            for i in &infos {
                t.row([
                    i.subject.clone(),
                    i.issuer.clone(),
                    i.serial.clone(),
                    when(i.not_after),
                    if i.subject == i.issuer {
                        "root"
                    } else {
                        "intermediate"
                    }
                    .to_string(),
                ]);
            }
            out.print(&infos, &[t])
        }
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
            let text = api.get_text("/api/v1/crl").await?;
            print!("{text}");
            Ok(())
        }
    }
}
