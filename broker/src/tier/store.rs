//! The object store behind the tier: built from `[object_storage]`, with request counters.
//!
//! Owns: credentials and endpoints for Local / GCS / S3, key naming under the prefix, and
//! the PUT/GET/DELETE/LIST counts the cost model is checked against. Never: decides what
//! to upload or delete.

use std::ops::Range;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig,
    StaticCredentialProvider, WriteMultipart,
};

use super::TierError;
use super::pace::{Pace, STEP_BYTES, Step};
use crate::config::BrokerConfig;

/// Request counters (Prometheus counters and the cost benchmark read them).
#[derive(Debug, Default)]
pub struct StoreStats {
    /// PUT requests (a multipart upload counts its parts plus two).
    pub puts: AtomicU64,
    /// Bytes written.
    pub put_bytes: AtomicU64,
    /// GET requests.
    pub gets: AtomicU64,
    /// Bytes read.
    pub get_bytes: AtomicU64,
    /// DELETE requests.
    pub deletes: AtomicU64,
    /// LIST requests.
    pub lists: AtomicU64,
    /// Failed requests of any kind.
    pub errors: AtomicU64,
}

/// An object listed by [`TierStore::list`].
#[derive(Debug, Clone)]
pub struct Listed {
    /// Key relative to the prefix root (as the catalog stores it).
    pub key: String,
    /// Last modification.
    pub modified: SystemTime,
}

/// The configured object store.
pub struct TierStore {
    store: Arc<dyn ObjectStore>,
    /// Local directory for `Local` (files are fsync'd after a PUT).
    local_dir: Option<std::path::PathBuf>,
    multipart_threshold: u64,
    stats: Arc<StoreStats>,
}

impl TierStore {
    /// Builds the store `[object_storage]` describes.
    pub fn from_config(cfg: &BrokerConfig) -> Result<Self, TierError> {
        let o = &cfg.object_storage;
        let bad = |e: object_store::Error| TierError::Config(e.to_string());
        let timeout = Duration::from_millis(o.request_timeout_ms);
        let options = ClientOptions::new()
            .with_allow_http(o.allow_http)
            .with_timeout(timeout)
            .with_connect_timeout(timeout.min(Duration::from_secs(5)));
        // Short inner retries: the uploader and readers retry with their own backoff, and a
        // store that is down must show up as failures, not as requests hanging for minutes.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: timeout,
        };
        let (store, local_dir): (Arc<dyn ObjectStore>, _) = match o.storage_type.as_str() {
            "Local" => {
                let dir = cfg.objects_dir();
                std::fs::create_dir_all(&dir).map_err(|e| {
                    TierError::Config(format!("object store directory {}: {e}", dir.display()))
                })?;
                (
                    Arc::new(LocalFileSystem::new_with_prefix(&dir).map_err(bad)?),
                    Some(dir),
                )
            }
            "Gcs" => {
                let mut b = GoogleCloudStorageBuilder::new()
                    .with_bucket_name(&o.bucket)
                    .with_client_options(options)
                    .with_retry(retry);
                if let Some(p) = &o.service_account_path {
                    b = b.with_service_account_path(p.to_string_lossy());
                }
                if let Some(url) = &o.endpoint {
                    b = b.with_base_url(url);
                    if o.service_account_path.is_none() && o.access_key.is_none() {
                        // An emulator endpoint without credentials: send no token.
                        b = b.with_credentials(Arc::new(StaticCredentialProvider::new(
                            GcpCredential {
                                bearer: String::new(),
                            },
                        )));
                    }
                }
                (Arc::new(b.build().map_err(bad)?), None)
            }
            "S3" => {
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(&o.bucket)
                    .with_region(&o.region)
                    .with_client_options(options)
                    .with_retry(retry);
                if let Some(url) = &o.endpoint {
                    b = b.with_endpoint(url);
                }
                if let (Some(k), Some(s)) = (&o.access_key, &o.secret_key) {
                    b = b.with_access_key_id(k).with_secret_access_key(s);
                }
                (Arc::new(b.build().map_err(bad)?), None)
            }
            other => {
                return Err(TierError::Config(format!(
                    "object_storage.storage_type '{other}' is not Local, Gcs or S3"
                )));
            }
        };
        Ok(Self {
            store,
            local_dir,
            multipart_threshold: o.multipart_threshold.max(5 * 1024 * 1024),
            stats: Arc::default(),
        })
    }

    /// Another client of the same store (its own HTTP connections, so they are driven by
    /// the runtime that uses it) counting into the same [`StoreStats`].
    pub fn sibling(&self, cfg: &BrokerConfig) -> Result<Self, TierError> {
        let mut s = Self::from_config(cfg)?;
        s.stats = self.stats.clone();
        Ok(s)
    }

    /// Counters.
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    fn count<T>(&self, r: object_store::Result<T>) -> Result<T, TierError> {
        r.map_err(|e| {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            TierError::Store(e.to_string())
        })
    }

    /// Writes an object atomically (multipart above the threshold). A local directory is
    /// written `pace`'s way, [`STEP_BYTES`] at a time with rests in between; a remote
    /// store's upload is paced by the network it goes through.
    pub async fn put(&self, key: &str, body: Bytes, pace: Pace) -> Result<(), TierError> {
        let path = Path::from(key);
        let len = body.len() as u64;
        if let (Some(dir), true) = (&self.local_dir, pace.is_paced()) {
            let file = dir.join(key);
            let written = tokio::task::spawn_blocking(move || write_paced(&file, &body, pace))
                .await
                .map_err(|e| TierError::Store(e.to_string()))?;
            if let Err(e) = written {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                return Err(TierError::Store(format!("writing {key}: {e}")));
            }
            self.stats.puts.fetch_add(1, Ordering::Relaxed);
        } else if len > self.multipart_threshold {
            let chunk = 16 * 1024 * 1024;
            let upload = self.count(self.store.put_multipart(&path).await)?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, chunk);
            w.put(body);
            self.count(w.finish().await)?;
            let parts = len.div_ceil(chunk as u64);
            self.stats.puts.fetch_add(parts + 2, Ordering::Relaxed);
        } else {
            self.count(self.store.put(&path, body.into()).await)?;
            self.stats.puts.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.put_bytes.fetch_add(len, Ordering::Relaxed);
        if let Some(dir) = &self.local_dir {
            // The local store renames a temp file into place but does not fsync: do it, so
            // a machine crash cannot lose an object whose WAL segments were deleted.
            let file = dir.join(key);
            let sync = move || -> std::io::Result<()> {
                std::fs::File::open(&file)?.sync_all()?;
                if let Some(d) = FsPath::new(&file).parent() {
                    std::fs::File::open(d)?.sync_all()?;
                }
                Ok(())
            };
            tokio::task::spawn_blocking(sync)
                .await
                .map_err(|e| TierError::Store(e.to_string()))?
                .map_err(|e| TierError::Store(format!("fsync of {key}: {e}")))?;
        }
        Ok(())
    }

    /// Reads a byte range.
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, TierError> {
        let b = self.count(self.store.get_range(&Path::from(key), range).await)?;
        self.stats.gets.fetch_add(1, Ordering::Relaxed);
        self.stats
            .get_bytes
            .fetch_add(b.len() as u64, Ordering::Relaxed);
        Ok(b)
    }

    /// Reads a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes, TierError> {
        let r = self.count(self.store.get(&Path::from(key)).await)?;
        let b = self.count(r.bytes().await)?;
        self.stats.gets.fetch_add(1, Ordering::Relaxed);
        self.stats
            .get_bytes
            .fetch_add(b.len() as u64, Ordering::Relaxed);
        Ok(b)
    }

    /// Deletes an object; deleting a missing object succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), TierError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                self.stats.deletes.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => self.count(Err(e)),
        }
    }

    /// Every object under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, TierError> {
        self.stats.lists.fetch_add(1, Ordering::Relaxed);
        let metas: Vec<_> = self.count(
            self.store
                .list(Some(&Path::from(prefix)))
                .try_collect::<Vec<_>>()
                .await,
        )?;
        Ok(metas
            .into_iter()
            .map(|m| Listed {
                key: m.location.to_string(),
                modified: SystemTime::from(m.last_modified),
            })
            .collect())
    }
}

