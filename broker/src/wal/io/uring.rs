//! The `uring` backend: `O_DIRECT` writes of whole blocks from one aligned buffer that is
//! reused for every group, submitted to io_uring with a linked `fdatasync`, so a durable
//! group commit is one `io_uring_enter` and no copy into the page cache.
//!
//! Direct I/O writes whole blocks. The buffer keeps the segment's last partial block (the
//! header at first) in front of the next group, so each write rewrites that block with the
//! same bytes before the new ones and pads the tail with zeros up to the block end; the next
//! group writes over the padding. A torn write can therefore only leave a torn tail (old
//! bytes are rewritten identically), which recovery already handles, and zeros after the
//! last entry read as the end of the segment.
//!
//! The one `unsafe` block of the broker is here: io_uring's submission is unsafe because
//! the kernel reads the buffer after the call that queued it; `submit` waits for every
//! completion before the buffer can be touched again.

#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aligned_vec::{AVec, ConstAlign};
use io_uring::{IoUring, opcode, squeue, types};

use super::WriteFailure;

/// Direct-I/O alignment of offsets, lengths and the buffer's address. 4 KiB covers the
/// logical block size of every disk and file system the broker runs on.
const BLOCK: usize = 4096;

/// A heap buffer aligned to [`BLOCK`] (a `Vec<u8>` cannot promise that).
type AlignedBuf = AVec<u8, ConstAlign<BLOCK>>;

fn aligned(len: usize) -> AlignedBuf {
    let mut b = AlignedBuf::with_capacity(BLOCK, len);
    b.resize(len, 0);
    b
}

/// Room for `need` bytes in `buf`, keeping what it holds.
fn reserve(buf: &mut AlignedBuf, need: usize) {
    if need > buf.len() {
        buf.resize(need.next_power_of_two(), 0);
    }
}

/// The active segment opened with `O_DIRECT`, its ring and its buffer.
pub(in crate::wal) struct DirectWriter {
    ring: IoUring,
    file: File,
    buf: AlignedBuf,
    /// Bytes of the segment's last partial block, at the start of `buf`.
    tail: usize,
}

fn open_direct(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path)
}

impl DirectWriter {
    /// Opens `path` (whose first bytes are `header`, written through the page cache) for
    /// direct writes after the header.
    pub fn open(path: &Path, header: &[u8]) -> io::Result<Self> {
        let mut w = Self {
            ring: IoUring::new(4)?,
            file: open_direct(path)?,
            buf: aligned(1 << 20),
            tail: 0,
        };
        w.start_after(header)?;
        Ok(w)
    }

    /// Moves to the next segment `path` (its `header` written), keeping the ring and buffer.
    pub fn switch(&mut self, path: &Path, header: &[u8]) -> io::Result<()> {
        self.file = open_direct(path)?;
        self.start_after(header)
    }

    fn start_after(&mut self, header: &[u8]) -> io::Result<()> {
        reserve(&mut self.buf, header.len());
        self.buf[..header.len()].copy_from_slice(header);
        self.tail = header.len();
        Ok(())
    }

    /// Writes `bytes` at `offset`, the end of what was written (the last partial block,
    /// held in the buffer, goes again in front of them), with a linked `fdatasync` when
    /// `sync`.
    pub fn append(&mut self, bytes: &[u8], offset: u64, sync: bool) -> Result<(), WriteFailure> {
        self.stage(bytes.len()).copy_from_slice(bytes);
        self.write_staged(bytes.len(), offset, sync)
    }

    /// The `len` bytes of the buffer after the kept partial block: what
    /// [`Self::write_staged`] writes next.
    pub fn stage(&mut self, len: usize) -> &mut [u8] {
        let end = self.tail + len;
        reserve(&mut self.buf, end.next_multiple_of(BLOCK));
        &mut self.buf[self.tail..end]
    }

