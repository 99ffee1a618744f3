//! The object catalog: which uploaded objects hold which offsets of which partition.
//!
//! Owns: the mapping partition -> ordered object slices, each object's reference count, and
//! the list of objects no slice references any more (deleted from the bucket after a grace
//! period). Never: talks to object storage; brokers do the I/O and propose changes here.
//!
//! Maps are persistent (`imbl`), so publishing the metadata after every command shares the
//! catalog instead of copying it.

use std::fmt;
use std::str::FromStr;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};

/// A partition by topic id (never reused) and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    /// Topic id.
    pub topic_id: u64,
    /// Partition index.
    pub partition: u32,
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic_id, self.partition)
    }
}

impl FromStr for PartitionKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (t, p) = s
            .split_once('-')
            .ok_or_else(|| format!("bad partition key '{s}'"))?;
        Ok(Self {
            topic_id: t.parse().map_err(|_| format!("bad topic id in '{s}'"))?,
            partition: p.parse().map_err(|_| format!("bad partition in '{s}'"))?,
        })
    }
}

// JSON map keys must be strings: "topic_id-partition".
impl Serialize for PartitionKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartitionKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The batches of one partition inside an object: contiguous offsets and contiguous bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRange {
    /// Topic id.
    pub topic_id: u64,
    /// Partition.
    pub partition: u32,
    /// First offset of the first batch.
    pub base_offset: i64,
    /// Last offset of the last batch.
    pub last_offset: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Byte position in the object.
    pub byte_start: u64,
    /// Byte length.
    pub byte_len: u64,
}

impl PartitionRange {
    /// The partition this range belongs to.
    pub fn key(&self) -> PartitionKey {
        PartitionKey {
            topic_id: self.topic_id,
            partition: self.partition,
        }
    }
}

/// An object as a broker uploaded (or compacted) it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedObject {
    /// Object key in the bucket; unique per upload.
    pub key: String,
    /// Object size in bytes.
    pub size: u64,
    /// Where the batch index starts (see the broker's `tier::object` format).
    pub index_start: u64,
    /// Index length.
    pub index_len: u32,
    /// Broker that wrote it.
    pub broker_id: u32,
    /// 0 = uploaded from a WAL (many partitions), 1 = written by compaction.
    pub level: u8,
    /// When written (ms since the epoch).
    pub created_at_ms: i64,
    /// Partitions it holds.
    pub ranges: Vec<PartitionRange>,
}

/// An object the catalog references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogObject {
    /// Size in bytes.
    pub size: u64,
    /// Batch index position.
    pub index_start: u64,
    /// Batch index length.
    pub index_len: u32,
    /// Writer.
    pub broker_id: u32,
    /// Compaction level.
    pub level: u8,
    /// When written.
    pub created_at_ms: i64,
    /// Slices still pointing at it; at zero the object moves to `deleting`.
    pub refs: u32,
}

/// One partition's offsets inside one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSlice {
    /// Object key.
    pub key: String,
    /// First offset.
    pub base_offset: i64,
    /// Last offset.
    pub last_offset: i64,
    /// Largest timestamp.
    pub max_timestamp: i64,
    /// Byte position in the object.
    pub byte_start: u64,
    /// Byte length.
    pub byte_len: u64,
}

/// A partition's uploaded log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionCatalog {
    /// First offset still retained (retention moves it forward).
    pub start_offset: i64,
    /// Slices by base offset, non-overlapping and ascending.
    pub slices: OrdMap<i64, ObjectSlice>,
    /// Bytes in slices.
    pub bytes: u64,
}

impl PartitionCatalog {
    /// The next offset not in object storage.
    pub fn uploaded_end(&self) -> i64 {
        self.slices
            .get_max()
            .map(|(_, s)| s.last_offset + 1)
            .unwrap_or(self.start_offset)
            .max(self.start_offset)
    }

    /// The slice holding `offset`, or the first one after it when `offset` falls in a gap
    /// (data that retention removed before it was uploaded).
    pub fn find(&self, offset: i64) -> Option<&ObjectSlice> {
        if let Some((_, s)) = self.slices.get_prev(&offset)
            && s.last_offset >= offset
        {
            return Some(s);
        }
        self.slices.get_next(&offset).map(|(_, s)| s)
    }
}