/// Writes `body` to `dest` [`STEP_BYTES`] at a time, resting after each step as `pace`
/// says, through a staging file beside it that is renamed into place (readers see the whole
/// object or none). The staging name, `name#digits`, is one the local store never lists,
/// as with its own uploads.
fn write_paced(dest: &FsPath, body: &[u8], pace: Pace) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut n = 0u32;
    let (mut file, staged) = loop {
        let mut name = dest.as_os_str().to_owned();
        name.push(format!("#{n}"));
        let staged = std::path::PathBuf::from(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staged)
        {
            Ok(f) => break (f, staged),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    };
    let mut steps = || -> std::io::Result<()> {
        for chunk in body.chunks(STEP_BYTES) {
            let step = Step::start();
            file.write_all(chunk)?;
            std::thread::sleep(pace.rest_after(step.worked()));
        }
        Ok(())
    };
    let done = steps().and_then(|()| std::fs::rename(&staged, dest));
    if done.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_paced_local_write_lands_whole_and_its_staging_name_is_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let body: Vec<u8> = (0..STEP_BYTES * 3 + 12345)
            .map(|i| (i % 253) as u8)
            .collect();
        let dest = dir.path().join("p/broker-1/wal/obj-1");
        // A staging file left by a crash mid-write: the next write takes another name.
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dir.path().join("p/broker-1/wal/obj-1#0"), b"torn").unwrap();
        write_paced(&dest, &body, Pace::new(0.5)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        assert!(!dir.path().join("p/broker-1/wal/obj-1#1").exists());

        let store = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let listed: Vec<String> = store
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed, vec!["p/broker-1/wal/obj-1".to_string()]);
        let got = store
            .get(&Path::from("p/broker-1/wal/obj-1"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(got.as_ref(), body.as_slice());
    }

    #[test]
    fn a_failed_paced_write_leaves_no_staging_file() {
        let dir = tempfile::tempdir().unwrap();
        // The destination is a directory: the rename fails after the steps were written.
        let dest = dir.path().join("obj");
        std::fs::create_dir(&dest).unwrap();
        std::fs::write(dest.join("keep"), b"x").unwrap();
        assert!(write_paced(&dest, b"body", Pace::new(0.5)).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("obj")]);
    }
}
