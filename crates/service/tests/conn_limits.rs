//! Both listeners (API, object store) against hostile connections, over real sockets
//! on loopback (issue 18 item 3): a silent connection and an idle keep-alive one are
//! closed after `idle_timeout_secs`; a request head sent a header line at a time is
//! closed after `header_read_timeout_secs`; a body trickled below `min_body_rate`
//! (a PUT announcing 5 GiB) is cut off; connections over `max_connections` or
//! `max_connections_per_ip` are refused with 503 while the others keep working.
//!
//! Timeouts are configured small (1 s); no test asserts an upper bound on time: each
//! waits (at most [`SAFETY`]) for the server to close, and fails if it did not.

use imgport_service::db::accounts::Account;
use imgport_service::s3::sigv4;
use imgport_service::{net, s3, AppState, Config};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test waits for the server to close a connection before failing.
const SAFETY: Duration = Duration::from_secs(30);

struct Srv {
    rt: tokio::runtime::Runtime,
    api: SocketAddr,
    storage: SocketAddr,
    account: Account,
    region: String,
    _stop: tokio::sync::watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

fn start(set: impl FnOnce(&mut Config)) -> Srv {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let api_l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let st_l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let mut config = Config {
        listen: api_l.local_addr().unwrap(),
        storage_listen: st_l.local_addr().unwrap(),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    set(&mut config);
    let (api, storage) = (config.listen, config.storage_listen);
    let state = AppState::open(config).unwrap();
    let account = state.db.create_account("alice", false).unwrap();
    let region = state.config.region.clone();
    state
        .db
        .create_bucket(
            &format!("b-{}", account.app_id),
            account.app_id,
            &region,
            false,
        )
        .unwrap();
    let limits = net::Limits::from_config(&state.config);
    let (stop, stopping) = net::shutdown_channel();
    rt.spawn(net::serve(
        api_l,
        imgport_service::api::router(state.clone()),
        limits,
        stopping.clone(),
    ));
    rt.spawn(s3::serve_storage_until(state, st_l, limits, stopping));
    Srv {
        rt,
        api,
        storage,
        account,
        region,
        _stop: stop,
        _dir: dir,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(SAFETY)).unwrap();
    s
}

/// Read until the server closes the connection; returns what it sent. Fails the
/// test when the connection is still open after [`SAFETY`].
fn wait_closed(s: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "{what}: the server left the connection open for {SAFETY:?}; it sent {:?}",
                    String::from_utf8_lossy(&got)
                )
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// One complete request on `s`; returns the status line of its response (the
/// response is read in full, by its Content-Length).
fn request(s: &mut TcpStream, head: &str) -> String {
    s.write_all(head.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text.lines().next().unwrap_or("").to_string();
            }
        }
    }
}

const GET: &str = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[test]
fn silent_and_idle_keep_alive_connections_are_closed() {
    let s = start(|c| {
        c.idle_timeout_secs = 1;
        c.header_read_timeout_secs = 30;
    });
    for addr in [s.api, s.storage] {
        let mut silent = connect(addr);
        let got = wait_closed(&mut silent, &format!("a silent connection to {addr}"));
        assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
        // A connection that made a request and then waits.
        let mut kept = connect(addr);
        let status = request(&mut kept, GET);
        assert!(status.starts_with("HTTP/1.1 "), "{status}");
        let rest = wait_closed(
            &mut kept,
            &format!("an idle keep-alive connection to {addr}"),
        );
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    }
}

/// Write `lines` one by one, `every` apart, until the server closes or they run out;
/// true when every line was written.
fn trickle(
    mut s: TcpStream,
    lines: Vec<Vec<u8>>,
    every: Duration,
) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        for l in lines {
            if s.write_all(&l).is_err() {
                return false;
            }
            std::thread::sleep(every);
        }
        true
    })
}

#[test]
fn a_request_head_sent_slowly_is_cut_off() {
    let s = start(|c| {
        c.idle_timeout_secs = 30;
        c.header_read_timeout_secs = 1;
    });
    for addr in [s.api, s.storage] {
        let mut c = connect(addr);
        // A header line every 200 ms: always some traffic, never a complete head
        // (150 lines: 30 s, past SAFETY's worth of an idle-only server).
        let mut lines = vec![b"PUT /x HTTP/1.1\r\nHost: 127.0.0.1\r\n".to_vec()];
        lines.extend((0..150).map(|i| format!("X-Slow-{i}: y\r\n").into_bytes()));
        let w = trickle(c.try_clone().unwrap(), lines, Duration::from_millis(200));
        let got = wait_closed(&mut c, &format!("a half-sent head to {addr}"));
        let text = String::from_utf8_lossy(&got);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
        assert!(!w.join().unwrap(), "the whole head was accepted slowly");
    }
}

