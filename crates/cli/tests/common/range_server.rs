//! A tiny HTTP/1.1 server for remote-check tests: serves one file with `Range`
//! support, or misbehaves in one chosen way. Counts the body bytes it sent.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

pub struct RangeServer {
    pub url: String,
    pub sent: Arc<AtomicU64>,
}

impl RangeServer {
    /// Serve `file` at `http://127.0.0.1:PORT/bucket/NAME?X-Amz-Signature=…`.
    pub fn start(file: PathBuf, mode: Mode) -> RangeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicU64::new(0));
        let s2 = sent.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let file = file.clone();
                let sent = s2.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &file, mode, &sent);
                });
            }
        });
        let name = "image.qcow2";
        RangeServer {
            url: format!(
                "http://127.0.0.1:{port}/bucket/{name}?X-Amz-Expires=600&X-Amz-Signature=abc123"
            ),
            sent,
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

fn serve(conn: TcpStream, file: &PathBuf, mode: Mode, sent: &AtomicU64) -> std::io::Result<()> {
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
            out.write_all(&buf[..n])?;
            sent.fetch_add(n as u64, Ordering::SeqCst);
            want -= n as u64;
        }
        if mode == Mode::ShortBody || mode == Mode::NoRange {
            return Ok(());
        }
    }
}