/// Why a catalog change was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CatalogError {
    /// Compaction's input changed (retention or another compaction got there first).
    #[error("compaction of {key} is stale: {reason}")]
    StaleCompaction {
        /// The compacted object.
        key: String,
        /// What no longer matches.
        reason: String,
    },
    /// An object key was registered twice with different contents.
    #[error("object {0} is already registered")]
    DuplicateKey(String),
}

/// What registering an upload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Registered {
    /// Ranges accepted (ranges already covered by earlier uploads are skipped).
    Accepted(usize),
    /// Everything in it was already uploaded (a retry after a crash): delete the object.
    Redundant,
}

/// Every uploaded object and partition slice the cluster knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Referenced objects by key.
    pub objects: OrdMap<String, CatalogObject>,
    /// Partitions with uploaded data (or a moved start offset).
    pub partitions: OrdMap<PartitionKey, PartitionCatalog>,
    /// Objects nothing references, by key, with the time they became unreferenced. Brokers
    /// delete them from the bucket after a grace period (readers may still hold slices).
    pub deleting: OrdMap<String, i64>,
}

impl Catalog {
    /// A partition's catalog, if it has one.
    pub fn partition(&self, key: PartitionKey) -> Option<&PartitionCatalog> {
        self.partitions.get(&key)
    }

    /// Registers an upload. Ranges that end at or below what is already uploaded are dropped
    /// (a retry of an upload that did register); an upload with no new range is `Redundant`
    /// and is not referenced.
    pub fn register(&mut self, obj: UploadedObject) -> Result<Registered, CatalogError> {
        if self.objects.contains_key(&obj.key) || self.deleting.contains_key(&obj.key) {
            return Err(CatalogError::DuplicateKey(obj.key));
        }
        let mut accepted = 0;
        for r in &obj.ranges {
            let pc = self.partitions.entry(r.key()).or_default();
            if r.last_offset < pc.uploaded_end() {
                continue;
            }
            pc.bytes += r.byte_len;
            pc.slices.insert(r.base_offset, slice(&obj.key, r));
            accepted += 1;
        }
        if accepted == 0 {
            return Ok(Registered::Redundant);
        }
        self.objects
            .insert(obj.key.clone(), object_entry(&obj, accepted));
        Ok(Registered::Accepted(accepted))
    }

    /// Replaces the slices a compacted object covers. Every range of `obj` must be covered
    /// exactly by current slices (same first base, same last offset, no gaps), otherwise
    /// nothing changes. Objects left without slices move to `deleting`.
    pub fn replace(&mut self, obj: UploadedObject, now_ms: i64) -> Result<(), CatalogError> {
        if self.objects.contains_key(&obj.key) || self.deleting.contains_key(&obj.key) {
            return Err(CatalogError::DuplicateKey(obj.key));
        }
        let stale = |reason: String| CatalogError::StaleCompaction {
            key: obj.key.clone(),
            reason,
        };
        for r in &obj.ranges {
            let pc = self
                .partitions
                .get(&r.key())
                .ok_or_else(|| stale(format!("partition {} is gone", r.key())))?;
            let mut expect = r.base_offset;
            for (_, s) in pc.slices.range(r.base_offset..=r.last_offset) {
                if s.base_offset != expect {
                    return Err(stale(format!("gap or overlap at offset {expect}")));
                }
                expect = s.last_offset + 1;
            }
            if expect != r.last_offset + 1 {
                return Err(stale(format!("slices end at {}", expect - 1)));
            }
        }
        let mut released = Vec::new();
        for r in &obj.ranges {
            let Some(pc) = self.partitions.get_mut(&r.key()) else {
                continue;
            };
            let bases: Vec<i64> = pc
                .slices
                .range(r.base_offset..=r.last_offset)
                .map(|(b, _)| *b)
                .collect();
            for b in bases {
                if let Some(old) = pc.slices.remove(&b) {
                    pc.bytes -= old.byte_len;
                    released.push(old.key);
                }
            }
            pc.bytes += r.byte_len;
            pc.slices.insert(r.base_offset, slice(&obj.key, r));
        }
        self.objects
            .insert(obj.key.clone(), object_entry(&obj, obj.ranges.len()));
        self.unref(released, now_ms);
        Ok(())
    }

