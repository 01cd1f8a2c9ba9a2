//! `imgport serve`: binds the API (+ console) and object-store listeners, starts the
//! job workers, creates the first admin account, and runs until SIGTERM / ctrl-c.

use crate::{api, jobs, s3, AppState, Config};
use std::net::SocketAddr;

/// What a started server tells its operator.
pub struct Started {
    pub api: SocketAddr,
    pub storage: SocketAddr,
    /// (name, SecretId, SecretKey, AppId) of the admin account made on first start.
    pub new_admin: Option<(String, String, String, i64)>,
}

/// Open the state, bind both listeners, start workers; call `ready` once listening,
/// then serve until a shutdown signal.
pub async fn run(mut config: Config, ready: impl FnOnce(&Started)) -> anyhow::Result<()> {
    let api_l = tokio::net::TcpListener::bind(config.listen).await?;
    let st_l = tokio::net::TcpListener::bind(config.storage_listen).await?;
    // Ephemeral ports (":0") are resolved before the state is shared.
    config.listen = api_l.local_addr()?;
    config.storage_listen = st_l.local_addr()?;
    let state = AppState::open(config)?;
    let new_admin = if state.db.account_count()? == 0 {
        let a = state.db.create_account("admin", true)?;
        Some((a.name, a.secret_id, a.secret_key, a.app_id))
    } else {
        None
    };
    jobs::start(&state, state.config.workers);
    let started = Started {
        api: state.config.listen,
        storage: state.config.storage_listen,
        new_admin,
    };
    ready(&started);
    let api_app = api::router(state.clone());
    let storage = s3::serve_storage(state.clone(), st_l);
    let api_srv = axum::serve(api_l, api_app).with_graceful_shutdown(shutdown());
    tokio::select! {
        r = api_srv => r?,
        r = storage => r?,
    }
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
