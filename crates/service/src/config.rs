//! Service configuration: defaults, overridden by a TOML file, then by `IMGPORT_*`
//! environment variables, then by command-line flags (applied by the CLI).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// How the service runs.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Cloud API + console address.
    pub listen: SocketAddr,
    /// S3/COS-compatible object store address.
    pub storage_listen: SocketAddr,
    /// State: `imgport.sqlite3` (unless `database_url` names PostgreSQL), `objects/`,
    /// `images/`.
    pub data_dir: PathBuf,
    /// The region this service is (R-REGION), e.g. `ap-guangzhou`.
    pub region: String,
    /// Regions whose buckets this service knows (a bucket lives in one of them).
    pub regions: Vec<String>,
    /// Concurrent import jobs.
    pub workers: usize,
    /// How long a worker's lease on a job lasts without renewal (seconds).
    pub job_lease_secs: u64,
    /// The storage endpoint as clients see it (for object URLs), e.g. `http://127.0.0.1:9001`.
    pub storage_public_url: Option<String>,
    /// Allowed clock skew for signed requests (seconds).
    pub max_clock_skew_secs: i64,
    /// The database: empty for SQLite in `data_dir/imgport.sqlite3` (one machine), or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` for PostgreSQL (several servers on one
    /// database; objects and images stay under `data_dir`). Never logged with its
    /// password ([`Config::database_shown`]).
    pub database_url: String,
    /// Connections to PostgreSQL per server (each a thread of its own).
    pub database_connections: usize,

    // Connection limits of both listeners (issue 18 item 3; [`crate::net`]). 0: none.
    /// Once the first byte of a request arrives, its head must be complete within
    /// this many seconds.
    pub header_read_timeout_secs: u64,
    /// A connection with no request in progress that receives nothing for this many
    /// seconds is closed.
    pub idle_timeout_secs: u64,
    /// Request bodies must average at least this many bytes per second over
    /// `body_rate_window_secs`, once `body_rate_grace_secs` have passed.
    pub min_body_rate: u64,
    pub body_rate_window_secs: u64,
    pub body_rate_grace_secs: u64,
    /// Open connections per listener.
    pub max_connections: usize,
    /// Open connections per listener from one client address.
    pub max_connections_per_ip: usize,

    // Secrets at rest (issue 18 item 4; [`crate::secrets`]).
    /// The master key file that encrypts the accounts' SecretKeys in the database
    /// (created 0600 on first start). Default: `<data_dir>.master.key` next to the
    /// data directory (never inside it). `IMGPORT_MASTER_KEY` (64 hex digits)
    /// takes precedence over any file.
    pub secret_key_file: Option<PathBuf>,
    /// Webhook targets users may register, `HOST:PORT` (IPv6 `[ADDR]:PORT`); empty
    /// (the default): no webhooks (issue 18 item 5, [`crate::messages::webhook`]).
    pub webhook_allow: Vec<String>,
    /// Boot every converted image under QEMU before it becomes NORMAL (issue 17, R-BOOT):
    /// a boot that fails where the cloud would fail turns the import into IMPORTFAILED
    /// with the code and the serial console as evidence.
    pub boot_test_default: bool,
    /// The QEMU binary for boot tests.
    pub boot_qemu: PathBuf,
    /// Wall time of one boot test (seconds).
    pub boot_timeout_secs: u64,
    /// Boot tests running at once in one server process (the other jobs wait).
    pub boot_max_concurrent: usize,

    // Scale-out (issue 13; README "Run at scale").
    /// What this process runs ([`Role`]): `all` (default), `api` or `worker`.
    pub role: Role,
    /// Where objects live: `embedded` (default: this process's own S3/COS store under
    /// `data_dir`) or `s3` (the operator's S3-compatible store, `[s3]` below).
    pub object_store: StoreKind,
    /// The external store, with `object_store = "s3"`.
    pub s3: ExternalStore,
}

/// What one `imgport serve` process runs (issue 13 item 4). Any number of each share
/// only the database (PostgreSQL) and the object store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The API, the console, the embedded store (if used) and the import workers.
    #[default]
    All,
    /// The API and the console; imports are queued for workers.
    Api,
    /// Import workers only: no listener.
    Worker,
}

