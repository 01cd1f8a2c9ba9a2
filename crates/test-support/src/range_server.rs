//! One configurable HTTP/1.1 range server for remote-read tests (issue 16 item 2):
//! serves one file with `Range` support, optionally with a per-request delay and a
//! bandwidth cap (a far-away object store on loopback), or misbehaves in one chosen way.
//!
//! It reports what a latency budget depends on ([`Stats`]): requests, bytes, wall time
//! and **dependent round trips** ("waves"): a request that starts while no other
//! request is in flight could only be issued after the previous ones completed, so it
//! opens a new wave; requests issued concurrently share one. Tests assert on requests
//! and waves, never on wall time (a busy 2-core machine makes timings flaky).

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the server behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Correct `206 Partial Content` answers.
    Good,
    /// Ignores `Range`: always `200` with the whole body.
    NoRange,
    /// Answers with a `Content-Range` for other bytes than asked.
    WrongContentRange,
    /// Sends fewer body bytes than its `Content-Length` says, then closes.
    ShortBody,
    /// Redirects every request to another host.
    RedirectElsewhere,
    /// Claims an absurd object size (1 PiB).
    HugeLength,
}

/// Settings of a [`RangeServer`].
#[derive(Clone, Copy, Debug)]
pub struct ServerOptions {
    pub mode: Mode,
    /// Added before each answer (the round trip of a distant store).
    pub delay: Duration,
    /// Body bytes per second (`None`: unlimited).
    pub bandwidth: Option<u64>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            mode: Mode::Good,
            delay: Duration::ZERO,
            bandwidth: None,
        }
    }
}

/// What the server saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests answered (every method).
    pub requests: u64,
    /// Dependent round trips: requests that started while none was in flight.
    pub waves: u64,
    /// Most requests in flight at once.
    pub max_concurrent: u64,
    /// Body bytes sent.
    pub bytes: u64,
}

#[derive(Default)]
struct Shared {
    stats: Stats,
    in_flight: u64,
    /// `(wave, first byte, length)` of the first [`LOG_LIMIT`] ranged requests.
    log: Vec<(u64, u64, u64)>,
}

/// Ranged requests kept in the log of [`RangeServer::log`].
const LOG_LIMIT: usize = 10_000;

/// A running server (threads end with the test process).
pub struct RangeServer {
    /// `http://127.0.0.1:PORT/bucket/image.qcow2?X-Amz-…` (a presigned-looking URL).
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    started: Instant,
}

impl RangeServer {
    /// Serve `file` correctly, without delay.
    pub fn start(file: PathBuf, mode: Mode) -> RangeServer {
        Self::with_options(
            file,
            ServerOptions {
                mode,
                ..ServerOptions::default()
            },
        )
    }

    /// Serve `file` as `opts` say.
    pub fn with_options(file: PathBuf, opts: ServerOptions) -> RangeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s2 = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let file = file.clone();
                let shared = s2.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &file, opts, &shared);
                });
            }
        });
        RangeServer {
            url: format!(
                "http://127.0.0.1:{port}/bucket/image.qcow2?X-Amz-Expires=600&X-Amz-Signature=abc123"
            ),
            shared,
            started: Instant::now(),
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> Stats {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).stats
    }

    /// Body bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.stats().bytes
    }

    /// Time since the server started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// `(wave, first byte, length)` of each ranged request so far, in arrival order
    /// (the first 10 000): which reads a change would coalesce.
    pub fn log(&self) -> Vec<(u64, u64, u64)> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log
            .clone()
    }

    /// Forget the counts (e.g. after a warm-up).
    pub fn reset(&self) {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        s.stats = Stats::default();
        s.log.clear();
    }
}

/// Marks one request in flight; the end of the answer (or an error) ends it.
struct Request<'a>(&'a Mutex<Shared>);

impl<'a> Request<'a> {
    fn begin(shared: &'a Mutex<Shared>) -> Self {
        let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
        if s.in_flight == 0 {
            s.stats.waves += 1;
        }
        s.in_flight += 1;
        s.stats.requests += 1;
        s.stats.max_concurrent = s.stats.max_concurrent.max(s.in_flight);
        Request(shared)
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.in_flight = s.in_flight.saturating_sub(1);
    }
}

fn serve(
    conn: TcpStream,
    file: &Path,
    opts: ServerOptions,
    shared: &Mutex<Shared>,
) -> std::io::Result<()> {
    let mode = opts.mode;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut f = std::fs::File::open(file)?;
    let real_size = f.metadata()?.len();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let head = line.trim().to_string();
        let mut range: Option<(u64, Option<u64>)> = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("range") {
                    let v = v.trim().trim_start_matches("bytes=");
                    if let Some((a, b)) = v.split_once('-') {
                        range = a.parse().ok().map(|a| (a, b.parse().ok()));
                    }
                }
            }
        }
        let _req = Request::begin(shared);
        if let Some((a, b)) = range {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            if s.log.len() < LOG_LIMIT {
                let wave = s.stats.waves;
                s.log
                    .push((wave, a, b.map_or(0, |b| b.saturating_sub(a) + 1)));
            }
        }
        if !opts.delay.is_zero() {
            std::thread::sleep(opts.delay);
        }
        let is_head = head.starts_with("HEAD ");
        let size = if mode == Mode::HugeLength {
            1u64 << 50
        } else {
            real_size
        };
        if mode == Mode::RedirectElsewhere {
            write!(out, "HTTP/1.1 302 Found\r\nLocation: http://evil.example.com/x\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        }
        let (status, first, last) = match (mode, range) {
            (Mode::NoRange, _) | (_, None) => ("200 OK", 0, size.saturating_sub(1)),
            (_, Some((a, b))) => {
                let last = b.unwrap_or(size - 1).min(size - 1);
                ("206 Partial Content", a, last)
            }
        };
        let len = last + 1 - first;
        let mut hdr = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\nETag: \"fixture\"\r\nContent-Type: application/octet-stream\r\n"
        );
        if status.starts_with("206") {
            let (cf, cl) = if mode == Mode::WrongContentRange {
                (first + 512, last + 512)
            } else {
                (first, last)
            };
            hdr.push_str(&format!("Content-Range: bytes {cf}-{cl}/{size}\r\n"));
        }
        hdr.push_str("\r\n");
        out.write_all(hdr.as_bytes())?;
        if is_head {
            continue;
        }
        let mut want = len.min(real_size.saturating_sub(first));
        if mode == Mode::ShortBody {
            want /= 2;
        }
        f.seek(SeekFrom::Start(first))?;
        let mut buf = vec![0u8; 256 * 1024];
        while want > 0 {
            let n = (want as usize).min(buf.len());
            f.read_exact(&mut buf[..n])?;
            if let Some(bps) = opts.bandwidth.filter(|b| *b > 0) {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / bps as f64));
            }
            out.write_all(&buf[..n])?;
            shared.lock().unwrap_or_else(|e| e.into_inner()).stats.bytes += n as u64;
            want -= n as u64;
        }
        if mode == Mode::ShortBody || mode == Mode::NoRange {
            return Ok(());
        }
    }
}