    /// Retention: drops every slice that ends below `start_offset` and moves the partition's
    /// start there. Never moves the start backwards.
    pub fn trim(&mut self, key: PartitionKey, start_offset: i64, now_ms: i64) {
        let pc = self.partitions.entry(key).or_default();
        if start_offset <= pc.start_offset {
            return;
        }
        pc.start_offset = start_offset;
        let drop: Vec<i64> = pc
            .slices
            .iter()
            .take_while(|(_, s)| s.last_offset < start_offset)
            .map(|(b, _)| *b)
            .collect();
        let mut released = Vec::new();
        for b in drop {
            if let Some(s) = pc.slices.remove(&b) {
                pc.bytes -= s.byte_len;
                released.push(s.key);
            }
        }
        self.unref(released, now_ms);
    }

    /// A topic was deleted: forget its partitions.
    pub fn drop_topic(&mut self, topic_id: u64, now_ms: i64) {
        let keys: Vec<PartitionKey> = self
            .partitions
            .keys()
            .filter(|k| k.topic_id == topic_id)
            .copied()
            .collect();
        let mut released = Vec::new();
        for k in keys {
            if let Some(pc) = self.partitions.remove(&k) {
                released.extend(pc.slices.into_iter().map(|(_, s)| s.key));
            }
        }
        self.unref(released, now_ms);
    }

    /// The objects were deleted from the bucket.
    pub fn forget(&mut self, keys: &[String]) {
        for k in keys {
            self.deleting.remove(k);
        }
    }

    /// Whether the catalog references `key` or is about to delete it.
    pub fn knows(&self, key: &str) -> bool {
        self.objects.contains_key(key) || self.deleting.contains_key(key)
    }

    fn unref(&mut self, keys: Vec<String>, now_ms: i64) {
        for k in keys {
            let gone = match self.objects.get_mut(&k) {
                Some(o) => {
                    o.refs = o.refs.saturating_sub(1);
                    o.refs == 0
                }
                None => false,
            };
            if gone {
                self.objects.remove(&k);
                self.deleting.insert(k, now_ms);
            }
        }
    }
}

fn slice(key: &str, r: &PartitionRange) -> ObjectSlice {
    ObjectSlice {
        key: key.to_string(),
        base_offset: r.base_offset,
        last_offset: r.last_offset,
        max_timestamp: r.max_timestamp,
        byte_start: r.byte_start,
        byte_len: r.byte_len,
    }
}