impl Role {
    pub fn parse(s: &str) -> anyhow::Result<Role> {
        match s.trim() {
            "all" => Ok(Role::All),
            "api" => Ok(Role::Api),
            "worker" => Ok(Role::Worker),
            other => anyhow::bail!("role {other:?}: one of all, api, worker"),
        }
    }
    /// Whether this process serves the API (and the console).
    pub fn serves_api(self) -> bool {
        self != Role::Worker
    }
    /// Whether this process runs import jobs.
    pub fn runs_jobs(self) -> bool {
        self != Role::Api
    }
}

/// Which object store holds uploads and imported images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Embedded,
    S3,
}

/// The operator's S3-compatible store (issue 13 item 1; [`crate::objects::s3`]).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalStore {
    /// The S3 endpoint the service talks to, e.g. `http://10.0.0.5:3900`.
    pub endpoint: String,
    /// The endpoint as users' links name it, when it differs (a load balancer, a
    /// public name); ImportImage accepts links of either.
    pub public_endpoint: Option<String>,
    /// The region the store signs with (Garage: `garage`; AWS: `us-east-1` …).
    pub signing_region: String,
    pub access_key_id: String,
    /// Never logged or shown.
    pub secret_access_key: String,
    /// `BUCKET.HOST` requests instead of `HOST/BUCKET` (links of both forms are
    /// accepted either way).
    pub virtual_host: bool,
    /// The bucket imported images are written to (under `images_prefix`).
    pub images_bucket: String,
    /// Key prefix of imported images (default `imgport/images/`).
    pub images_prefix: Option<String>,
    /// The buckets users may import from, and the cloud region each is in (R-REGION:
    /// a link must name a bucket of the request's region).
    pub buckets: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for ExternalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalStore")
            .field("endpoint", &self.endpoint)
            .field("public_endpoint", &self.public_endpoint)
            .field("signing_region", &self.signing_region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<hidden>")
            .field("virtual_host", &self.virtual_host)
            .field("images_bucket", &self.images_bucket)
            .field("images_prefix", &self.images_prefix)
            .field("buckets", &self.buckets)
            .finish()
    }
}

impl ExternalStore {
    /// The endpoint users' links name.
    pub fn shown_endpoint(&self) -> &str {
        self.public_endpoint.as_deref().unwrap_or(&self.endpoint)
    }

    /// The key prefix of imported images, ending in `/`.
    pub fn images_prefix(&self) -> String {
        let p = self
            .images_prefix
            .clone()
            .unwrap_or_else(|| "imgport/images/".into());
        let p = p.trim_start_matches('/').to_string();
        if p.is_empty() || p.ends_with('/') {
            p
        } else {
            format!("{p}/")
        }
    }

    /// What is missing or wrong, said so that the operator can fix it.
    pub fn validate(&self) -> Result<(), String> {
        let need = |v: &str, what: &str| {
            if v.trim().is_empty() {
                Err(format!(
                    "object_store = \"s3\" needs {what} ([s3] {what} or IMGPORT_S3_{})",
                    what.to_ascii_uppercase()
                ))
            } else {
                Ok(())
            }
        };
        need(&self.endpoint, "endpoint")?;
        need(&self.signing_region, "signing_region")?;
        need(&self.access_key_id, "access_key_id")?;
        need(&self.secret_access_key, "secret_access_key")?;
        need(&self.images_bucket, "images_bucket")?;
        for e in std::iter::once(&self.endpoint).chain(self.public_endpoint.iter()) {
            let u = url::Url::parse(e).map_err(|err| format!("endpoint {e:?}: {err}"))?;
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                return Err(format!("endpoint {e:?}: an http(s)://HOST[:PORT] URL"));
            }
        }
        if self.buckets.is_empty() {
            return Err("object_store = \"s3\" needs the buckets users import from ([s3.buckets] BUCKET = \"REGION\", or IMGPORT_S3_BUCKETS=BUCKET=REGION,…)".into());
        }
        Ok(())
    }

    /// `IMGPORT_S3_*` variables over the file's values.
    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        for (k, field) in [
            ("S3_ENDPOINT", &mut self.endpoint),
            ("S3_SIGNING_REGION", &mut self.signing_region),
            ("S3_ACCESS_KEY_ID", &mut self.access_key_id),
            ("S3_SECRET_ACCESS_KEY", &mut self.secret_access_key),
            ("S3_IMAGES_BUCKET", &mut self.images_bucket),
        ] {
            if let Some(v) = env(k) {
                *field = v;
            }
        }
        if let Some(v) = env("S3_PUBLIC_ENDPOINT") {
            self.public_endpoint = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env("S3_IMAGES_PREFIX") {
            self.images_prefix = Some(v);
        }
        if let Some(v) = env("S3_VIRTUAL_HOST") {
            self.virtual_host = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = env("S3_BUCKETS") {
            // BUCKET=REGION, comma- or space-separated (replace the file's).
            self.buckets.clear();
            for item in v.split([',', ' ']).filter(|s| !s.is_empty()) {
                let (b, r) = item.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!("IMGPORT_S3_BUCKETS: {item:?} is not BUCKET=REGION")
                })?;
                self.buckets.insert(b.trim().into(), r.trim().into());
            }
        }
        Ok(())
    }
}

