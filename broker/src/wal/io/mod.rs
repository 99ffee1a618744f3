//! How the WAL writer puts a group's bytes into the active segment and makes them durable:
//! through the page cache with `pwrite` and `fdatasync` (`std`), or with `O_DIRECT` writes
//! from an aligned, reused buffer submitted to io_uring together with a linked `fdatasync`
//! (`uring`, Linux only). The file format, group commit and recovery are the same for both.
//!
//! Owns: opening the active segment for writing, the direct-I/O buffer, the ring, choosing a
//! backend (`wal.io_backend`). Never: decides what to write or when (the writer does).

#[cfg(target_os = "linux")]
mod uring;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// `wal.io_backend`: how segments are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoBackend {
    /// `pwrite` into the page cache, then `fdatasync`.
    Std,
    /// `O_DIRECT` writes through io_uring with a linked `fdatasync` (Linux): no copy into
    /// the page cache and one system call per group commit. Refused at start where the
    /// kernel or the file system cannot do it.
    Uring,
    /// The default: `uring` where a direct write through io_uring works in the WAL's
    /// directory (tried at start), else `std` (see [`resolve`]).
    #[default]
    Auto,
}

/// Why a group's bytes are not durable: the write failed, or its `fdatasync` did (the
/// writer counts them apart: after a failed `fdatasync` the file is never trusted again).
#[derive(Debug)]
pub(super) enum WriteFailure {
    Write(std::io::Error),
    Sync(std::io::Error),
}

impl From<WriteFailure> for std::io::Error {
    fn from(f: WriteFailure) -> Self {
        match f {
            WriteFailure::Write(e) | WriteFailure::Sync(e) => e,
        }
    }
}

/// The active segment, open for appending.
pub(super) enum SegmentFile {
    Buffered(File),
    #[cfg(target_os = "linux")]
    Direct(Box<uring::DirectWriter>),
}

impl SegmentFile {
    /// Opens segment `path` (already created as `file`, its `header` written) for
    /// `backend` (resolved: `Std` or `Uring`).
    pub fn open(
        backend: IoBackend,
        file: File,
        path: &Path,
        header: &[u8],
    ) -> std::io::Result<Self> {
        match backend {
            #[cfg(target_os = "linux")]
            IoBackend::Uring => {
                uring::DirectWriter::open(path, header).map(|d| SegmentFile::Direct(Box::new(d)))
            }
            _ => {
                let _ = (path, header);
                Ok(SegmentFile::Buffered(file))
            }
        }
    }

    /// The next segment: `file` (created, its `header` written) at `path`. The direct
    /// writer keeps its ring and buffer.
    pub fn switch(&mut self, file: File, path: &Path, header: &[u8]) -> std::io::Result<()> {
        match self {
            SegmentFile::Buffered(f) => *f = file,
            #[cfg(target_os = "linux")]
            SegmentFile::Direct(d) => d.switch(path, header)?,
        }
        let _ = (path, header);
        Ok(())
    }

    /// Whether [`Self::append`] with `sync` submits the write and its fdatasync together.
    pub fn links_sync(&self) -> bool {
        !matches!(self, SegmentFile::Buffered(_))
    }

    /// Writes `bytes` at `offset` (the end of what was written), then, with `sync`, makes
    /// the file's data durable.
    pub fn append(&mut self, bytes: &[u8], offset: u64, sync: bool) -> Result<(), WriteFailure> {
        match self {
            SegmentFile::Buffered(f) => {
                f.write_all_at(bytes, offset).map_err(WriteFailure::Write)?;
                if sync {
                    f.sync_data().map_err(WriteFailure::Sync)?;
                }
                Ok(())
            }
            #[cfg(target_os = "linux")]
            SegmentFile::Direct(d) => d.append(bytes, offset, sync),
        }
    }

    /// `fdatasync`.
    pub fn sync(&mut self) -> std::io::Result<()> {
        match self {
            SegmentFile::Buffered(f) => f.sync_data(),
            #[cfg(target_os = "linux")]
            SegmentFile::Direct(d) => d.sync(),
        }
    }
}

/// The backend `wanted` comes to in directory `dir`: `Uring` only where a direct write
/// through io_uring works there (tried on a scratch file). `Auto` takes `Uring` where it
/// works and `Std` elsewhere (another kernel, a seccomp profile that blocks io_uring, a file
/// system without `O_DIRECT`), saying why. An explicit `Uring` that cannot work is an error
/// naming why.
///
/// Why `uring` is the default where it works: measured side by side (docs/benchmarks.md,
/// fifteenth round, four runs of each alternated), it used 5-9 % less CPU per GB acknowledged
/// with a tail consumer and under a 1-CPU quota (the pod's case), and its p99s were within
/// the spread of `std`'s; earlier rounds measured it up to twice `std`'s maximum where the
/// broker's core was the limit.
///
/// ```
/// use rustmq_broker::wal::{IoBackend, io::resolve};
/// let dir = tempfile::tempdir().unwrap();
/// let picked = resolve(IoBackend::Auto, dir.path()).unwrap();
/// assert_ne!(picked, IoBackend::Auto);
/// ```
pub fn resolve(wanted: IoBackend, dir: &Path) -> std::io::Result<IoBackend> {
    match wanted {
        IoBackend::Std => Ok(IoBackend::Std),
        IoBackend::Uring => {
            uring_support(dir)?;
            Ok(IoBackend::Uring)
        }
        IoBackend::Auto => Ok(auto(uring_support(dir), dir)),
    }
}

/// What `auto` comes to, given whether the uring backend works in `dir`.
fn auto(uring: std::io::Result<()>, dir: &Path) -> IoBackend {
    match uring {
        Ok(()) => IoBackend::Uring,
        Err(e) => {
            tracing::info!(
                dir = %dir.display(),
                why = %e,
                "wal.io_backend = auto: io_uring with O_DIRECT does not work here; using std"
            );
            IoBackend::Std
        }
    }
}

/// Whether io_uring and `O_DIRECT` work in `dir` (a ring opens, an aligned direct write
/// with a linked `fdatasync` completes); the error says why not.
pub fn uring_support(dir: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        uring::probe(dir)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "io_uring is Linux only",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_uring_where_the_probe_passes_and_std_where_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(auto(Ok(()), dir.path()), IoBackend::Uring);
        let blocked = std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "io_uring_setup blocked by seccomp",
        );
        assert_eq!(auto(Err(blocked), dir.path()), IoBackend::Std);
    }

    #[test]
    fn auto_resolves_to_what_the_directory_supports() {
        let dir = tempfile::tempdir().unwrap();
        let works = uring_support(dir.path()).is_ok();
        let expected = if works {
            IoBackend::Uring
        } else {
            IoBackend::Std
        };
        assert_eq!(resolve(IoBackend::Auto, dir.path()).unwrap(), expected);
        assert_eq!(resolve(IoBackend::Uring, dir.path()).is_ok(), works);
        assert_eq!(resolve(IoBackend::Std, dir.path()).unwrap(), IoBackend::Std);
    }

    #[test]
    fn where_the_probe_cannot_write_auto_falls_back_and_an_explicit_uring_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("not-created");
        assert_eq!(resolve(IoBackend::Auto, &missing).unwrap(), IoBackend::Std);
        let err = resolve(IoBackend::Uring, &missing).unwrap_err();
        assert!(err.to_string().contains("scratch file"), "{err}");
    }
}
