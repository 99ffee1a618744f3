//! Segment files: naming, entry encoding, and the recovery scan.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes};

use super::{WalError, WalLocation};

/// Bytes before the batch in every entry.
pub const ENTRY_HEADER_LEN: usize = 4 + 4 + 8 + 4 + 8 + 4;
/// Bytes before the first entry of a segment this version writes: [`MAGIC`], then the
/// segment id (for people reading the file; recovery trusts the file name).
pub const FILE_HEADER_LEN: u64 = 16;
/// Marks a segment whose entry CRCs also cover the segment id (format 2). Files without it
/// (format 1) are read as before and never recycled.
const MAGIC: &[u8; 8] = b"RMQWAL\x00\x02";
const EXT: &str = "wal";
/// Segments kept for reuse after their data is no longer needed.
const SPARE_EXT: &str = "spare";

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

pub(super) fn spare_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.{SPARE_EXT}"))
}

/// Ids of the segment files in `dir`, oldest first.
pub(super) fn list(dir: &Path) -> Result<Vec<u64>, WalError> {
    list_ext(dir, EXT)
}

/// Ids (the segment each was) of the spare files in `dir`.
pub(super) fn list_spares(dir: &Path) -> Result<Vec<u64>, WalError> {
    list_ext(dir, SPARE_EXT)
}

fn list_ext(dir: &Path, ext: &str) -> Result<Vec<u64>, WalError> {
    let mut ids = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().and_then(|x| x.to_str()) == Some(ext)
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

/// Whether the file at `p` is a format-2 segment (the only kind that may be recycled).
pub(super) fn is_format2(p: &Path) -> bool {
    let mut head = [0u8; 8];
    File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == MAGIC)
}

/// Creates segment `id`, from the spare file `reuse` when given (renamed, its old bytes
/// left in place to be overwritten), else as a new file; writes the file header and
/// returns the write handle and a read handle.
///
/// Why reuse: appending to a new file allocates blocks, and on ext4 (`dioread_nolock`)
/// `fdatasync` then waits for a kernel worker to convert the new extents, which queues
/// behind whatever else the machine runs; overwriting blocks that are already written
/// needs no metadata change at all. Stale entries after the new ones cannot be mistaken
/// for this segment's: their CRCs cover the id of the segment they were written to.
pub(super) fn create(dir: &Path, id: u64, reuse: Option<&Path>) -> Result<(File, File), WalError> {
    let p = path(dir, id);
    let file = match reuse {
        Some(spare) => {
            std::fs::rename(spare, &p)?;
            OpenOptions::new().read(true).write(true).open(&p)?
        }
        None => OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&p)?,
    };
    // Made durable by the first group commit's fdatasync, before any entry is acknowledged.
    file.write_all_at(&file_header(id), 0)?;
    // Make the file's directory entry durable before anything in it is acknowledged.
    File::open(dir)?.sync_all()?;
    let reader = File::open(&p)?;
    Ok((file, reader))
}

pub(super) fn file_header(id: u64) -> [u8; FILE_HEADER_LEN as usize] {
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&id.to_be_bytes());
    header
}

/// The CRC of an entry body in segment `segment` (format 2).
fn entry_crc(segment: u64, body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&segment.to_be_bytes()), body)
}

/// Appends one entry of segment `segment` (format 2) to `buf`.
#[cfg(test)]
pub(super) fn encode_entry(
    buf: &mut Vec<u8>,
    segment: u64,
    topic_id: u64,
    partition: u32,
    base_offset: i64,
    leader_epoch: i32,
    batch: &[u8],
) {
    let start = buf.len();
    buf.resize(start + ENTRY_HEADER_LEN + batch.len(), 0);
    encode_entry_into(
        &mut buf[start..],
        segment,
        topic_id,
        partition,
        base_offset,
        leader_epoch,
        batch,
    );
}

/// Writes one entry of segment `segment` (format 2) into `out`, which is exactly
/// `ENTRY_HEADER_LEN + batch.len()` bytes: the writer encodes a group straight into the
/// buffer its backend writes from, so a batch is copied once on its way to the disk.
pub(super) fn encode_entry_into(
    out: &mut [u8],
    segment: u64,
    topic_id: u64,
    partition: u32,
    base_offset: i64,
    leader_epoch: i32,
    batch: &[u8],
) {
    debug_assert_eq!(out.len(), ENTRY_HEADER_LEN + batch.len());
    let (mut header, body) = out.split_at_mut(ENTRY_HEADER_LEN);
    body.copy_from_slice(batch);
    header.put_u32((ENTRY_HEADER_LEN - 8 + batch.len()) as u32);
    header.put_u32(0);
    header.put_u64(topic_id);
    header.put_u32(partition);
    header.put_i64(base_offset);
    header.put_i32(leader_epoch);
    let crc = entry_crc(segment, &out[8..]);
    out[4..8].copy_from_slice(&crc.to_be_bytes());
}