/// Like a derived `Debug`, with the database password hidden.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("storage_listen", &self.storage_listen)
            .field("data_dir", &self.data_dir)
            .field("region", &self.region)
            .field("regions", &self.regions)
            .field("workers", &self.workers)
            .field("job_lease_secs", &self.job_lease_secs)
            .field("storage_public_url", &self.storage_public_url)
            .field("max_clock_skew_secs", &self.max_clock_skew_secs)
            .field("database_url", &crate::db::redact_url(&self.database_url))
            .field("database_connections", &self.database_connections)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("min_body_rate", &self.min_body_rate)
            .field("body_rate_window_secs", &self.body_rate_window_secs)
            .field("body_rate_grace_secs", &self.body_rate_grace_secs)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("secret_key_file", &self.secret_key_file)
            .field("webhook_allow", &self.webhook_allow)
            .field("boot_test_default", &self.boot_test_default)
            .field("boot_qemu", &self.boot_qemu)
            .field("boot_timeout_secs", &self.boot_timeout_secs)
            .field("boot_max_concurrent", &self.boot_max_concurrent)
            .field("role", &self.role)
            .field("object_store", &self.object_store)
            .field("s3", &self.s3)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:9000".parse().expect("static address"),
            storage_listen: "127.0.0.1:9001".parse().expect("static address"),
            data_dir: PathBuf::from("./data"),
            region: "ap-guangzhou".into(),
            regions: vec![
                "ap-guangzhou".into(),
                "ap-shanghai".into(),
                "ap-beijing".into(),
                "ap-shanghai-fsi".into(),
                "ap-shenzhen-fsi".into(),
            ],
            workers: 2,
            job_lease_secs: 30,
            storage_public_url: None,
            max_clock_skew_secs: 300,
            database_url: String::new(),
            database_connections: crate::db::DEFAULT_PG_CONNECTIONS,
            header_read_timeout_secs: 20,
            idle_timeout_secs: 60,
            min_body_rate: 1024,
            body_rate_window_secs: 30,
            body_rate_grace_secs: 10,
            max_connections: 1024,
            max_connections_per_ip: 128,
            secret_key_file: None,
            webhook_allow: Vec::new(),
            boot_test_default: false,
            boot_qemu: PathBuf::from("qemu-system-x86_64"),
            boot_timeout_secs: imgport_check::boot::DEFAULT_TIMEOUT.as_secs(),
            boot_max_concurrent: 1,
            role: Role::All,
            object_store: StoreKind::Embedded,
            s3: ExternalStore::default(),
        }
    }
}

