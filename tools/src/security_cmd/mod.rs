//! `rustmq-admin acl ...`, `certs ...`, `ca ...`, `audit ...` and `security ...`: ACL
//! rules, the cluster CA's certificates and the audit log through the admin API.
//! Destructive commands ask for confirmation unless `--force` is given.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};

mod acl;
mod audit;
mod certs;

pub use acl::{AclCmd, acl};
pub use audit::{AuditCmd, SecurityCmd, audit, security};
pub use certs::{CaCmd, CertsCmd, ca, certs};

pub(crate) fn confirm(what: &str, force: bool) -> anyhow::Result<()> {
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

pub(crate) fn urlencode(s: &str) -> String {
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
/// Seconds since the epoch as a UTC time.
fn when(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|_| secs.to_string())
}
