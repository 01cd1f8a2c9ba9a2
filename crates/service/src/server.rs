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

/// What a started server tells its operator.
pub struct Started {
    pub api: SocketAddr,
    pub storage: SocketAddr,
    pub region: String,
    pub data_dir: std::path::PathBuf,
    pub workers: usize,
    /// Set on the first start only (the key is shown once).
    pub new_admin: Option<NewAdmin>,
}

/// Open the state, bind both listeners, start the workers; call `ready` once
/// listening, then serve until a shutdown signal.
pub async fn run(mut config: Config, ready: impl FnOnce(&Started)) -> anyhow::Result<()> {
    let api_l = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("binding the API address {}: {e}", config.listen))?;
    let st_l = tokio::net::TcpListener::bind(config.storage_listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!("binding the storage address {}: {e}", config.storage_listen)
        })?;
    // Ephemeral ports (":0") are resolved before the state is shared.
    config.listen = api_l.local_addr()?;
    config.storage_listen = st_l.local_addr()?;
    let state = AppState::open(config)?;
    let new_admin = if state.db.account_count()? == 0 {
        let a = state.db.create_account("admin", true)?;
        Some(NewAdmin {
            name: a.name,
            app_id: a.app_id,
            secret_id: a.secret_id,
            secret_key: a.secret_key,
        })
    } else {
        None
    };
    let workers = jobs::start(&state, state.config.workers);
    ready(&Started {
        api: state.config.listen,
        storage: state.config.storage_listen,
        region: state.config.region.clone(),
        data_dir: state.config.data_dir.clone(),
        workers: state.config.workers.max(1),
        new_admin,
    });
    tracing::info!(
        api = %state.config.listen,
        storage = %state.config.storage_listen,
        workers = state.config.workers.max(1),
        "serving"
    );
    let limits = net::Limits::from_config(&state.config);
    let (stop, stopping) = net::shutdown_channel();
    let stopping2 = stopping.clone();
    let api_router =
        api::router(state.clone()).merge(crate::console::router().with_state(state.clone()));
    let api_srv = tokio::spawn(async move {
        net::serve(api_l, api_router, limits, stopping.clone())
            .await
            .map_err(anyhow::Error::from)
    });
    let storage = tokio::spawn(s3::serve_storage_until(
        state.clone(),
        st_l,
        limits,
        stopping2,
    ));
    shutdown_signal().await;
    let _ = stop.send(true);
    tracing::info!("stopping: no new connections; running imports are given back");
    let deadline = tokio::time::Instant::now() + SHUTDOWN_BOUND;
    let jobs_done = tokio::task::spawn_blocking(move || workers.shutdown(SHUTDOWN_BOUND));
    let mut result = Ok(());
    for (name, task) in [("API", api_srv), ("storage", storage)] {
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