/// Acknowledged bytes that recovery found damaged: inside a sealed segment's length, or
/// followed by an intact entry of the same segment. Never a torn tail or a recycled file's
/// old bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Segment id.
    pub segment: u64,
    /// File offset where the damage starts.
    pub offset: u64,
    /// Bytes that could not be read as entries.
    pub bytes: u64,
    /// What was wrong.
    pub why: String,
}

/// How a segment's scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScanEnd {
    /// End of the segment's entries: its size in use.
    pub end: u64,
    /// Bytes after `end` that held no entry of this segment (cut off in format 1).
    pub cut: u64,
    /// Format 2 (may be recycled).
    pub format2: bool,
    /// Damaged entries skipped (see [`Damage`]).
    pub damage: Vec<Damage>,
}

/// What is wrong with the bytes where an entry should start.
enum BadEntry {
    /// The length field cannot be right (or the entry runs past the end): where the next
    /// entry starts is unknown.
    Unframed(String),
    /// Framed, but the CRC fails: the next entry starts `len` bytes on.
    Crc { len: u32 },
}

/// Reads the entry at `pos` (reader positioned there), checking its frame and CRC.
fn read_entry(
    r: &mut impl Read,
    pos: u64,
    limit: u64,
    id: u64,
    format2: bool,
    max_entry_bytes: u32,
) -> Result<Result<Vec<u8>, BadEntry>, WalError> {
    if limit - pos < ENTRY_HEADER_LEN as u64 {
        return Ok(Err(BadEntry::Unframed(format!(
            "torn entry header at byte {pos}"
        ))));
    }
    let mut head = [0u8; 8];
    r.read_exact(&mut head)?;
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if len < (ENTRY_HEADER_LEN - 8) as u32 || len > max_entry_bytes {
        return Ok(Err(BadEntry::Unframed(format!(
            "invalid entry length {len} at byte {pos}"
        ))));
    }
    if limit - pos - 8 < u64::from(len) {
        return Ok(Err(BadEntry::Unframed(format!("torn entry at byte {pos}"))));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body)?;
    let expected = if format2 {
        entry_crc(id, &body)
    } else {
        crc32c::crc32c(&body)
    };
    Ok(if expected == crc {
        Ok(body)
    } else {
        Err(BadEntry::Crc { len })
    })
}

/// Scans one segment, visiting intact entries.
///
/// `sealed` is where the segment was recorded to end (see `seal`): a bad entry before it is
/// damage to acknowledged data, reported and skipped where its frame allows; bytes after it
/// were never acknowledged. Without a seal (the segment being written when the process
/// died), a bad entry followed by an intact one of this segment is damage too; otherwise it
/// is the end: a torn write, or a recycled file's old bytes. A format-1 file is truncated
/// at its end; a format-2 file is left as it is (nothing is ever appended to a recovered
/// segment).
pub(super) fn scan(
    p: &Path,
    id: u64,
    max_entry_bytes: u32,
    sealed: Option<u64>,
    visit: &mut impl FnMut(RecoveredEntry),
) -> Result<ScanEnd, WalError> {
    let file = OpenOptions::new().read(true).write(true).open(p)?;
    let file_len = file.metadata()?.len();
    let mut damage = Vec::new();
    let mut harm = |offset: u64, bytes: u64, why: String| {
        tracing::error!(segment = %p.display(), offset, bytes, %why, "wal segment damaged: acknowledged data lost here");
        damage.push(Damage {
            segment: id,
            offset,
            bytes,
            why,
        });
    };
    let limit = match sealed {
        Some(s) if s > file_len => {
            harm(
                file_len,
                s - file_len,
                format!("file is {file_len} bytes but was sealed at {s}"),
            );
            file_len
        }
        Some(s) => s,
        None => file_len,
    };
    let mut r = BufReader::with_capacity(1 << 20, &file);
    let mut head = [0u8; 8];
    let format2 = file_len >= FILE_HEADER_LEN && {
        r.read_exact(&mut head)?;
        &head == MAGIC
    };
    let mut pos = if format2 { FILE_HEADER_LEN } else { 0 };
    r.seek(SeekFrom::Start(pos))?;
    let bad: Option<String> = loop {
        if pos >= limit {
            break None;
        }
        let body = match read_entry(&mut r, pos, limit, id, format2, max_entry_bytes)? {
            Ok(body) => body,
            Err(BadEntry::Crc { len }) => {
                let next = pos + 8 + u64::from(len);
                if sealed.is_some() || intact_entry_at(p, next, limit, id, format2, max_entry_bytes)
                {
                    harm(pos, next - pos, format!("crc mismatch at byte {pos}"));
                    pos = next;
                    continue;
                }
                break Some(format!("crc mismatch at byte {pos}"));
            }
            Err(BadEntry::Unframed(why)) => break Some(why),
        };
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
        let len = body.len() as u64;
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
        pos += 8 + len;
    };
    match (bad, sealed) {
        (None, _) => {}
        (Some(why), Some(_)) => harm(pos, limit - pos, why),
        (Some(why), None) if format2 => {
            tracing::debug!(segment = %p.display(), %why, unused = file_len - pos, "end of wal segment");
        }
        (Some(why), None) => {
            tracing::warn!(segment = %p.display(), %why, "truncating wal segment to its last intact entry");
            drop(r);
            file.set_len(pos)?;
            file.sync_all()?;
        }
    }
    if sealed.is_some() {
        // Damage never moves the end: the seal says where this segment's bytes stop.
        pos = limit;
    }
    Ok(ScanEnd {
        end: pos,
        cut: file_len - pos,
        format2,
        damage,
    })
}

