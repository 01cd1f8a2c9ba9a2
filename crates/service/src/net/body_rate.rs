//! Minimum request-body rate (issue 18 item 3): a request body must average at least
//! `min_body_rate` bytes/s over a sliding window of `body_rate_window_secs`, once
//! `body_rate_grace_secs` have passed; a slower body fails with an error, the
//! handler answers it and the connection is closed (hyper does not keep a connection
//! whose request body was not read to its end).
//!
//! Only time the server spends *waiting for the client* counts: while a handler does
//! not poll the body (its writer thread is busy, back-pressure), the clock stands
//! still, so a slow disk never turns into a refused upload.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The rate a body must keep (`min` 0: no minimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRate {
    /// Bytes per second.
    pub min: u64,
    /// The window the rate is averaged over.
    pub window: Duration,
    /// No check before this much waiting time.
    pub grace: Duration,
}

/// A body refused for its rate.
#[derive(Debug)]
pub struct TooSlow(String);

impl std::fmt::Display for TooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TooSlow {}

/// The [`TooSlow`] behind an error of reading a body, if that is why it failed.
pub fn too_slow_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a TooSlow> {
    let mut cur = Some(e);
    // Bounded: bodies wrap errors a few levels deep at most.
    for _ in 0..16 {
        let e = cur?;
        if let Some(t) = e.downcast_ref::<TooSlow>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// Buckets per window: bytes are counted in slices of `window / SLICES`.
const SLICES: u32 = 16;

/// `B` with the minimum rate enforced.
pub struct RateGuarded<B> {
    inner: B,
    rate: BodyRate,
    /// Waiting time before the current wait.
    waited: Duration,
    /// When the current wait (inner body pending) began.
    pending_since: Option<Instant>,
    /// (waiting time at the first arrival of the slice, bytes of the slice).
    slices: VecDeque<(Duration, u64)>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    failed: bool,
}

impl<B> RateGuarded<B> {
    pub fn new(inner: B, rate: BodyRate) -> Self {
        RateGuarded {
            inner,
            rate,
            waited: Duration::ZERO,
            pending_since: None,
            slices: VecDeque::new(),
            timer: None,
            failed: false,
        }
    }

    /// Waiting time so far (the body's clock).
    fn clock(&self, now: Instant) -> Duration {
        self.waited + self.pending_since.map_or(Duration::ZERO, |p| now - p)
    }

    /// Count `n` bytes that arrived at waiting time `t`.
    fn record(&mut self, t: Duration, n: u64) {
        let slice = self.rate.window / SLICES;
        match self.slices.back_mut() {
            Some((start, bytes)) if t.saturating_sub(*start) < slice => *bytes += n,
            _ => self.slices.push_back((t, n)),
        }
        self.prune(t);
    }

    fn prune(&mut self, t: Duration) {
        while self
            .slices
            .front()
            .is_some_and(|(start, _)| *start + self.rate.window < t)
        {
            self.slices.pop_front();
        }
    }

    /// The error when the body is too slow at waiting time `t`.
    fn too_slow(&mut self, t: Duration) -> Option<TooSlow> {
        if self.rate.min == 0 || t < self.rate.grace {
            return None;
        }
        self.prune(t);
        let span = self.rate.window.min(t).max(Duration::from_millis(1));
        let got: u64 = self.slices.iter().map(|(_, n)| n).sum();
        let need = (self.rate.min as f64 * span.as_secs_f64()) as u64;
        (got < need).then(|| {
            TooSlow(format!(
                "the request body arrived at {:.0} bytes/s over the last {:.1} s, below the minimum of {} bytes/s (min_body_rate): the connection is closed",
                got as f64 / span.as_secs_f64(),
                span.as_secs_f64(),
                self.rate.min
            ))
        })
    }

    /// How often the rate is looked at while waiting.
    fn tick(&self) -> Duration {
        (self.rate.window / 8).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

impl<B> Body for RateGuarded<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let now = Instant::now();
        match polled {
            Poll::Ready(r) => {
                this.waited = this.clock(now);
                this.pending_since = None;
                if let Some(Ok(f)) = &r {
                    if let Some(d) = f.data_ref() {
                        let t = this.waited;
                        this.record(t, d.len() as u64);
                    }
                }
                Poll::Ready(r.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                if this.rate.min == 0 {
                    return Poll::Pending;
                }
                if this.pending_since.is_none() {
                    this.pending_since = Some(now);
                }
                let t = this.clock(now);
                if let Some(e) = this.too_slow(t) {
                    this.failed = true;
                    tracing::warn!("{e}");
                    return Poll::Ready(Some(Err(e.into())));
                }
                // Be woken to look again.
                let due = tokio::time::Instant::from_std(now + this.tick());
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                if timer.as_mut().poll(cx).is_ready() {
                    timer.as_mut().reset(due);
                    let _ = timer.as_mut().poll(cx);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(min: u64) -> RateGuarded<http_body_util::Empty<Bytes>> {
        RateGuarded::new(
            http_body_util::Empty::new(),
            BodyRate {
                min,
                window: Duration::from_secs(10),
                grace: Duration::from_secs(5),
            },
        )
    }

    #[test]
    fn the_rate_is_averaged_over_the_window_after_the_grace() {
        let mut g = guard(100);
        // Within the grace: anything goes.
        assert!(g.too_slow(Duration::from_secs(4)).is_none());
        // 900 bytes in the first 9 s: 100 B/s over 9 s is 900 — enough.
        for s in 0..9 {
            g.record(Duration::from_secs(s), 100);
        }
        assert!(g.too_slow(Duration::from_secs(9)).is_none());
        // Nothing more for 5 s: the last 10 s hold ~500 bytes, half the minimum.
        let e = g.too_slow(Duration::from_secs(14)).unwrap().to_string();
        assert!(
            e.contains("min_body_rate") && e.contains("100 bytes/s"),
            "{e}"
        );
        // A burst brings it back above the minimum.
        g.record(Duration::from_secs(14), 1000);
        assert!(g.too_slow(Duration::from_secs(14)).is_none());
        // Slices stay bounded however many frames arrive.
        for i in 0..100_000u64 {
            g.record(Duration::from_millis(14_000 + i / 10), 1);
        }
        assert!(g.slices.len() <= SLICES as usize + 2, "{}", g.slices.len());
        // No minimum: never too slow.
        assert!(guard(0).too_slow(Duration::from_secs(1000)).is_none());
    }
}
