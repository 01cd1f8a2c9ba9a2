//! The operator's own S3-compatible object store (issue 13: Garage, Ceph RGW, MinIO, COS,
//! AWS S3) in place of the embedded one. Users upload to it with their own tools;
//! ImportImage links point at it ([`crate::s3::external_url`]); import jobs read the
//! source by ranged GETs pinned to the object's ETag ([`S3Object`], behind the disk
//! crate's block cache for coalescing, readahead and prefetch) and write the qcow2 by a
//! streamed multipart upload ([`super::s3_upload::MultipartSink`]).
//!
//! The S3 protocol is the `object_store` crate's (Apache Arrow; signing, retries with
//! backoff on 5xx/timeouts/resets, multipart, listing), not ours: docs/decisions.md.
//! Its API is async; this module gives the synchronous job pipeline and the disk
//! crate's [`ReadAt`] a blocking face on a small runtime of its own.

use crate::config::ExternalStore;
use bytes::Bytes;
use futures_util::StreamExt;
use imgport_disk::source::{BlockCache, BlockCacheOptions};
use imgport_disk::ReadAt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as KeyPath;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore as _, ObjectStoreExt as _,
    RetryConfig,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("there is no object {key} in bucket {bucket}")]
    NotFound { bucket: String, key: String },
    #[error("the object {key} in bucket {bucket} was replaced while it was read (its ETag is no longer {etag})")]
    Replaced {
        bucket: String,
        key: String,
        etag: String,
    },
    #[error("the object store at {endpoint}: {detail}")]
    Store { endpoint: String, detail: String },
}

/// What a HEAD of an object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: String,
}

/// A connection to the external store: one client per bucket (the crate's clients are
/// per bucket), one runtime for all of them.
pub struct S3Store {
    cfg: ExternalStore,
    rt: tokio::runtime::Runtime,
    clients: Mutex<HashMap<String, Arc<AmazonS3>>>,
    /// Requests sent (for tests and metrics).
    requests: AtomicU64,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("endpoint", &self.cfg.endpoint)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// A store for `cfg` (no request is sent yet).
    pub fn new(cfg: ExternalStore) -> Result<Arc<S3Store>, S3Error> {
        cfg.validate().map_err(|detail| S3Error::Store {
            endpoint: cfg.endpoint.clone(),
            detail,
        })?;
        // https endpoints: rustls on ring (already installed is fine).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("imgport-s3")
            .enable_all()
            .build()
            .map_err(|e| S3Error::Store {
                endpoint: cfg.endpoint.clone(),
                detail: format!("starting its client runtime: {e}"),
            })?;
        Ok(Arc::new(S3Store {
            cfg,
            rt,
            clients: Mutex::default(),
            requests: AtomicU64::new(0),
        }))
    }

