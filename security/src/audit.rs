//! The audit log: one JSON line per security event (authentication failures, denials,
//! certificate and ACL changes), in a local file that rotates by size, with the latest
//! records also kept in memory for the API.
//!
//! Denials are never sampled. A record that cannot be written is counted
//! ([`AuditLog::write_failures`]) and kept in memory; the request it describes is not held
//! up by the disk.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::identity::Role;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    /// A peer could not be authenticated (handshake refused, no usable identity, bad token).
    AuthenticationFailure,
    /// A request was refused by the ACLs or by role.
    Denied,
    /// An open session was closed (its certificate was revoked or expired, its token ran
    /// out).
    SessionClosed,
    /// A certificate was issued, renewed, rotated or revoked.
    CertificateChanged,
    /// The ACL rules changed.
    AclChanged,
    /// A WebAssembly ETL module was deployed, replaced or removed.
    EtlModuleChanged,
}

impl AuditEvent {
    /// The snake-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthenticationFailure => "authentication_failure",
            Self::Denied => "denied",
            Self::SessionClosed => "session_closed",
            Self::CertificateChanged => "certificate_changed",
            Self::AclChanged => "acl_changed",
            Self::EtlModuleChanged => "etl_module_changed",
        }
    }
}

/// One audit record. Fields that do not apply to an event are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// When (RFC 3339, UTC).
    pub timestamp: String,
    /// The node that wrote it (`broker-1`, `controller-2`).
    pub node: String,
    /// What happened.
    pub event: Option<AuditEvent>,
    /// Who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// As what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The serial of the certificate the peer presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<String>,
    /// The peer's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
    /// The resource (`topic:orders`, `group:billing`, `cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The operation asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// `allow` or `deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// The index of the rule that decided, in the ACL version below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_rule: Option<usize>,
    /// The ACL version the decision was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl_version: Option<u64>,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request id of the frame (client protocol) or API call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<u64>,
}

impl AuditRecord {
    /// A record of `event` stamped now (the node is filled in by the log).
    pub fn new(event: AuditEvent) -> Self {
        Self {
            timestamp: jiff::Timestamp::now().to_string(),
            event: Some(event),
            ..Default::default()
        }
    }
}

/// Where and how much the log keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// The log file (rotated files get `.1`, `.2`, ... appended). Unset: memory only.
    pub path: Option<PathBuf>,
    /// Size at which the file rotates.
    pub max_file_bytes: u64,
    /// Rotated files kept besides the current one.
    pub max_files: u32,
    /// Records kept in memory for the API.
    pub memory_records: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            path: None,
            max_file_bytes: 64 * 1024 * 1024,
            max_files: 5,
            memory_records: 10_000,
        }
    }
}

struct Writer {
    file: Option<File>,
    written: u64,
}

/// The audit log of one node.
///
/// ```
/// use rustmq_security::audit::{AuditConfig, AuditEvent, AuditLog, AuditRecord};
/// let dir = std::env::temp_dir().join(format!("audit-doc-{}", std::process::id()));
/// let log = AuditLog::open(AuditConfig { path: Some(dir.join("audit.log")), ..Default::default() }, "broker-1").unwrap();
/// log.record(AuditRecord { principal: Some("bob".into()), ..AuditRecord::new(AuditEvent::Denied) });
/// assert_eq!(log.recent(10)[0].node, "broker-1");
/// # std::fs::remove_dir_all(dir).unwrap();
/// ```
pub struct AuditLog {
    config: AuditConfig,
    node: String,
    writer: Mutex<Writer>,
    recent: Mutex<VecDeque<AuditRecord>>,
    records: AtomicU64,
    write_failures: AtomicU64,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.config.path)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

impl AuditLog {
    /// Opens (appending to) the configured file.
    pub fn open(config: AuditConfig, node: impl Into<String>) -> std::io::Result<Self> {
        let (file, written) = match &config.path {
            Some(p) => {
                let f = open_append(p)?;
                let len = f.metadata()?.len();
                (Some(f), len)
            }
            None => (None, 0),
        };
        Ok(Self {
            config,
            node: node.into(),
            writer: Mutex::new(Writer { file, written }),
            recent: Mutex::new(VecDeque::new()),
            records: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
        })
    }

    /// A log that keeps records in memory only.
    pub fn memory(node: impl Into<String>) -> Self {
        Self {
            config: AuditConfig::default(),
            node: node.into(),
            writer: Mutex::new(Writer {
                file: None,
                written: 0,
            }),
            recent: Mutex::new(VecDeque::new()),
            records: AtomicU64::new(0),
            write_failures: AtomicU64::new(0),
        }
    }

