//! How both listeners (API + console, object store) serve connections (issue 18
//! item 3): HTTP/1.1 by hyper with, per connection,
//!
//! - a header-read timeout: once the first byte of a request arrives, its head must
//!   be complete within `header_read_timeout_secs` (hyper's own
//!   `header_read_timeout` stays on as a backstop, set to idle + header timeouts since
//!   its clock also runs while the connection waits for a request);
//! - an idle timeout: a connection with no request in progress that receives nothing
//!   for `idle_timeout_secs` is closed (fresh and keep-alive connections alike);
//! - a minimum request-body rate ([`body_rate`]);
//! - connection caps: `max_connections` per listener and `max_connections_per_ip` per
//!   client address; a connection over a cap gets `503` and is closed at once;
//!
//! and a bounded graceful shutdown: on the shutdown signal the listener stops
//! accepting, idle connections close, requests in progress get [`DRAIN`] to finish.

pub mod body_rate;
mod conn;

use crate::Config;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use body_rate::{BodyRate, RateGuarded};

/// How long requests in progress may run on once shutdown begins.
pub const DRAIN: Duration = Duration::from_secs(3);

/// The per-connection limits of a listener (0 / zero duration: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_rate: BodyRate,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

impl Limits {
    pub fn from_config(c: &Config) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(c.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(c.idle_timeout_secs),
            body_rate: BodyRate {
                min: c.min_body_rate,
                window: Duration::from_secs(c.body_rate_window_secs.max(1)),
                grace: Duration::from_secs(c.body_rate_grace_secs),
            },
            max_connections: c.max_connections,
            max_connections_per_ip: c.max_connections_per_ip,
        }
    }
}

/// Open connections of a listener, in total and per client address.
#[derive(Default)]
struct Counts {
    inner: Mutex<(usize, HashMap<IpAddr, usize>)>,
    /// Signalled when a connection ends (shutdown waits for none to be left).
    ended: tokio::sync::Notify,
}

/// One counted connection; uncounted when dropped.
struct Slot {
    counts: Arc<Counts>,
    ip: IpAddr,
}

impl Counts {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<IpAddr, usize>)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection from `ip`, or why there is none.
    fn acquire(self: &Arc<Self>, ip: IpAddr, l: &Limits) -> Result<Slot, &'static str> {
        let mut g = self.lock();
        if l.max_connections > 0 && g.0 >= l.max_connections {
            return Err("max_connections");
        }
        let per_ip = g.1.entry(ip).or_insert(0);
        if l.max_connections_per_ip > 0 && *per_ip >= l.max_connections_per_ip {
            return Err("max_connections_per_ip");
        }
        *per_ip += 1;
        g.0 += 1;
        Ok(Slot {
            counts: self.clone(),
            ip,
        })
    }

    fn open(&self) -> usize {
        self.lock().0
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut g = self.counts.lock();
        g.0 = g.0.saturating_sub(1);
        if let Some(n) = g.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                g.1.remove(&self.ip);
            }
        }
        drop(g);
        self.counts.ended.notify_waiters();
    }
}

/// What a connection over a cap is told before it is closed.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nContent-Length: 46\r\n\r\ntoo many connections: try again in a moment.\r\n";

/// A shutdown signal for [`serve`]: `true` once shutdown begins.
pub fn shutdown_channel() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    watch::channel(false)
}

/// Serve `router` on `listener` with `limits` until `shutdown` turns true; then stop
/// accepting and return once every connection has ended (requests in progress get
/// [`DRAIN`]).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let counts = Arc::new(Counts::default());
    let addr = listener.local_addr()?;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment, do not spin.
                tracing::warn!(listener = %addr, "accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match counts.acquire(peer.ip(), &limits) {
            Ok(slot) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(conn::serve_connection(
                    stream,
                    router.clone(),
                    limits,
                    shutdown.clone(),
                    slot,
                ));
            }
            Err(cap) => {
                tracing::warn!(listener = %addr, peer = %peer, "connection refused: {cap} reached");
                let _ = stream.try_write(REFUSED);
            }
        }
    }
    drop(listener);
    loop {
        let ended = counts.ended.notified();
        if counts.open() == 0 {
            return Ok(());
        }
        ended.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_listener_and_per_address() {
        let c = Arc::new(Counts::default());
        let l = Limits {
            max_connections: 3,
            max_connections_per_ip: 2,
            ..Limits::from_config(&Config::default())
        };
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let s1 = c.acquire(a, &l).unwrap();
        let _s2 = c.acquire(a, &l).unwrap();
        assert_eq!(c.acquire(a, &l).err(), Some("max_connections_per_ip"));
        let _s3 = c.acquire(b, &l).unwrap();
        assert_eq!(c.acquire(b, &l).err(), Some("max_connections"));
        drop(s1);
        assert_eq!(c.open(), 2);
        let _s4 = c.acquire(a, &l).unwrap();
        assert_eq!(
            REFUSED.len() - REFUSED.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4,
            46
        );
    }
}