impl Config {
    /// Load `path` (TOML) if given, then apply `IMGPORT_*` environment variables.
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
        let mut c = match path {
            Some(p) => toml::from_str(&std::fs::read_to_string(p)?)?,
            None => Config::default(),
        };
        let env = |k: &str| std::env::var(format!("IMGPORT_{k}")).ok();
        if let Some(v) = env("LISTEN") {
            c.listen = v.parse()?;
        }
        if let Some(v) = env("STORAGE_LISTEN") {
            c.storage_listen = v.parse()?;
        }
        if let Some(v) = env("DATA_DIR") {
            c.data_dir = v.into();
        }
        if let Some(v) = env("REGION") {
            c.region = v;
        }
        if let Some(v) = env("WORKERS") {
            c.workers = v.parse()?;
        }
        if let Some(v) = env("STORAGE_PUBLIC_URL") {
            c.storage_public_url = Some(v);
        }
        if let Some(v) = env("DATABASE_URL") {
            c.database_url = v;
        }
        c.apply_hardening_env(&env)?;
        if let Some(v) = env("WEBHOOK_ALLOW") {
            // Comma- or space-separated HOST:PORT entries (replace the file's).
            c.webhook_allow = v
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
        }
        crate::messages::webhook::parse_allow(&c.webhook_allow).map_err(anyhow::Error::msg)?;
        if let Some(v) = env("BOOT_TEST_DEFAULT") {
            c.boot_test_default = matches!(v.as_str(), "1" | "true" | "yes");
        }
        if let Some(v) = env("BOOT_QEMU") {
            c.boot_qemu = v.into();
        }
        if let Some(v) = env("ROLE") {
            c.role = Role::parse(&v)?;
        }
        if let Some(v) = env("OBJECT_STORE") {
            c.object_store = match v.trim() {
                "embedded" | "" => StoreKind::Embedded,
                "s3" => StoreKind::S3,
                other => anyhow::bail!("IMGPORT_OBJECT_STORE={other}: embedded or s3"),
            };
        }
        c.s3.apply_env(&env)?;
        if c.object_store == StoreKind::S3 {
            c.s3.validate().map_err(anyhow::Error::msg)?;
        }
        Ok(c)
    }

    /// The `IMGPORT_*` variables of the connection limits and the key file.
    fn apply_hardening_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let num = |k: &str, v: String| -> anyhow::Result<u64> {
            v.trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("IMGPORT_{k}={v}: {e} (a whole number)"))
        };
        for (k, field) in [
            (
                "HEADER_READ_TIMEOUT_SECS",
                &mut self.header_read_timeout_secs,
            ),
            ("IDLE_TIMEOUT_SECS", &mut self.idle_timeout_secs),
            ("MIN_BODY_RATE", &mut self.min_body_rate),
            ("BODY_RATE_WINDOW_SECS", &mut self.body_rate_window_secs),
            ("BODY_RATE_GRACE_SECS", &mut self.body_rate_grace_secs),
        ] {
            if let Some(v) = env(k) {
                *field = num(k, v)?;
            }
        }
        for (k, field) in [
            ("MAX_CONNECTIONS", &mut self.max_connections),
            ("MAX_CONNECTIONS_PER_IP", &mut self.max_connections_per_ip),
        ] {
            if let Some(v) = env(k) {
                *field = num(k, v)? as usize;
            }
        }
        if let Some(v) = env("SECRET_KEY_FILE") {
            self.secret_key_file = Some(v.into());
        }
        Ok(())
    }

    /// Where the SQLite database lives when `database_url` is empty.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("imgport.sqlite3")
    }

    /// The database as logs show it: the SQLite file, or the PostgreSQL URL without
    /// its password.
    pub fn database_shown(&self) -> String {
        if self.database_url.trim().is_empty() {
            self.sqlite_path().display().to_string()
        } else {
            crate::db::redact_url(self.database_url.trim())
        }
    }

    /// Open the database this configuration names (creating the SQLite file, or
    /// the PostgreSQL tables, when missing).
    ///
    /// The SQLite file is created 0600 ([`crate::perms`]), and the accounts'
    /// SecretKeys are sealed with the master key ([`crate::secrets`], created on
    /// first use).
    pub fn open_db(&self) -> Result<crate::db::Db, crate::db::DbError> {
        let other = |e: &dyn std::fmt::Display| crate::db::DbError::Other(e.to_string());
        let key = crate::secrets::MasterKey::load(self).map_err(|e| other(&e))?;
        if self.database_url.trim().is_empty() {
            let p = self.sqlite_path();
            if !p.exists() {
                crate::perms::create_private_file(&p)
                    .map_err(|e| other(&format!("creating the database {}: {e}", p.display())))?;
            }
        }
        crate::db::Db::open_url(
            &self.database_url,
            &self.sqlite_path(),
            self.database_connections,
        )?
        .with_master_key(std::sync::Arc::new(key))
    }

    /// The storage endpoint URL clients use.
    pub fn storage_url(&self) -> String {
        self.storage_public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.storage_listen))
    }
}
