//! `imgport serve`: binds the API (+ console) and object-store listeners, creates the
//! first admin account, starts the import workers and the webhook thread, and runs
//! until SIGTERM or ctrl-c. Both listeners serve through [`crate::net`] (timeouts,
//! minimum body rate, connection caps).
//!
//! Shutdown (issue 18 item 6) ends within [`SHUTDOWN_BOUND`]: the listeners stop
//! accepting and close idle connections, requests in progress get [`net::DRAIN`];
//! workers take no new jobs, and running imports are interrupted at once at their
//! next read (a conversion between two batches) and given back — their lease is
//! released, so the next start (or another server on the same database) retakes them
//! at once; a SIGKILL instead leaves them to be retaken when their lease expires.

use crate::{api, jobs, net, s3, AppState, Config};
use std::net::SocketAddr;
use std::time::Duration;

/// How long a shutdown may take, from the signal to the end of [`run`].
pub const SHUTDOWN_BOUND: Duration = Duration::from_millis(4500);

/// The account created on first start.
pub struct NewAdmin {
    pub name: String,
    pub app_id: i64,
    pub secret_id: String,
    pub secret_key: String,
}

/// Where a started server's objects are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageShown {
    /// This process serves the embedded store at this address.
    Embedded(SocketAddr),
    /// The operator's S3 store, as users' links name it.
    External(String),
    /// The embedded store, served by another process (role worker).
    NotServed,
}

/// What a started server tells its operator.
pub struct Started {
    /// The API and console address (none for role `worker`).
    pub api: Option<SocketAddr>,
    pub storage: StorageShown,
    pub region: String,
    pub data_dir: std::path::PathBuf,
    pub workers: usize,
    /// Set on the first start only (the key is shown once).
    pub new_admin: Option<NewAdmin>,
}

/// Open the state, bind both listeners, start the workers; call `ready` once
/// listening, then serve until a shutdown signal.
pub async fn run(mut config: Config, ready: impl FnOnce(&Started)) -> anyhow::Result<()> {
    // Issue 13: a worker binds nothing; the embedded store is served only when it is
    // the store, by a process that serves the API.
    let role = config.role;
    let embedded = config.object_store == crate::config::StoreKind::Embedded;
    let api_l = bind(role.serves_api(), config.listen, "API").await?;
    let st_l = bind(
        role.serves_api() && embedded,
        config.storage_listen,
        "storage",
    )
    .await?;
    // Ephemeral ports (":0") are resolved before the state is shared.
    if let Some(l) = &api_l {
        config.listen = l.local_addr()?;
    }
    if let Some(l) = &st_l {
        config.storage_listen = l.local_addr()?;
    }
    let state = AppState::open(config)?;
    let new_admin = if state.db.account_count()? == 0 {
        match state.db.create_account("admin", true) {
            Ok(a) => Some(NewAdmin {
                name: a.name,
                app_id: a.app_id,
                secret_id: a.secret_id,
                secret_key: a.secret_key,
            }),
            // Servers starting at once on an empty database (issue 13): one of them made
            // the admin account first; this one prints no credentials.
            Err(_) if state.db.account_count()? > 0 => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let workers = jobs::start(&state, state.config.workers);
    let job_workers = workers.count();
    ready(&Started {
        api: api_l.as_ref().map(|_| state.config.listen),
        storage: match &state.external {
            Some(s) => StorageShown::External(s.config().shown_endpoint().to_string()),
            None if st_l.is_some() => StorageShown::Embedded(state.config.storage_listen),
            None => StorageShown::NotServed,
        },
        region: state.config.region.clone(),
        data_dir: state.config.data_dir.clone(),
        workers: job_workers,
        new_admin,
    });
    tracing::info!(
        role = ?role,
        api = ?api_l.as_ref().map(|_| state.config.listen),
        storage = ?st_l.as_ref().map(|_| state.config.storage_listen),
        workers = job_workers,
        "serving"
    );
    let limits = net::Limits::from_config(&state.config);
    let (stop, stopping) = net::shutdown_channel();
    let mut listeners = Vec::new();
    if let Some(l) = api_l {
        let api_router =
            api::router(state.clone()).merge(crate::console::router().with_state(state.clone()));
        let stopping = stopping.clone();
        listeners.push((
            "API",
            tokio::spawn(async move {
                net::serve(l, api_router, limits, stopping)
                    .await
                    .map_err(anyhow::Error::from)
            }),
        ));
    }
    if let Some(l) = st_l {
        listeners.push((
            "storage",
            tokio::spawn(s3::serve_storage_until(state.clone(), l, limits, stopping)),
        ));
    }
    shutdown_signal().await;
    let _ = stop.send(true);
    tracing::info!("stopping: no new connections; running imports are given back");
    let deadline = tokio::time::Instant::now() + SHUTDOWN_BOUND;
    let jobs_done = tokio::task::spawn_blocking(move || workers.shutdown(SHUTDOWN_BOUND));
    let mut result = Ok(());
    for (name, task) in listeners {
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => result = Err(anyhow::anyhow!("the {name} listener: {e}")),
            Ok(Err(e)) => result = Err(anyhow::anyhow!("the {name} listener: {e}")),
            Err(_) => tracing::warn!("the {name} listener did not drain in time"),
        }
    }
    if tokio::time::timeout_at(deadline, jobs_done).await.is_err() {
        tracing::warn!(
            "import workers still stopping; their jobs are retaken when their leases expire"
        );
    }
    result
}

/// A listener on `addr` when `wanted`.
async fn bind(
    wanted: bool,
    addr: SocketAddr,
    what: &str,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    if !wanted {
        return Ok(None);
    }
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding the {what} address {addr}: {e}"))?;
    Ok(Some(l))
}

/// Resolves on SIGTERM or ctrl-c.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
}