    /// Writes `record` (stamped with this node).
    pub fn record(&self, mut record: AuditRecord) {
        record.node.clone_from(&self.node);
        self.records.fetch_add(1, Ordering::Relaxed);
        if let Some(path) = &self.config.path {
            let mut line = match serde_json::to_vec(&record) {
                Ok(l) => l,
                Err(_) => {
                    self.write_failures.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            line.push(b'\n');
            let mut w = self.writer.lock();
            if let Err(e) = self.write_line(&mut w, path, &line) {
                self.write_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, path = %path.display(), "audit record not written");
                // Reopen on the next record: the file may have been removed or the disk
                // may have room again.
                w.file = None;
            }
        }
        let mut recent = self.recent.lock();
        if recent.len() >= self.config.memory_records.max(1) {
            recent.pop_front();
        }
        recent.push_back(record);
    }

    fn write_line(&self, w: &mut Writer, path: &Path, line: &[u8]) -> std::io::Result<()> {
        if w.written > 0 && w.written + line.len() as u64 > self.config.max_file_bytes {
            w.file = None;
            self.rotate(path)?;
            w.written = 0;
        }
        let file = match &mut w.file {
            Some(f) => f,
            None => {
                let f = open_append(path)?;
                w.written = f.metadata()?.len();
                w.file.insert(f)
            }
        };
        file.write_all(line)?;
        w.written += line.len() as u64;
        Ok(())
    }

    /// `audit.log.(n-1)` -> `audit.log.n`, ..., `audit.log` -> `audit.log.1`; the oldest
    /// beyond `max_files` is removed.
    fn rotate(&self, path: &Path) -> std::io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", path.display()));
        let keep = self.config.max_files;
        if keep == 0 {
            return std::fs::remove_file(path);
        }
        let _ = std::fs::remove_file(numbered(keep));
        for n in (1..keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(path, numbered(1))
    }

    /// The newest `limit` records kept in memory, oldest first.
    pub fn recent(&self, limit: usize) -> Vec<AuditRecord> {
        let recent = self.recent.lock();
        recent
            .iter()
            .skip(recent.len().saturating_sub(limit))
            .cloned()
            .collect()
    }

    /// Records written since start.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Records that could not be written to the file.
    pub fn write_failures(&self) -> u64 {
        self.write_failures.load(Ordering::Relaxed)
    }

    /// The configured file.
    pub fn path(&self) -> Option<&Path> {
        self.config.path.as_deref()
    }
}

/// Reads the records of an audit file and its rotated predecessors, oldest first. Lines that
/// do not parse (a torn last line) are skipped.
pub fn read_files(path: &Path, max_files: u32) -> std::io::Result<Vec<AuditRecord>> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = (1..=max_files)
        .rev()
        .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
        .collect();
    files.push(path.to_path_buf());
    for f in files {
        let file = match File::open(&f) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in BufReader::new(file).lines() {
            if let Ok(r) = serde_json::from_str(&line?) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(n: usize) -> AuditRecord {
        AuditRecord {
            principal: Some(format!("p{n}")),
            resource: Some("topic:orders".into()),
            operation: Some("write".into()),
            decision: Some("deny".into()),
            ..AuditRecord::new(AuditEvent::Denied)
        }
    }

    #[test]
    fn records_are_json_lines_that_rotate_by_size_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(
            AuditConfig {
                path: Some(path.clone()),
                max_file_bytes: 1_000,
                max_files: 3,
                memory_records: 5,
            },
            "broker-7",
        )
        .unwrap();
        for n in 0..60 {
            log.record(denial(n));
        }
        assert_eq!(log.records(), 60);
        assert_eq!(log.write_failures(), 0);
        assert!(std::fs::metadata(&path).unwrap().len() <= 1_000);
        assert!(dir.path().join("audit.log.3").exists());
        assert!(!dir.path().join("audit.log.4").exists());
        let back = read_files(&path, 3).unwrap();
        // What is kept is a suffix of what was written, in order.
        assert!(!back.is_empty() && back.len() < 60, "{}", back.len());
        let first = 60 - back.len();
        for (i, r) in back.iter().enumerate() {
            assert_eq!(
                r.principal.as_deref(),
                Some(format!("p{}", first + i).as_str())
            );
            assert_eq!(r.node, "broker-7");
            assert_eq!(r.event, Some(AuditEvent::Denied));
        }
        let recent = log.recent(100);
        assert_eq!(recent.len(), 5);
        assert_eq!(recent[4].principal.as_deref(), Some("p59"));
    }

    #[test]
    fn a_failed_write_is_counted_and_the_record_kept_in_memory() {
        // /dev/full takes the open and refuses every write with ENOSPC: a full disk.
        let log = AuditLog::open(
            AuditConfig {
                path: Some("/dev/full".into()),
                ..Default::default()
            },
            "b",
        )
        .unwrap();
        for n in 0..3 {
            log.record(denial(n));
        }
        assert_eq!(log.write_failures(), 3);
        assert_eq!(log.records(), 3);
        assert_eq!(log.recent(10).len(), 3);
    }
}
