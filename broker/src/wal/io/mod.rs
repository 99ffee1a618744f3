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

/// The active segment, open for appending. Each holds the buffer the writer encodes a group
/// into ([`SegmentFile::group_buffer`]), reused from group to group.
pub(super) enum SegmentFile {
    Buffered {
        file: File,
        group: Vec<u8>,
    },
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
                Ok(SegmentFile::Buffered {
                    file,
                    group: Vec::new(),
                })
            }
        }
    }

    /// The next segment: `file` (created, its `header` written) at `path`. The direct
    /// writer keeps its ring and buffer.
    pub fn switch(&mut self, file: File, path: &Path, header: &[u8]) -> std::io::Result<()> {
        match self {
            SegmentFile::Buffered { file: f, .. } => *f = file,
            #[cfg(target_os = "linux")]
            SegmentFile::Direct(d) => d.switch(path, header)?,
        }
        let _ = (path, header);
        Ok(())
    }

    /// Whether [`Self::write_group`] with `sync` submits the write and its fdatasync together.
    pub fn links_sync(&self) -> bool {
        !matches!(self, SegmentFile::Buffered { .. })
    }

    /// `len` bytes for the next group's entries, to be written with [`Self::write_group`].
    /// Their contents are left from earlier groups: the writer fills every byte. For the
    /// direct writer they are its aligned buffer itself, so a group reaches the disk without
    /// a copy between its encoding and the write.
    pub fn group_buffer(&mut self, len: usize) -> &mut [u8] {
        match self {
            SegmentFile::Buffered { group, .. } => {
                // Grown, never shrunk or cleared: no zeroing of every group.
                if group.len() < len {
                    group.resize(len, 0);
                }
                &mut group[..len]
            }
            #[cfg(target_os = "linux")]
            SegmentFile::Direct(d) => d.stage(len),
        }
    }

    /// Writes the `len` bytes filled in [`Self::group_buffer`] at `offset` (the end of what
    /// was written), then, with `sync`, makes the file's data durable.
    pub fn write_group(&mut self, len: usize, offset: u64, sync: bool) -> Result<(), WriteFailure> {
        match self {
            SegmentFile::Buffered { file, group } => {
                let bytes = group.get(..len).ok_or_else(|| {
                    WriteFailure::Write(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("a group of {len} bytes was not staged"),
                    ))
                })?;
                file.write_all_at(bytes, offset)
                    .map_err(WriteFailure::Write)?;
                if sync {
                    file.sync_data().map_err(WriteFailure::Sync)?;
                }
                Ok(())
            }
            #[cfg(target_os = "linux")]
            SegmentFile::Direct(d) => d.write_staged(len, offset, sync),
        }
    }

    /// `fdatasync`.
    pub fn sync(&mut self) -> std::io::Result<()> {
        match self {
            SegmentFile::Buffered { file, .. } => file.sync_data(),
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
    fn a_group_written_after_a_larger_one_writes_its_own_bytes_only_on_both_backends() {
        for backend in [IoBackend::Std, IoBackend::Uring] {
            let dir = tempfile::tempdir().unwrap();
            if backend == IoBackend::Uring
                && let Err(e) = uring_support(dir.path())
            {
                eprintln!("SKIPPED on uring: io_uring with O_DIRECT is not available here: {e}");
                continue;
            }
            let path = dir.path().join("seg");
            std::fs::write(&path, b"HEAD").unwrap();
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            let mut seg = SegmentFile::open(backend, file, &path, b"HEAD").unwrap();
            // The group buffer is reused: the second, shorter group must not carry the
            // first one's leftover bytes to the disk.
            seg.group_buffer(5000).fill(b'a');
            seg.write_group(5000, 4, true).unwrap();
            seg.group_buffer(10).fill(b'b');
            seg.write_group(10, 5004, true).unwrap();
            let mut expected = b"HEAD".to_vec();
            expected.extend(std::iter::repeat_n(b'a', 5000));
            expected.extend(std::iter::repeat_n(b'b', 10));
            let back = std::fs::read(&path).unwrap();
            assert_eq!(&back[..expected.len()], &expected[..], "{backend:?}");
            // Past the group: nothing (std) or the direct writer's zero padding.
            assert!(
                back[expected.len()..].iter().all(|b| *b == 0),
                "{backend:?}"
            );
        }
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
