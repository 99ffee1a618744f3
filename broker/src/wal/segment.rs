//! Segment files: naming, entry encoding, and the recovery scan.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes};

use super::{WalError, WalLocation};

/// Bytes before the batch in every entry.
pub const ENTRY_HEADER_LEN: usize = 4 + 4 + 8 + 4 + 8 + 4;
const EXT: &str = "wal";

/// An intact entry found by recovery.
#[derive(Debug, Clone)]
pub struct RecoveredEntry {
    /// Topic id.
    pub topic_id: u64,
    /// Partition.
    pub partition: u32,
    /// Base offset.
    pub base_offset: i64,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// The batch bytes.
    pub batch: Bytes,
    /// Where it is.
    pub location: WalLocation,
}

pub(super) fn path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.{EXT}"))
}

pub(super) fn list(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().and_then(|x| x.to_str()) == Some(EXT)
            && let Some(id) = p
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Creates a new segment; returns the write handle and a read handle.
pub(super) fn create(dir: &Path, id: u64) -> Result<(File, File), WalError> {
    let p = path(dir, id);
    let file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(&p)?;
    // Make the new file's directory entry durable before anything in it is acknowledged.
    File::open(dir)?.sync_all()?;
    let reader = File::open(&p)?;
    Ok((file, reader))
}

pub(super) fn encode_entry(
    buf: &mut Vec<u8>,
    topic_id: u64,
    partition: u32,
    base_offset: i64,
    leader_epoch: i32,
    batch: &[u8],
) {
    let start = buf.len();
    let len = (ENTRY_HEADER_LEN - 8 + batch.len()) as u32;
    buf.put_u32(len);
    buf.put_u32(0);
    buf.put_u64(topic_id);
    buf.put_u32(partition);
    buf.put_i64(base_offset);
    buf.put_i32(leader_epoch);
    buf.extend_from_slice(batch);
    let crc = crc32c::crc32c(&buf[start + 8..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
}

/// Scans one segment, visiting intact entries; truncates the file at the first torn or
/// corrupt entry. Returns the number of bytes cut off.
pub(super) fn scan(
    p: &Path,
    id: u64,
    max_entry_bytes: u32,
    visit: &mut impl FnMut(RecoveredEntry),
) -> Result<u64, WalError> {
    let file = OpenOptions::new().read(true).write(true).open(p)?;
    let file_len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, &file);
    let mut pos = 0u64;
    let mut head = [0u8; 8];
    let bad: Option<String> = loop {
        if pos == file_len {
            break None;
        }
        if file_len - pos < ENTRY_HEADER_LEN as u64 {
            break Some(format!("torn entry header at byte {pos}"));
        }
        r.read_exact(&mut head)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if len < (ENTRY_HEADER_LEN - 8) as u32 || len > max_entry_bytes {
            break Some(format!("invalid entry length {len} at byte {pos}"));
        }
        if file_len - pos - 8 < u64::from(len) {
            break Some(format!("torn entry at byte {pos}"));
        }
        let mut body = vec![0u8; len as usize];
        r.read_exact(&mut body)?;
        if crc32c::crc32c(&body) != crc {
            break Some(format!("crc mismatch at byte {pos}"));
        }
        let be64 = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&body[i..i + 8]);
            x
        };
        let topic_id = u64::from_be_bytes(be64(0));
        let partition = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
        let base_offset = i64::from_be_bytes(be64(12));
        let leader_epoch = i32::from_be_bytes([body[20], body[21], body[22], body[23]]);
        let header_in_body = ENTRY_HEADER_LEN - 8;
        let batch = Bytes::from(body).slice(header_in_body..);
        visit(RecoveredEntry {
            topic_id,
            partition,
            base_offset,
            leader_epoch,
            location: WalLocation {
                segment: id,
                offset: pos + ENTRY_HEADER_LEN as u64,
                len: batch.len() as u32,
            },
            batch,
        });
        pos += 8 + u64::from(len);
    };
    match bad {
        None => Ok(0),
        Some(why) => {
            tracing::warn!(segment = %p.display(), %why, "truncating wal segment to its last intact entry");
            drop(r);
            file.set_len(pos)?;
            file.sync_all()?;
            Ok(file_len - pos)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn write_entries(dir: &Path, n: usize) -> (PathBuf, Vec<u8>) {
        let mut buf = Vec::new();
        for i in 0..n {
            encode_entry(&mut buf, 7, 1, i as i64, 0, format!("batch-{i}").as_bytes());
        }
        let p = path(dir, 0);
        std::fs::write(&p, &buf).unwrap();
        (p, buf)
    }

    fn scan_all(p: &Path) -> (Vec<RecoveredEntry>, u64) {
        let mut out = Vec::new();
        let cut = scan(p, 0, 1 << 20, &mut |e| out.push(e)).unwrap();
        (out, cut)
    }

    #[test]
    fn intact_segment_scans_fully() {
        let d = tempfile::tempdir().unwrap();
        let (p, _) = write_entries(d.path(), 5);
        let (e, cut) = scan_all(&p);
        assert_eq!(e.len(), 5);
        assert_eq!(cut, 0);
        assert_eq!(&e[3].batch[..], b"batch-3");
        assert_eq!(e[3].base_offset, 3);
    }

    proptest! {
        // Fuzz: any bytes at all as a segment file: recovery never panics, keeps only intact
        // entries, and leaves a file that scans cleanly afterwards.
        #[test]
        fn random_segment_contents(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let d = tempfile::tempdir().unwrap();
            let p = path(d.path(), 0);
            std::fs::write(&p, &data).unwrap();
            let (_, cut) = scan_all(&p);
            prop_assert_eq!(std::fs::metadata(&p).unwrap().len() + cut, data.len() as u64);
            let (_, again) = scan_all(&p);
            prop_assert_eq!(again, 0);
        }

        // Fuzz: intact entries followed by a torn or corrupted tail: every entry before the
        // damage survives, nothing after it does.
        #[test]
        fn damaged_tail_keeps_the_intact_prefix(n in 1usize..20, cut_at in 0usize..400, flip in any::<u8>()) {
            let d = tempfile::tempdir().unwrap();
            let (p, buf) = write_entries(d.path(), n);
            let mut damaged = buf.clone();
            let at = cut_at % damaged.len();
            damaged[at] ^= flip | 1;
            std::fs::write(&p, &damaged).unwrap();
            let (entries, _) = scan_all(&p);
            // Entries that end before the damaged byte are intact and must all be found.
            let mut end = 0;
            let mut intact = 0;
            for i in 0..n {
                end += ENTRY_HEADER_LEN + format!("batch-{i}").len();
                if end <= at { intact += 1; }
            }
            prop_assert_eq!(entries.len(), intact);
            for (i, e) in entries.iter().enumerate() {
                prop_assert_eq!(e.base_offset, i as i64);
            }
        }
    }
}