    /// The configuration this store was made from.
    pub fn config(&self) -> &ExternalStore {
        &self.cfg
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn err(&self, e: impl std::fmt::Display) -> S3Error {
        S3Error::Store {
            endpoint: self.cfg.endpoint.clone(),
            detail: e.to_string(),
        }
    }

    /// The client of `bucket`.
    pub(crate) fn client(&self, bucket: &str) -> Result<Arc<AmazonS3>, S3Error> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(bucket) {
            return Ok(c.clone());
        }
        let c = &self.cfg;
        let client = AmazonS3Builder::new()
            .with_endpoint(c.endpoint.trim_end_matches('/'))
            .with_region(&c.signing_region)
            .with_bucket_name(bucket)
            .with_access_key_id(&c.access_key_id)
            .with_secret_access_key(&c.secret_access_key)
            .with_virtual_hosted_style_request(c.virtual_host)
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(5),
                    base: 2.0,
                },
                max_retries: 8,
                retry_timeout: Duration::from_secs(120),
            })
            .with_client_options(
                // Client options replace the builder's: http is allowed here.
                ClientOptions::new()
                    .with_allow_http(true)
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(60))
                    .with_pool_max_idle_per_host(16),
            )
            .build()
            .map_err(|e| self.err(e))?;
        let client = Arc::new(client);
        clients.insert(bucket.to_string(), client.clone());
        Ok(client)
    }

    /// Run `fut` to its end from synchronous code: a job worker, a blocking handler —
    /// or code that is itself called from an async task (the database-style "block
    /// briefly" calls of the service): there the wait moves to a thread of its own, as
    /// a runtime cannot be blocked on from inside another.
    pub(crate) fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.rt.block_on(fut);
        }
        std::thread::scope(|s| {
            s.spawn(|| self.rt.block_on(fut))
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Start `fut` in the background.
    pub(crate) fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.spawn(fut)
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn map_err(&self, bucket: &str, key: &str, e: object_store::Error) -> S3Error {
        match e {
            object_store::Error::NotFound { .. } => S3Error::NotFound {
                bucket: bucket.into(),
                key: key.into(),
            },
            e => self.err(e),
        }
    }

    /// Size and ETag of `bucket/key`.
    pub fn head(&self, bucket: &str, key: &str) -> Result<ObjectHead, S3Error> {
        let client = self.client(bucket)?;
        self.count_request();
        let meta = self
            .block_on(client.head(&KeyPath::from(key)))
            .map_err(|e| self.map_err(bucket, key, e))?;
        Ok(ObjectHead {
            size: meta.size,
            etag: meta.e_tag.unwrap_or_default(),
        })
    }

    /// Positioned reads of `bucket/key` as it is now (`head`): every read asks for the
    /// same ETag, so an object replaced mid-import fails cleanly ([`S3Error::Replaced`]);
    /// behind the disk crate's block cache with readahead (sequential phases) and
    /// concurrent prefetch (a format's metadata).
    pub fn open(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        head: &ObjectHead,
    ) -> Result<Arc<dyn ReadAt>, S3Error> {
        let client = self.client(bucket)?;
        let object = S3Object {
            store: self.clone(),
            client,
            bucket: bucket.into(),
            key: key.into(),
            head: head.clone(),
            fetched: AtomicU64::new(0),
        };
        Ok(Arc::new(BlockCache::with_options(
            object,
            BlockCacheOptions::remote(),
        )))
    }

    /// Delete `bucket/key` (missing is not an error).
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        let client = self.client(bucket)?;
        self.count_request();
        match self.block_on(client.delete(&KeyPath::from(key))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Copy `from` to `to` within `bucket`, on the store's side (no bytes through us).
    pub fn copy(&self, bucket: &str, from: &str, to: &str) -> Result<(), S3Error> {
        let client = self.client(bucket)?;
        self.count_request();
        self.block_on(client.copy(&KeyPath::from(from), &KeyPath::from(to)))
            .map_err(|e| self.map_err(bucket, from, e))
    }

    /// Every object under `prefix` of `bucket`, with its last modification (Unix s).
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<(String, i64)>, S3Error> {
        let client = self.client(bucket)?;
        self.count_request();
        let prefix = KeyPath::from(prefix.trim_end_matches('/'));
        self.block_on(async {
            let mut out = Vec::new();
            let mut s = client.list(Some(&prefix));
            while let Some(m) = s.next().await {
                let m = m.map_err(|e| self.err(e))?;
                out.push((m.location.to_string(), m.last_modified.timestamp()));
            }
            Ok(out)
        })
    }

    /// The store's answer (HTTP status) to a GET of the first byte of `url` exactly as
    /// a user gave it — its signature, the key's rights and the object's ACL are the
    /// store's to judge. The caller has checked that `url` is of this store; redirects
    /// are not followed (no other host is ever contacted).
    pub fn probe_link(&self, url: &str) -> Result<u16, S3Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| self.err(e))?;
        self.count_request();
        self.block_on(async {
            let r = client
                .get(url)
                .header("Range", "bytes=0-0")
                .send()
                .await
                .map_err(|e| self.err(e))?;
            Ok(r.status().as_u16())
        })
    }

    /// The key of image `id`'s qcow2 in the images bucket.
    pub fn image_key(&self, id: &str) -> String {
        let safe: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        format!("{}{safe}.qcow2", self.cfg.images_prefix())
    }

    /// Abort the multipart upload `upload_id` of `key` in the images bucket (a crashed
    /// or taken-over attempt's parts; a finished or unknown upload is not an error).
    pub fn abort_upload(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        use object_store::multipart::MultipartStore as _;
        let client = self.client(&self.cfg.images_bucket)?;
        self.count_request();
        match self.block_on(client.abort_multipart(&KeyPath::from(key), &upload_id.to_string())) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }
}

/// One object read by ranged GETs with `If-Match: ETAG`.
pub struct S3Object {
    store: Arc<S3Store>,
    client: Arc<AmazonS3>,
    bucket: String,
    key: String,
    head: ObjectHead,
    fetched: AtomicU64,
}

impl S3Object {
    fn get(&self, offset: u64, len: u64) -> Result<Bytes, S3Error> {
        let opts = GetOptions {
            if_match: (!self.head.etag.is_empty()).then(|| self.head.etag.clone()),
            range: Some(GetRange::Bounded(offset..offset + len)),
            ..GetOptions::default()
        };
        self.store.count_request();
        let path = KeyPath::from(self.key.as_str());
        self.store
            .block_on(async {
                let r = self.client.get_opts(&path, opts).await?;
                r.bytes().await
            })
            .map_err(|e| match e {
                object_store::Error::Precondition { .. } => S3Error::Replaced {
                    bucket: self.bucket.clone(),
                    key: self.key.clone(),
                    etag: self.head.etag.clone(),
                },
                e => self.store.map_err(&self.bucket, &self.key, e),
            })
    }
}

impl ReadAt for S3Object {
    fn size(&self) -> u64 {
        self.head.size
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> imgport_disk::Result<()> {
        imgport_disk::source::check_bounds(&|| self.describe(), offset, buf.len(), self.size())?;
        if buf.is_empty() {
            return Ok(());
        }
        let io = |e: std::io::Error| imgport_disk::Error::Io {
            what: self.describe(),
            source: e,
        };
        let bytes = self
            .get(offset, buf.len() as u64)
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        if bytes.len() != buf.len() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "asked for {} bytes at {offset}, the store sent {}",
                    buf.len(),
                    bytes.len()
                ),
            )));
        }
        buf.copy_from_slice(&bytes);
        self.fetched.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn bytes_read(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}