/// Whether an intact entry of segment `id` starts at `pos`. Reads through a handle of its
/// own: the scan's reader shares its file position with every clone of its handle.
fn intact_entry_at(
    p: &Path,
    pos: u64,
    limit: u64,
    id: u64,
    format2: bool,
    max_entry_bytes: u32,
) -> bool {
    if pos >= limit {
        return false;
    }
    let Ok(file) = File::open(p) else {
        return false;
    };
    let mut r = BufReader::new(file);
    r.seek(SeekFrom::Start(pos)).is_ok()
        && matches!(
            read_entry(&mut r, pos, limit, id, format2, max_entry_bytes),
            Ok(Ok(_))
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entries(segment: u64, n: usize) -> Vec<u8> {
        let mut buf = file_header(segment).to_vec();
        for i in 0..n {
            let b = format!("batch-{i}");
            encode_entry(&mut buf, segment, 7, 1, i as i64, 0, b.as_bytes());
        }
        buf
    }

    fn write_entries(dir: &Path, n: usize) -> (PathBuf, Vec<u8>) {
        let buf = entries(0, n);
        let p = path(dir, 0);
        std::fs::write(&p, &buf).unwrap();
        (p, buf)
    }

    fn scan_all(p: &Path) -> (Vec<RecoveredEntry>, ScanEnd) {
        let id = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let mut out = Vec::new();
        let end = scan(p, id, 1 << 20, None, &mut |e| out.push(e)).unwrap();
        (out, end)
    }

    #[test]
    fn intact_segment_scans_fully() {
        let d = tempfile::tempdir().unwrap();
        let (p, buf) = write_entries(d.path(), 5);
        let (e, end) = scan_all(&p);
        assert_eq!(e.len(), 5);
        assert_eq!(end.cut, 0);
        assert_eq!(end.end, buf.len() as u64);
        assert!(end.format2);
        assert_eq!(&e[3].batch[..], b"batch-3");
        assert_eq!(e[3].base_offset, 3);
    }

    #[test]
    fn a_recycled_file_yields_only_the_new_segments_entries() {
        let d = tempfile::tempdir().unwrap();
        // Segment 3 with 10 entries, kept as a spare, becomes segment 4 with 2 entries.
        let old = entries(3, 10);
        let spare = spare_path(d.path(), 3);
        std::fs::write(&spare, &old).unwrap();
        let (file, _) = create(d.path(), 4, Some(&spare)).unwrap();
        assert!(!spare.exists());
        let mut buf = Vec::new();
        encode_entry(&mut buf, 4, 9, 2, 100, 1, b"fresh-0");
        encode_entry(&mut buf, 4, 9, 2, 101, 1, b"fresh-1");
        file.write_all_at(&buf, FILE_HEADER_LEN).unwrap();
        drop(file);
        let p = path(d.path(), 4);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), old.len() as u64);
        let (e, end) = scan_all(&p);
        let got: Vec<_> = e.iter().map(|e| (e.base_offset, e.batch.clone())).collect();
        assert_eq!(
            got,
            vec![(100, Bytes::from("fresh-0")), (101, Bytes::from("fresh-1"))]
        );
        assert_eq!(end.end, FILE_HEADER_LEN + buf.len() as u64);
        // The old bytes stay (nothing is truncated) and the scan stays the same.
        assert_eq!(std::fs::metadata(&p).unwrap().len(), old.len() as u64);
        assert_eq!(scan_all(&p).1, end);
        // Before the first new entry lands (crash after the rename), none of the old ones count.
        let spare = spare_path(d.path(), 5);
        std::fs::write(&spare, &old).unwrap();
        let (file, _) = create(d.path(), 6, Some(&spare)).unwrap();
        drop(file);
        let (e, end) = scan_all(&path(d.path(), 6));
        assert!(e.is_empty());
        assert_eq!(end.end, FILE_HEADER_LEN);
    }

    /// Entries 0..n of segment 0 with one byte after the file header flipped (`cut_at` picks
    /// which, `flip` how); returns the path, the intact bytes and the damaged byte's offset.
    fn write_with_a_flipped_byte(
        dir: &Path,
        n: usize,
        cut_at: usize,
        flip: u8,
    ) -> (PathBuf, Vec<u8>, usize) {
        let (p, buf) = write_entries(dir, n);
        let mut damaged = buf.clone();
        let header = FILE_HEADER_LEN as usize;
        let at = header + cut_at % (damaged.len() - header);
        damaged[at] ^= flip | 1;
        std::fs::write(&p, &damaged).unwrap();
        (p, buf, at)
    }

    /// Entries 0..n of segment 0 with byte `at` of entry `victim`'s batch flipped.
    fn damaged_in_the_middle(dir: &Path, n: usize, victim: usize) -> (PathBuf, Vec<u8>) {
        let (p, mut buf) = write_entries(dir, n);
        let mut at = FILE_HEADER_LEN as usize;
        for i in 0..victim {
            at += ENTRY_HEADER_LEN + format!("batch-{i}").len();
        }
        buf[at + ENTRY_HEADER_LEN + 2] ^= 0x40;
        std::fs::write(&p, &buf).unwrap();
        (p, buf)
    }

    #[test]
    fn damage_followed_by_intact_entries_is_reported_not_taken_for_the_end() {
        let d = tempfile::tempdir().unwrap();
        // The measured case: a stopped node's active segment damaged in an early entry.
        let (p, buf) = damaged_in_the_middle(d.path(), 6, 1);
        for sealed in [None, Some(buf.len() as u64)] {
            let mut got = Vec::new();
            let end = scan(&p, 0, 1 << 20, sealed, &mut |e| got.push(e.base_offset)).unwrap();
            assert_eq!(got, vec![0, 2, 3, 4, 5], "sealed {sealed:?}");
            assert_eq!(end.damage.len(), 1);
            let first = FILE_HEADER_LEN + (ENTRY_HEADER_LEN + 7) as u64;
            assert_eq!(end.damage[0].offset, first);
            assert_eq!(end.damage[0].bytes, (ENTRY_HEADER_LEN + 7) as u64);
            assert_eq!(end.end, buf.len() as u64);
        }
    }

    #[test]
    fn a_bad_last_entry_is_a_torn_tail_unless_sealed() {
        let d = tempfile::tempdir().unwrap();
        let (p, buf) = damaged_in_the_middle(d.path(), 4, 3);
        let mut got = 0;
        let end = scan(&p, 0, 1 << 20, None, &mut |_| got += 1).unwrap();
        assert_eq!(got, 3);
        assert!(end.damage.is_empty(), "a torn write is not damage");
        let mut got = 0;
        let end = scan(&p, 0, 1 << 20, Some(buf.len() as u64), &mut |_| got += 1).unwrap();
        assert_eq!(got, 3);
        assert_eq!(end.damage.len(), 1, "inside the seal it was acknowledged");
    }

    #[test]
    fn bytes_past_the_seal_are_ignored_and_a_short_file_is_damage() {
        let d = tempfile::tempdir().unwrap();
        let (p, buf) = write_entries(d.path(), 5);
        // Sealed after 3 entries: the last 2 were written by a group that failed.
        let three = FILE_HEADER_LEN + 3 * (ENTRY_HEADER_LEN + 7) as u64;
        let mut got = Vec::new();
        let end = scan(&p, 0, 1 << 20, Some(three), &mut |e| {
            got.push(e.base_offset)
        })
        .unwrap();
        assert_eq!(got, vec![0, 1, 2]);
        assert!(end.damage.is_empty());
        assert_eq!((end.end, end.cut), (three, buf.len() as u64 - three));
        // Sealed past the end of the file: the end was lost.
        let end = scan(&p, 0, 1 << 20, Some(buf.len() as u64 + 100), &mut |_| {}).unwrap();
        assert_eq!(end.damage.len(), 1);
        assert_eq!(end.damage[0].bytes, 100);
    }

    #[test]
    fn format1_segments_are_still_read_and_torn_tails_cut() {
        let d = tempfile::tempdir().unwrap();
        // Format 1: no file header, each CRC over the entry's bytes alone.
        let mut buf = Vec::new();
        for i in 0..4i64 {
            let start = buf.len();
            encode_entry(&mut buf, 0, 7, 1, i, 0, b"old-format");
            let crc = crc32c::crc32c(&buf[start + 8..]);
            buf[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
        }
        let p = path(d.path(), 2);
        std::fs::write(&p, &buf[..buf.len() - 3]).unwrap();
        assert!(!is_format2(&p));
        let (e, end) = scan_all(&p);
        assert_eq!(e.len(), 3);
        assert!(!end.format2);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), end.end);
    }

    proptest! {
        // Fuzz: any bytes at all as a segment file: recovery never panics, keeps only intact
        // entries, and leaves a file that scans the same way afterwards.
        #[test]
        fn random_segment_contents(data in proptest::collection::vec(any::<u8>(), 0..2048), format2 in any::<bool>()) {
            let d = tempfile::tempdir().unwrap();
            let p = path(d.path(), 0);
            let data = if format2 { [&file_header(0)[..], &data].concat() } else { data };
            std::fs::write(&p, &data).unwrap();
            let (_, end) = scan_all(&p);
            prop_assert!(end.end + end.cut == data.len() as u64);
            let len = std::fs::metadata(&p).unwrap().len();
            if end.format2 {
                prop_assert_eq!(len, data.len() as u64);
            } else {
                prop_assert_eq!(len, end.end);
            }
            let (_, again) = scan_all(&p);
            prop_assert_eq!(again.end, end.end);
        }

        // An old entry never passes for one of a newer segment: ids differing in their low
        // 32 bits only (every id this WAL will reach) always give different CRCs.
        #[test]
        fn entry_crcs_of_different_segments_differ(a in any::<u64>(), diff in 1u64..=u64::from(u32::MAX), body in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_ne!(entry_crc(a, &body), entry_crc(a ^ diff, &body));
        }

        // Fuzz: one damaged byte in an unsealed segment (the one being written when the
        // process died). Every entry before the damage survives; the damaged entry never
        // does; entries after it are kept only where the damage was seen to be damage (an
        // intact entry of this segment follows the bad one), and then it is reported.
        #[test]
        fn damaged_byte_keeps_the_intact_prefix(n in 1usize..20, cut_at in 0usize..400, flip in any::<u8>()) {
            let d = tempfile::tempdir().unwrap();
            let (p, _, at) = write_with_a_flipped_byte(d.path(), n, cut_at, flip);
            let (entries, end) = scan_all(&p);
            // Entries that end before the damaged byte are intact and must all be found.
            let mut end_of = FILE_HEADER_LEN as usize;
            let mut intact = 0;
            for i in 0..n {
                end_of += ENTRY_HEADER_LEN + format!("batch-{i}").len();
                if end_of <= at { intact += 1; }
            }
            let got: Vec<i64> = entries.iter().map(|e| e.base_offset).collect();
            prop_assert_eq!(&got[..intact.min(got.len())], &(0..intact as i64).collect::<Vec<_>>()[..]);
            prop_assert!(!got.contains(&(intact as i64)), "the damaged entry is never visited");
            if got.len() > intact {
                prop_assert_eq!(end.damage.len(), 1);
                // In order, after the damaged one, through the last (a damaged length field
                // can frame the bad run to end at any later entry).
                let after = &got[intact..];
                prop_assert!(after.windows(2).all(|w| w[0] + 1 == w[1]));
                prop_assert!(after[0] > intact as i64);
                prop_assert_eq!(after.last().copied(), Some(n as i64 - 1));
            } else {
                prop_assert!(end.damage.is_empty());
            }
        }

        // Fuzz: the same in a sealed segment: nothing inside the seal is ever dropped
        // silently.
        #[test]
        fn damage_inside_a_seal_is_always_reported(n in 1usize..20, cut_at in 0usize..400, flip in any::<u8>()) {
            let d = tempfile::tempdir().unwrap();
            let (p, buf, _) = write_with_a_flipped_byte(d.path(), n, cut_at, flip);
            let mut visited = 0;
            let end = scan(&p, 0, 1 << 20, Some(buf.len() as u64), &mut |_| visited += 1).unwrap();
            prop_assert!(visited < n);
            prop_assert!(!end.damage.is_empty());
            prop_assert_eq!(end.end, buf.len() as u64);
        }
    }
}
