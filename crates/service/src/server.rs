//! `imgport serve`: binds the API (+ console) and object-store listeners, creates the
//! first admin account, starts the import workers and the webhook thread, and runs
//! until SIGTERM or ctrl-c. Shutdown is graceful: the listeners stop accepting and
//! finish their requests, workers take no new jobs, running imports get
//! [`SHUTDOWN_GRACE`] to finish and are then given back (the next start retakes them
//! at once; a SIGKILL instead leaves them to be retaken when their lease expires).

use crate::{api, jobs, s3, AppState, Config};
use std::net::SocketAddr;
use std::time::Duration;

/// How long running imports may take to finish at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    let api_srv = axum::serve(
        api_l,
        api::router(state.clone()).merge(crate::console::router().with_state(state.clone())),
    )
    .with_graceful_shutdown(shutdown_signal());
    let storage = s3::serve_storage(state.clone(), st_l);
    let served = tokio::select! {
        r = api_srv => r.map_err(anyhow::Error::from),
        r = storage => r,
    };
    tracing::info!("stopping the import workers");
    tokio::task::spawn_blocking(move || workers.shutdown(SHUTDOWN_GRACE)).await?;
    served
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