fn object_entry(obj: &UploadedObject, refs: usize) -> CatalogObject {
    CatalogObject {
        size: obj.size,
        index_start: obj.index_start,
        index_len: obj.index_len,
        broker_id: obj.broker_id,
        level: obj.level,
        created_at_ms: obj.created_at_ms,
        refs: refs as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(p: u32, base: i64, last: i64, at: u64) -> PartitionRange {
        PartitionRange {
            topic_id: 1,
            partition: p,
            base_offset: base,
            last_offset: last,
            max_timestamp: 0,
            byte_start: at,
            byte_len: 100,
        }
    }

    fn obj(key: &str, level: u8, ranges: Vec<PartitionRange>) -> UploadedObject {
        UploadedObject {
            key: key.into(),
            size: 100 * ranges.len() as u64,
            index_start: 0,
            index_len: 0,
            broker_id: 1,
            level,
            created_at_ms: 0,
            ranges,
        }
    }

    fn pk(p: u32) -> PartitionKey {
        PartitionKey {
            topic_id: 1,
            partition: p,
        }
    }

    #[test]
    fn register_skips_what_is_already_uploaded() {
        let mut c = Catalog::default();
        let a = obj("a", 0, vec![range(0, 0, 9, 0), range(1, 0, 4, 100)]);
        assert_eq!(c.register(a.clone()), Ok(Registered::Accepted(2)));
        assert_eq!(c.register(a), Err(CatalogError::DuplicateKey("a".into())));
        // A retry after a crash re-uploads the same offsets under a new key.
        let retry = obj("b", 0, vec![range(0, 0, 9, 0), range(1, 0, 4, 100)]);
        assert_eq!(c.register(retry), Ok(Registered::Redundant));
        assert!(!c.knows("b"));
        let more = obj("c", 0, vec![range(0, 0, 9, 0), range(1, 5, 7, 100)]);
        assert_eq!(c.register(more), Ok(Registered::Accepted(1)));
        assert_eq!(c.partition(pk(1)).map(|p| p.uploaded_end()), Some(8));
        assert_eq!(c.objects["c"].refs, 1);
    }

    #[test]
    fn find_returns_the_covering_slice_or_the_next() {
        let mut c = Catalog::default();
        c.register(obj("a", 0, vec![range(0, 0, 9, 0)])).unwrap();
        c.register(obj("b", 0, vec![range(0, 20, 29, 0)])).unwrap();
        let p = c.partition(pk(0)).unwrap();
        assert_eq!(p.find(5).map(|s| s.key.as_str()), Some("a"));
        assert_eq!(p.find(12).map(|s| s.key.as_str()), Some("b"));
        assert_eq!(p.find(29).map(|s| s.key.as_str()), Some("b"));
        assert!(p.find(30).is_none());
    }

    #[test]
    fn compaction_replaces_exactly_and_releases_objects() {
        let mut c = Catalog::default();
        c.register(obj("a", 0, vec![range(0, 0, 9, 0), range(1, 0, 9, 100)]))
            .unwrap();
        c.register(obj(
            "b",
            0,
            vec![range(0, 10, 19, 0), range(1, 10, 19, 100)],
        ))
        .unwrap();
        // Misaligned: refused, nothing changes.
        let before = c.clone();
        assert!(matches!(
            c.replace(obj("x", 1, vec![range(0, 0, 14, 0)]), 5),
            Err(CatalogError::StaleCompaction { .. })
        ));
        assert_eq!(c, before);
        c.replace(obj("p0", 1, vec![range(0, 0, 19, 0)]), 5)
            .unwrap();
        assert_eq!(c.objects["a"].refs, 1);
        assert!(c.deleting.is_empty());
        c.replace(obj("p1", 1, vec![range(1, 0, 19, 0)]), 6)
            .unwrap();
        assert_eq!(c.deleting.get("a"), Some(&6));
        assert_eq!(c.deleting.get("b"), Some(&6));
        assert_eq!(c.partition(pk(0)).unwrap().slices.len(), 1);
        c.forget(&["a".into()]);
        assert!(!c.knows("a") && c.knows("b"));
    }

    #[test]
    fn trim_and_drop_topic_release_objects() {
        let mut c = Catalog::default();
        c.register(obj("a", 0, vec![range(0, 0, 9, 0), range(1, 0, 9, 100)]))
            .unwrap();
        c.register(obj("b", 0, vec![range(0, 10, 19, 0)])).unwrap();
        c.trim(pk(0), 15, 1);
        let p = c.partition(pk(0)).unwrap();
        assert_eq!(p.start_offset, 15);
        assert_eq!(p.slices.len(), 1);
        assert_eq!(p.uploaded_end(), 20);
        assert!(c.objects.contains_key("a"), "partition 1 still uses it");
        c.trim(pk(0), 3, 2);
        assert_eq!(c.partition(pk(0)).unwrap().start_offset, 15);
        c.drop_topic(1, 3);
        assert!(c.partitions.is_empty());
        assert_eq!(c.deleting.get("a"), Some(&3));
        assert_eq!(c.deleting.get("b"), Some(&3));
    }

    #[test]
    fn serializes_through_json() {
        let mut c = Catalog::default();
        c.register(obj("a", 0, vec![range(0, 0, 9, 0)])).unwrap();
        let back: Catalog = serde_json::from_slice(&serde_json::to_vec(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
