//! The seal log: where each finished segment ends.
//!
//! Owns: `wal/seals`, an append-only file of `(segment id, end)` records written when a
//! segment stops being written (a roll, a clean shutdown, a failed write, the start after a
//! crash). Never: holds entries or decides what a partition keeps.
//!
//! Why: a format-2 segment may be a recycled file whose old bytes follow the new entries, so
//! a CRC failure alone cannot say whether it is the end of the segment or damage to data that
//! was acknowledged. With the end recorded, recovery knows: inside the sealed length a bad
//! entry is corruption (reported loudly), past it are bytes nobody acknowledged. Only the
//! segment being written when the process died has no seal, and there a bad entry followed
//! by a good one is still told apart from a torn tail.
//!
//! Record layout (big endian, 20 bytes): `u64 segment | u64 end | u32 crc32c` of the first 16.
//! A torn last record fails its CRC and is ignored (its segment is then read as unsealed).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

const FILE: &str = "seals";
const RECORD_LEN: usize = 20;

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn record(segment: u64, end: u64) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[..8].copy_from_slice(&segment.to_be_bytes());
    r[8..16].copy_from_slice(&end.to_be_bytes());
    let crc = crc32c::crc32c(&r[..16]);
    r[16..].copy_from_slice(&crc.to_be_bytes());
    r
}

/// The seals in `dir`: segment id to the byte where its entries end. Records after the first
/// one that fails its CRC are not trusted.
pub(super) fn read(dir: &Path) -> std::io::Result<BTreeMap<u64, u64>> {
    let bytes = match std::fs::read(path(dir)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut seals = BTreeMap::new();
    for r in bytes.chunks_exact(RECORD_LEN) {
        let crc = u32::from_be_bytes([r[16], r[17], r[18], r[19]]);
        if crc != crc32c::crc32c(&r[..16]) {
            break;
        }
        let mut id = [0u8; 8];
        let mut end = [0u8; 8];
        id.copy_from_slice(&r[..8]);
        end.copy_from_slice(&r[8..16]);
        seals.insert(u64::from_be_bytes(id), u64::from_be_bytes(end));
    }
    Ok(seals)
}

/// The open seal log.
pub(super) struct SealLog {
    file: File,
}

impl SealLog {
    /// Replaces the seal log with exactly `seals` (those of the segments still on disk) and
    /// opens it for appending. Written to a temporary file, synced, then renamed, so a crash
    /// leaves either the old log or the new one.
    pub(super) fn rewrite(dir: &Path, seals: &BTreeMap<u64, u64>) -> std::io::Result<Self> {
        let tmp = dir.join(format!("{FILE}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            let mut buf = Vec::with_capacity(seals.len() * RECORD_LEN);
            for (&id, &end) in seals {
                buf.extend_from_slice(&record(id, end));
            }
            f.write_all(&buf)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path(dir))?;
        File::open(dir)?.sync_all()?;
        let file = OpenOptions::new().append(true).open(path(dir))?;
        Ok(Self { file })
    }

    /// Records that segment `segment` ends at byte `end`, durably.
    pub(super) fn seal(&mut self, segment: u64, end: u64) -> std::io::Result<()> {
        self.file.write_all(&record(segment, end))?;
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_read_back_and_a_torn_record_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        assert!(read(d.path()).unwrap().is_empty());
        let mut log = SealLog::rewrite(d.path(), &BTreeMap::from([(1, 100)])).unwrap();
        log.seal(2, 200).unwrap();
        log.seal(2, 150).unwrap();
        assert_eq!(
            read(d.path()).unwrap(),
            BTreeMap::from([(1, 100), (2, 150)])
        );
        // Half a record at the end (a crash during the append), then a damaged one.
        let mut f = OpenOptions::new()
            .append(true)
            .open(path(d.path()))
            .unwrap();
        f.write_all(&record(3, 300)[..7]).unwrap();
        assert_eq!(
            read(d.path()).unwrap(),
            BTreeMap::from([(1, 100), (2, 150)])
        );
        let mut bytes = std::fs::read(path(d.path())).unwrap();
        bytes.truncate(3 * RECORD_LEN);
        bytes.extend_from_slice(&record(3, 300));
        bytes[3 * RECORD_LEN + 9] ^= 1;
        std::fs::write(path(d.path()), bytes).unwrap();
        assert_eq!(
            read(d.path()).unwrap(),
            BTreeMap::from([(1, 100), (2, 150)])
        );
    }

    #[test]
    fn rewrite_keeps_only_what_it_is_given() {
        let d = tempfile::tempdir().unwrap();
        let mut log = SealLog::rewrite(d.path(), &BTreeMap::new()).unwrap();
        log.seal(1, 10).unwrap();
        log.seal(2, 20).unwrap();
        drop(log);
        let _ = SealLog::rewrite(d.path(), &BTreeMap::from([(2, 20)])).unwrap();
        assert_eq!(read(d.path()).unwrap(), BTreeMap::from([(2, 20)]));
    }
}