/// A body of 1 byte every 200 ms (5 B/s) for a request announcing 5 GiB, below a
/// minimum of 1000 B/s: the server answers (an error) and closes the connection.
fn slow_body(addr: SocketAddr, head: String) {
    let mut c = connect(addr);
    c.write_all(head.as_bytes()).unwrap();
    let body: Vec<Vec<u8>> = (0..150).map(|_| b"x".to_vec()).collect();
    let w = trickle(c.try_clone().unwrap(), body, Duration::from_millis(200));
    let got = wait_closed(&mut c, &format!("a slow body to {addr}"));
    let text = String::from_utf8_lossy(&got);
    // The API answers errors with HTTP 200 and an Error object.
    assert!(
        text.is_empty() || !text.starts_with("HTTP/1.1 2") || text.contains("\"Error\""),
        "a slow body was accepted: {text}"
    );
    assert!(
        text.is_empty() || text.contains("min_body_rate"),
        "the answer does not say why: {text}"
    );
    assert!(!w.join().unwrap(), "the server took the whole slow body");
}

#[test]
fn a_body_below_the_minimum_rate_is_cut_off_on_both_listeners() {
    let s = start(|c| {
        c.idle_timeout_secs = 30;
        c.header_read_timeout_secs = 30;
        c.min_body_rate = 1000;
        c.body_rate_window_secs = 1;
        c.body_rate_grace_secs = 1;
    });
    // The API reads the whole body (the signature covers it) before anything else.
    slow_body(
        s.api,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"
            .into(),
    );
    // The object store: a correctly signed PUT (unsigned payload) of 5 GiB.
    let bucket = format!("b-{}", s.account.app_id);
    let now = time::OffsetDateTime::now_utc();
    let amz_date = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let scope = format!("{}/{}/s3/aws4_request", &amz_date[..8], s.region);
    let host = s.storage.to_string();
    let path = format!("/{bucket}/big.raw");
    let headers = vec![
        ("host".to_string(), host.clone()),
        (
            "x-amz-content-sha256".to_string(),
            "UNSIGNED-PAYLOAD".to_string(),
        ),
        ("x-amz-date".to_string(), amz_date.clone()),
    ];
    let cu = sigv4::canonical_uri(&path);
    let sig = sigv4::signature_with_key(
        &sigv4::Scope::parse(&scope)
            .unwrap()
            .key(&s.account.secret_key),
        &amz_date,
        &scope,
        &sigv4::Canonical {
            method: "PUT",
            canonical_uri: &cu,
            canonical_query: "",
            signed_headers: &headers,
            payload_hash: "UNSIGNED-PAYLOAD",
        },
    );
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nx-amz-date: {amz_date}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={sig}\r\nContent-Length: {}\r\n\r\n",
        s.account.secret_id,
        5u64 << 30
    );
    slow_body(s.storage, head.clone());
    // The same request at full speed is stored (the signature is right; only the
    // rate was refused).
    let mut c = connect(s.storage);
    let small = head.replace(
        &format!("Content-Length: {}", 5u64 << 30),
        "Content-Length: 5",
    );
    let status = request(&mut c, &format!("{small}hello"));
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    drop(s.rt);
}

/// Wait until a new connection to `addr` is served (a slot freed asynchronously).
fn served_eventually(addr: SocketAddr) -> TcpStream {
    for _ in 0..300 {
        let mut c = connect(addr);
        c.write_all(GET.as_bytes()).unwrap();
        let mut b = [0u8; 12];
        if c.read_exact(&mut b).is_ok() && !b.starts_with(b"HTTP/1.1 503") {
            return c;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{addr}: no connection was served after one closed");
}

/// `c` was refused: 503 (or a reset), then closed.
fn assert_refused(mut c: TcpStream, what: &str) {
    let got = wait_closed(&mut c, what);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 503"),
        "{what}: {text}"
    );
}

#[test]
fn connections_over_the_caps_are_refused() {
    let s = start(|c| {
        c.max_connections = 3;
        c.max_connections_per_ip = 100;
    });
    for addr in [s.api, s.storage] {
        let mut open: Vec<TcpStream> = (0..3).map(|_| connect(addr)).collect();
        for c in &mut open {
            assert!(request(c, GET).starts_with("HTTP/1.1 "));
        }
        assert_refused(connect(addr), &format!("a 4th connection to {addr}"));
        // The open ones still work; closing one makes room.
        assert!(request(&mut open[0], GET).starts_with("HTTP/1.1 "));
        drop(open.pop());
        let _again = served_eventually(addr);
    }
    drop(s);

    let s = start(|c| {
        c.max_connections = 100;
        c.max_connections_per_ip = 2;
    });
    for addr in [s.api, s.storage] {
        let mut open: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
        for c in &mut open {
            assert!(request(c, GET).starts_with("HTTP/1.1 "));
        }
        assert_refused(
            connect(addr),
            &format!("a 3rd connection from 127.0.0.1 to {addr}"),
        );
        // Another client address (all of 127/8 is loopback) is not held back.
        let other = s.rt.block_on(async {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            sock.connect(addr).await.unwrap().into_std().unwrap()
        });
        other.set_nonblocking(false).unwrap();
        other.set_read_timeout(Some(SAFETY)).unwrap();
        let mut other = other;
        assert!(request(&mut other, GET).starts_with("HTTP/1.1 "));
    }
}
