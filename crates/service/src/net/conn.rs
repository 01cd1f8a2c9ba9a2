//! One connection: hyper's HTTP/1.1 server over the socket, with the idle and
//! header-read watchdog, request bodies behind the minimum rate, and the graceful end
//! at shutdown (see the module above).

use super::{Limits, RateGuarded, Slot, DRAIN};
use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

/// What the watchdog knows of a connection.
struct State {
    /// Requests whose response has not been sent in full.
    in_flight: usize,
    /// Since when nothing is in progress (the connection opened, or the last
    /// response ended, or bytes were last written while nothing was in progress).
    idle_since: Instant,
    /// When the first byte of the next request head arrived (nothing in progress).
    head_started: Option<Instant>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<State>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.head_started.is_none() {
            s.head_started = Some(Instant::now());
        }
    }

    fn wrote(&self) {
        let mut s = self.lock();
        if s.in_flight == 0 && s.head_started.is_none() {
            s.idle_since = Instant::now();
        }
    }

    fn begin(&self) -> InFlight {
        let mut s = self.lock();
        s.in_flight += 1;
        s.head_started = None;
        InFlight(self.clone())
    }

    /// Why the connection must close now, if it must.
    fn expired(&self, l: &Limits) -> Option<&'static str> {
        let s = self.lock();
        if s.in_flight > 0 {
            return None;
        }
        match s.head_started {
            Some(t) if !l.header_read_timeout.is_zero() && t.elapsed() >= l.header_read_timeout => {
                Some("header_read_timeout")
            }
            None if !l.idle_timeout.is_zero() && s.idle_since.elapsed() >= l.idle_timeout => {
                Some("idle_timeout")
            }
            _ => None,
        }
    }
}

/// A request in progress, until its response body is dropped (sent or abandoned).
struct InFlight(Shared);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = Instant::now();
            s.head_started = None;
        }
    }
}

/// A response body that holds its request's [`InFlight`].
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling the watchdog when bytes come and go.
struct Watched {
    inner: TcpStream,
    state: Shared,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.wrote();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// How often the watchdog looks.
fn tick(l: &Limits) -> Duration {
    [l.header_read_timeout, l.idle_timeout]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
        .map_or(Duration::from_secs(1), |d| d / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Whether the request asks for `100 Continue` before it sends its body.
fn expects_continue(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// A request body that records when its end was reached (or it had none).
struct EndSeen {
    inner: Incoming,
    ended: Arc<AtomicBool>,
}

impl http_body::Body for EndSeen {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended.store(true, Ordering::Release);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.ended.store(true, Ordering::Release);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serve one connection until it ends, times out, or shutdown has drained it.
pub(super) async fn serve_connection(
    stream: TcpStream,
    router: axum::Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
    _slot: Slot,
) {
    let peer = stream.peer_addr().ok();
    let state = Shared(Arc::new(Mutex::new(State {
        in_flight: 0,
        idle_since: Instant::now(),
        head_started: None,
    })));
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
    });
    let st = state.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = st.begin();
        let expects_continue = expects_continue(req.headers());
        let body_ended = Arc::new(AtomicBool::new(false));
        let ended = body_ended.clone();
        let req = req.map(|b| {
            Body::new(RateGuarded::new(
                EndSeen { inner: b, ended },
                limits.body_rate,
            ))
        });
        let router = router.clone();
        async move {
            let mut resp = match router.oneshot(req).await {
                Ok(r) => r,
                Err(e) => match e {},
            };
            if expects_continue && !body_ended.load(Ordering::Acquire) {
                // Answered before the body was asked for (e.g. 403): a client that
                // saw no 100 does not send the body (botocore), another does. Reading
                // on would take the next request's first bytes for this body (RFC 9110
                // §10.1.1: say whether the connection closes), so it closes.
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, Infallible>(resp.map(|inner| Tracked {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    // hyper's clock starts when it waits for a head, idle time included: the backstop.
    if limits.header_read_timeout.is_zero() || limits.idle_timeout.is_zero() {
        builder.header_read_timeout(None);
    } else {
        builder.header_read_timeout(limits.header_read_timeout + limits.idle_timeout);
    }
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut watchdog = tokio::time::interval(tick(&limits));
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(peer = ?peer, "connection ended: {e}");
                }
                return;
            }
            _ = watchdog.tick() => {
                if let Some(why) = state.expired(&limits) {
                    tracing::debug!(peer = ?peer, "closing the connection: {why}");
                    return;
                }
            }
            _ = shutdown.wait_for(|s| *s), if drain_until.is_none() => {
                conn.as_mut().graceful_shutdown();
                drain_until = Some(tokio::time::Instant::now() + DRAIN);
            }
            _ = sleep_until_opt(drain_until) => {
                tracing::info!(peer = ?peer, "closing a connection still busy at shutdown");
                return;
            }
        }
    }
}

/// Sleep until `t`, or forever when there is none.
async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