    /// Writes the kept partial block and the `len` bytes after it (filled through
    /// [`Self::stage`]) at `offset`, the end of what was written, with a linked `fdatasync`
    /// when `sync`.
    pub fn write_staged(
        &mut self,
        len: usize,
        offset: u64,
        sync: bool,
    ) -> Result<(), WriteFailure> {
        let tail = self.tail;
        let start = offset
            .checked_sub(tail as u64)
            .filter(|s| s % BLOCK as u64 == 0)
            .ok_or_else(|| {
                WriteFailure::Write(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "direct write at {offset} does not follow the buffered tail of {tail} bytes"
                    ),
                ))
            })?;
        let end = tail + len;
        let padded = end.next_multiple_of(BLOCK);
        if self.buf.len() < padded {
            return Err(WriteFailure::Write(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a direct write of {len} bytes was not staged"),
            )));
        }
        self.buf[end..padded].fill(0);
        let write_len = u32::try_from(padded).map_err(|_| {
            WriteFailure::Write(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a group commit larger than 4 GiB",
            ))
        })?;
        let fd = types::Fd(self.file.as_raw_fd());
        let write = opcode::Write::new(fd, self.buf.as_ptr(), write_len)
            .offset(start)
            .build()
            .user_data(0);
        let write = if sync {
            write.flags(squeue::Flags::IO_LINK)
        } else {
            write
        };
        let fsync = opcode::Fsync::new(fd)
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(1);
        let entries: &[squeue::Entry] = if sync { &[write, fsync] } else { &[write] };
        let results = self.submit(entries).map_err(WriteFailure::Write)?;
        match results[0] {
            r if r < 0 => return Err(WriteFailure::Write(io::Error::from_raw_os_error(-r))),
            r if r as usize != padded => {
                // A short write breaks the link: the fdatasync was cancelled.
                return Err(WriteFailure::Write(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("short direct write: {r} of {padded} bytes"),
                )));
            }
            _ => {}
        }
        if sync && results[1] < 0 {
            return Err(WriteFailure::Sync(io::Error::from_raw_os_error(
                -results[1],
            )));
        }
        // Keep the new last partial block for the next group.
        let keep_from = end - end % BLOCK;
        self.buf.copy_within(keep_from..end, 0);
        self.tail = end - keep_from;
        Ok(())
    }

    /// `fdatasync` of the segment.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Submits `entries` and waits for all of them; their results by `user_data` index.
    fn submit(&mut self, entries: &[squeue::Entry]) -> io::Result<[i32; 2]> {
        // SAFETY: the buffer and file the entries point at outlive this call, which waits
        // for every completion before returning.
        unsafe {
            self.ring
                .submission()
                .push_multiple(entries)
                .map_err(|_| io::Error::other("io_uring submission queue is full"))?;
        }
        let mut results = [0i32; 2];
        let mut done = 0;
        while done < entries.len() {
            match self.ring.submit_and_wait(entries.len() - done) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for cqe in self.ring.completion() {
                if let Some(slot) = results.get_mut(cqe.user_data() as usize) {
                    *slot = cqe.result();
                }
                done += 1;
            }
        }
        Ok(results)
    }
}

/// Tries what the backend does on a scratch file in `dir`: a ring, an `O_DIRECT` open and
/// one aligned block written with a linked `fdatasync`.
pub fn probe(dir: &Path) -> io::Result<()> {
    let path = dir.join(".io-uring-probe");
    let why = |step: &str, e: io::Error| io::Error::new(e.kind(), format!("{step}: {e}"));
    let result = (|| {
        File::create(&path).map_err(|e| why("creating a scratch file", e))?;
        let mut w = DirectWriter::open(&path, &[])
            .map_err(|e| why("opening a ring and an O_DIRECT file", e))?;
        w.append(&[0u8; 16], 0, true)
            .map_err(|e| why("a direct write with a linked fdatasync", e.into()))
    })();
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn groups_land_where_the_buffered_backend_puts_them() {
        let dir = tempfile::tempdir().unwrap();
        if let Err(e) = probe(dir.path()) {
            eprintln!("SKIPPED: io_uring with O_DIRECT is not available here: {e}");
            return;
        }
        let path = dir.path().join("seg");
        std::fs::write(&path, b"HEADER").unwrap();
        let mut w = DirectWriter::open(&path, b"HEADER").unwrap();
        let mut expected = b"HEADER".to_vec();
        // Small groups inside one block, a group across blocks, one larger than the buffer.
        for (i, n) in [10usize, 3000, 5000, 2 << 20, 1].into_iter().enumerate() {
            let group = vec![b'a' + i as u8; n];
            w.append(&group, expected.len() as u64, i % 2 == 0).unwrap();
            expected.extend_from_slice(&group);
        }
        w.sync().unwrap();
        let file = File::open(&path).unwrap();
        let mut back = vec![0u8; expected.len()];
        file.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(back, expected);
        // Past the last group: zeros up to the block end.
        let size = file.metadata().unwrap().len() as usize;
        assert_eq!(size, expected.len().next_multiple_of(BLOCK));
        let mut pad = vec![1u8; size - expected.len()];
        file.read_exact_at(&mut pad, expected.len() as u64).unwrap();
        assert!(pad.iter().all(|b| *b == 0));
    }

    #[test]
    fn a_write_that_does_not_follow_the_tail_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        if let Err(e) = probe(dir.path()) {
            eprintln!("SKIPPED: io_uring with O_DIRECT is not available here: {e}");
            return;
        }
        let path = dir.path().join("seg");
        std::fs::write(&path, b"H").unwrap();
        let mut w = DirectWriter::open(&path, b"H").unwrap();
        assert!(matches!(
            w.append(b"x", 7, true),
            Err(WriteFailure::Write(e)) if e.kind() == io::ErrorKind::InvalidInput
        ));
    }
}
