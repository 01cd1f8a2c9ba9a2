//! `imgport serve`: the import service of SPEC.md (R-FLOW-*, R-ERR, R-REGION).
//!
//! One process with embedded defaults: the cloud API and console on `listen`, an
//! S3/COS-compatible object store on `storage_listen`, state under `data_dir`
//! (SQLite database, objects, images) — or the database on PostgreSQL
//! (`database_url`). Storage and database sit behind traits ([`objects::ObjectStore`],
//! [`db::Db`] over [`db::sql::Conn`]) so an external S3 store can replace the one and
//! PostgreSQL replaces the other without touching the pipeline.
//!
//! Modules: [`config`], [`db`] (schema + typed queries, one file per table group),
//! [`objects`] (object bytes), [`api`] (Tencent Cloud API 3.0 style actions, one file
//! per action), [`s3`] (S3/COS REST), [`jobs`] (the durable import pipeline),
//! [`messages`] (message centre).

pub mod api;
pub mod config;
pub mod console;
pub mod cors;
pub mod db;
pub mod jobs;
pub mod messages;
pub mod metrics;
pub mod net;
pub mod objects;
pub mod perms;
pub mod replay;
pub mod s3;
pub mod secrets;
pub mod server;
pub mod timefmt;

pub use config::Config;

use std::sync::Arc;

/// Everything a request handler or a job worker needs.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: db::Db,
    pub objects: Arc<dyn objects::ObjectStore>,
    /// The operator's S3 store, with `object_store = "s3"` (issue 13): uploads and
    /// imported images live there, not under `data_dir`.
    pub external: Option<Arc<objects::s3::S3Store>>,
    /// Wakes idle job workers when a job is queued.
    wake: Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
}

impl AppState {
    /// Open (and create if needed) the data directory, database and object store.
    /// The data directory is made private first ([`perms::secure_data_dir`]).
    pub fn open(config: Config) -> anyhow::Result<AppState> {
        perms::secure_data_dir(&config.data_dir)
            .map_err(|e| anyhow::anyhow!("data directory {}: {e}", config.data_dir.display()))?;
        let db = config
            .open_db()
            .map_err(|e| anyhow::anyhow!("database {}: {e}", config.database_shown()))?;
        tracing::info!(database = %config.database_shown(), backend = %db.backend(), "database open");
        let objects: Arc<dyn objects::ObjectStore> = Arc::new(objects::FsObjectStore::new(
            config.data_dir.join("objects"),
        )?);
        perms::create_private_dir(&config.data_dir.join("images"))?;
        let external = match config.object_store {
            config::StoreKind::Embedded => None,
            config::StoreKind::S3 => {
                let s = objects::s3::S3Store::new(config.s3.clone())?;
                tracing::info!(endpoint = %config.s3.endpoint, images_bucket = %config.s3.images_bucket, "external object store");
                Some(s)
            }
        };
        Ok(AppState {
            config: Arc::new(config),
            db,
            objects,
            external,
            wake: Arc::default(),
        })
    }

    /// Where image `id`'s qcow2 is stored.
    pub fn image_path(&self, id: &str) -> std::path::PathBuf {
        let safe: String = id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        self.config
            .data_dir
            .join("images")
            .join(format!("{safe}.qcow2"))
    }

    /// A reader of an import's source (`images.source_blob`): a blob of the embedded
    /// store, or the external store's object exactly as it was when the import was
    /// requested (deleted or replaced since: an error saying so).
    pub fn open_source(&self, source_blob: &str) -> Result<Arc<dyn imgport_disk::ReadAt>, String> {
        match objects::SourceRef::parse(source_blob)? {
            objects::SourceRef::Blob(b) => self.objects.open(&b).map_err(|e| e.to_string()),
            objects::SourceRef::External {
                bucket,
                key,
                etag,
                size,
            } => {
                let store = self
                    .external
                    .as_ref()
                    .ok_or("the import names an object of an external store, which this server is not configured with")?;
                let head = store.head(&bucket, &key).map_err(|e| e.to_string())?;
                if head.etag != etag || head.size != size {
                    return Err(format!(
                        "the object {key} in bucket {bucket} was replaced after the import was requested (ETag {etag}, {size} bytes; now {}, {} bytes)",
                        head.etag, head.size
                    ));
                }
                store.open(&bucket, &key, &head).map_err(|e| e.to_string())
            }
        }
    }

    /// Wake the job workers (a job was queued).
    pub fn wake_workers(&self) {
        let (m, c) = &*self.wake;
        *m.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        c.notify_all();
    }

    /// Block until woken or `timeout` passes (a job worker with nothing to do).
    pub fn wait_for_work(&self, timeout: std::time::Duration) {
        let (m, c) = &*self.wake;
        let g = m.lock().unwrap_or_else(|e| e.into_inner());
        let seen = *g;
        let _ = c.wait_timeout_while(g, timeout, |n| *n == seen);
    }
}
