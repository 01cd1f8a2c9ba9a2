//! Webhooks of the message centre: a subscription may name a URL that receives each
//! message as a JSON POST (R-FLOW-ASYNC). Only plain-HTTP loopback URLs are accepted
//! (`http://127.0.0.1…`, `http://[::1]…`, `http://localhost…`; `localhost` is never
//! resolved through DNS), so a webhook cannot be used to reach other hosts (no SSRF).
//! Deliveries are rows of an outbox, made by one thread with short timeouts; a 2xx
//! answer delivers, anything else (redirects are not followed) is retried with
//! back-off and given up after [`MAX_ATTEMPTS`].

use crate::AppState;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Attempts per delivery before it is marked failed.
pub const MAX_ATTEMPTS: i64 = 5;
/// Seconds to wait before attempt n+1 (n = attempts made so far, from 1).
const BACKOFF_SECS: [i64; 4] = [2, 15, 60, 300];
/// Connect / read / write timeout of one POST.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Longest accepted webhook URL.
const MAX_URL: usize = 1024;
/// Bytes of the answer read to find its status line.
const MAX_ANSWER: usize = 8 << 10;

/// Where a validated webhook URL sends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub host_header: String,
    pub path_and_query: String,
}

/// Check that `url` is an allowed webhook URL (plain HTTP to a loopback address).
pub fn validate(url: &str) -> Result<Target, String> {
    if url.len() > MAX_URL {
        return Err(format!("the URL is longer than {MAX_URL} characters"));
    }
    let u = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if u.scheme() != "http" {
        return Err(format!(
            "scheme `{}` is not allowed; use http:// to a loopback address",
            u.scheme()
        ));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials in the URL are not allowed".into());
    }
    let ip: IpAddr =
        match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.into(),
            Some(url::Host::Ipv6(ip)) => ip.into(),
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                Ipv4Addr::LOCALHOST.into()
            }
            _ => return Err(
                "only loopback webhooks (127.0.0.1, [::1], localhost) are allowed on this service"
                    .into(),
            ),
        };
    if !ip.is_loopback() {
        return Err(format!(
            "{ip} is not a loopback address; only loopback webhooks are allowed on this service"
        ));
    }
    let port = u.port_or_known_default().unwrap_or(80);
    let mut path_and_query = u.path().to_string();
    if let Some(q) = u.query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host_header: match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or("localhost")),
            None => u.host_str().unwrap_or("localhost").to_string(),
        },
        path_and_query,
    })
}

/// POST `payload` to `url` once. `Ok` on a 2xx answer.
pub fn post(url: &str, payload: &str, delivery_id: i64) -> Result<(), String> {
    let t = validate(url)?;
    let mut s = TcpStream::connect_timeout(&t.addr, TIMEOUT).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(TIMEOUT))
        .and_then(|_| s.set_read_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: imgport-webhook\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Imgport-Delivery: {delivery_id}\r\nConnection: close\r\n\r\n",
        t.path_and_query,
        t.host_header,
        payload.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|_| s.write_all(payload.as_bytes()))
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < MAX_ANSWER {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("reading the answer: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&buf);
    let line = line.lines().next().unwrap_or("");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP answer: {:?}",
                line.chars().take(80).collect::<String>()
            )
        })?;
    match status {
        200..=299 => Ok(()),
        300..=399 => Err(format!("answered {status}: redirects are not followed")),
        _ => Err(format!("answered {status}")),
    }
}

/// Make the due deliveries once; returns how many were attempted.
pub fn deliver_due(st: &AppState) -> usize {
    let due = match st.db.due_deliveries(20) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("webhook outbox: {e}");
            return 0;
        }
    };
    for d in &due {
        let r = post(&d.url, &d.payload, d.delivery_id);
        let attempt = d.attempts + 1;
        crate::metrics::webhook(r.is_ok());
        let outcome = match &r {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(delivery = d.delivery_id, attempt, "webhook {}: {e}", d.url);
                let retry = (attempt < MAX_ATTEMPTS).then(|| {
                    crate::db::now()
                        + BACKOFF_SECS[(attempt as usize - 1).min(BACKOFF_SECS.len() - 1)]
                });
                Err((e.as_str(), retry))
            }
        };
        if let Err(e) = st.db.delivery_attempted(d.delivery_id, outcome) {
            tracing::error!("webhook outbox: {e}");
        }
    }
    due.len()
}

/// Start the delivery thread; it stops when `stop` is set.
pub fn start(st: &AppState, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let st = st.clone();
    std::thread::Builder::new()
        .name("webhooks".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if deliver_due(&st) == 0 {
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        })
        .expect("spawn the webhook thread")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn only_plain_http_loopback_urls_are_accepted() {
        for ok in [
            "http://127.0.0.1:8080/hook",
            "http://127.9.9.9/h?x=1",
            "http://[::1]:9/h",
            "http://localhost:1234/",
            "http://LOCALHOST/",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1/h",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/h",
            "http://example.com/h",
            "http://localhost.example.com/h",
            "http://user:pw@127.0.0.1/h",
            "http://0.0.0.0/h",
            "file:///etc/passwd",
            "gopher://127.0.0.1/",
            "not a url",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        let t = validate("http://localhost:1234/a/b?c=d").unwrap();
        assert_eq!(t.addr, "127.0.0.1:1234".parse().unwrap());
        assert_eq!(t.path_and_query, "/a/b?c=d");
        assert!(validate(&format!("http://127.0.0.1/{}", "a".repeat(2000))).is_err());
    }

    /// A one-shot server answering `answer`; returns its URL and the request it got.
    fn server(answer: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hook?k=v",
            l.local_addr().unwrap().port()
        );
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            while !String::from_utf8_lossy(&got).contains("\"x\":1") {
                let n = s.read(&mut b).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&b[..n]);
            }
            s.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (url, h)
    }

    #[test]
    fn posts_json_and_does_not_follow_redirects() {
        let (url, h) = server("HTTP/1.1 204 No Content\r\n\r\n");
        post(&url, "{\"x\":1}", 7).unwrap();
        let req = h.join().unwrap();
        assert!(req.starts_with("POST /hook?k=v HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains("Content-Type: application/json") && req.contains("X-Imgport-Delivery: 7")
        );
        let (url, h) = server("HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n\r\n");
        let e = post(&url, "{\"x\":1}", 8).unwrap_err();
        assert!(e.contains("redirects are not followed"), "{e}");
        h.join().unwrap();
        let (url, h) = server("garbage\r\n");
        assert!(post(&url, "{\"x\":1}", 9).is_err());
        h.join().unwrap();
    }

    #[test]
    fn a_closed_port_fails_quickly() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(post(&format!("http://127.0.0.1:{port}/"), "{}", 1).is_err());
    }
}
