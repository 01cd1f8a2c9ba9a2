//! Webhooks of the message centre: a subscription may name a URL that receives each
//! message as a JSON POST (R-FLOW-ASYNC). Only plain-HTTP URLs whose host and port
//! match the operator's allow-list (`webhook_allow`, `IMGPORT_WEBHOOK_ALLOW`,
//! `--webhook-allow`; EMPTY by default, so no webhook is accepted) are, at
//! registration (`ModifySubscription`) and again at each delivery (issue 18 item 5).
//! Hosts are compared normalised, as the connection would reach them: IPv4 in any
//! spelling the URL parser accepts (`0x7f000001`, `2130706433`, `0177.0.0.1`,
//! `127.0.0.1.`), IPv6 without brackets with IPv4-mapped addresses as IPv4,
//! `localhost` as 127.0.0.1 (never looked up in DNS), other names lower-case without
//! a trailing dot; URLs with user info are refused; the port must match exactly. The
//! service's own API and object-store ports are never targets. An allowed DNS name
//! is resolved at delivery and trusted to point where the operator means.
//! Deliveries are rows of an outbox, made by one thread with a connect timeout and a
//! total deadline per POST; a 2xx answer delivers, anything else (redirects are
//! never followed) is retried with back-off and given up after [`MAX_ATTEMPTS`]; a
//! target that is no longer allowed fails at once.

use crate::AppState;
use crate::Config;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attempts per delivery before it is marked failed.
pub const MAX_ATTEMPTS: i64 = 5;
/// Seconds to wait before attempt n+1 (n = attempts made so far, from 1).
const BACKOFF_SECS: [i64; 4] = [2, 15, 60, 300];
/// Connect timeout of one POST.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The whole POST (connect, send, read the status line) must end within this.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest accepted webhook URL.
const MAX_URL: usize = 1024;
/// Bytes of the answer read to find its status line.
const MAX_ANSWER: usize = 8 << 10;
/// Most allow-list entries.
const MAX_ALLOW: usize = 256;

/// A host as a connection reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKey {
    Ip(IpAddr),
    /// A DNS name: lower case, no trailing dot (never `localhost`).
    Name(String),
}

/// One entry of the allow-list: `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    pub host: HostKey,
    pub port: u16,
}

/// Where a validated webhook URL sends to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: HostKey,
    pub port: u16,
    pub host_header: String,
    pub path_and_query: String,
}

/// The normalised form of a parsed host.
fn host_key(h: url::Host<&str>) -> Result<HostKey, String> {
    Ok(match h {
        url::Host::Ipv4(ip) => HostKey::Ip(ip.into()),
        url::Host::Ipv6(ip) => HostKey::Ip(match ip.to_ipv4_mapped() {
            Some(v4) => v4.into(),
            None => ip.into(),
        }),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d.is_empty() {
                return Err("an empty host name".into());
            }
            if d == "localhost" {
                HostKey::Ip(Ipv4Addr::LOCALHOST.into())
            } else {
                HostKey::Name(d)
            }
        }
    })
}

/// Parse allow-list entries (`HOST:PORT`, IPv6 as `[ADDR]:PORT`); an error names the
/// first bad entry.
pub fn parse_allow(entries: &[String]) -> Result<Vec<Allowed>, String> {
    if entries.len() > MAX_ALLOW {
        return Err(format!(
            "webhook_allow has {} entries; at most {MAX_ALLOW}",
            entries.len()
        ));
    }
    entries
        .iter()
        .map(|e| {
            let e = e.trim();
            let bad = |why: &str| {
                format!("webhook_allow entry {e:?}: {why}; write HOST:PORT (IPv6 as [ADDR]:PORT)")
            };
            let (host, port) = e.rsplit_once(':').ok_or_else(|| bad("no port"))?;
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
            if host.contains(['/', '@', '?', '#']) || host.is_empty() {
                return Err(bad("not a host name or address"));
            }
            let h = url::Host::parse(host).map_err(|x| bad(&x.to_string()))?;
            let host = match &h {
                url::Host::Domain(d) => host_key(url::Host::Domain(d.as_str())),
                url::Host::Ipv4(ip) => host_key(url::Host::Ipv4(*ip)),
                url::Host::Ipv6(ip) => host_key(url::Host::Ipv6(*ip)),
            }
            .map_err(|x| bad(&x))?;
            Ok(Allowed { host, port })
        })
        .collect()
}

/// Whether `(ip, port)` is one of the service's own listeners.
fn own_listener(cfg: &Config, ip: IpAddr, port: u16) -> bool {
    [cfg.listen, cfg.storage_listen].iter().any(|l| {
        l.port() == port
            && (l.ip() == ip
                || l.ip().is_unspecified()
                || (ip.is_loopback() && l.ip().is_loopback()))
    })
}

/// Check that `url` is an allowed webhook URL for the configuration `cfg`: plain
/// HTTP, no user info, host and port on the allow-list, not the service itself.
pub fn validate(url: &str, cfg: &Config) -> Result<Target, String> {
    if url.len() > MAX_URL {
        return Err(format!("the URL is longer than {MAX_URL} characters"));
    }
    let u = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if u.scheme() != "http" {
        return Err(format!(
            "scheme `{}` is not allowed; use http://HOST:PORT/ of the webhook allow-list",
            u.scheme()
        ));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("credentials in the URL are not allowed".into());
    }
    let host = host_key(u.host().ok_or("the URL has no host")?)?;
    let port = u.port_or_known_default().unwrap_or(80);
    if let HostKey::Ip(ip) = &host {
        if ip.is_unspecified() || ip.is_multicast() || *ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(format!("{ip} is not an address a webhook can be sent to"));
        }
        if own_listener(cfg, *ip, port) {
            return Err(format!(
                "{ip} port {port} is this service's own API or object store; a webhook cannot target it"
            ));
        }
    }
    let allow = parse_allow(&cfg.webhook_allow)?;
    if !allow.iter().any(|a| a.host == host && a.port == port) {
        let shown = match &host {
            HostKey::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            HostKey::Ip(ip) => format!("{ip}:{port}"),
            HostKey::Name(n) => format!("{n}:{port}"),
        };
        return Err(if allow.is_empty() {
            format!("webhooks are disabled on this service ({shown} is not allowed): the operator allows targets with webhook_allow / IMGPORT_WEBHOOK_ALLOW / --webhook-allow HOST:PORT")
        } else {
            format!("{shown} is not on this service's webhook allow-list (webhook_allow); ask the operator to allow it, or use an allowed HOST:PORT")
        });
    }
    let mut path_and_query = u.path().to_string();
    if let Some(q) = u.query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    Ok(Target {
        host,
        port,
        host_header: match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or("localhost")),
            None => u.host_str().unwrap_or("localhost").to_string(),
        },
        path_and_query,
    })
}

/// How long a POST may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: CONNECT_TIMEOUT,
            total: TOTAL_TIMEOUT,
        }
    }
}

/// POST `payload` to `url` once, if `cfg` allows it. `Ok` on a 2xx answer.
pub fn post(url: &str, payload: &str, delivery_id: i64, cfg: &Config) -> Result<(), String> {
    post_with(url, payload, delivery_id, cfg, Timeouts::default())
}

/// [`post`] with explicit timeouts.
pub fn post_with(
    url: &str,
    payload: &str,
    delivery_id: i64,
    cfg: &Config,
    timeouts: Timeouts,
) -> Result<(), String> {
    let t = validate(url, cfg)?;
    let deadline = Instant::now() + timeouts.total;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {} s", timeouts.total.as_secs_f32()))
    };
    let addrs: Vec<SocketAddr> = match &t.host {
        HostKey::Ip(ip) => vec![SocketAddr::new(*ip, t.port)],
        HostKey::Name(n) => (n.as_str(), t.port)
            .to_socket_addrs()
            .map_err(|e| format!("resolving {n}: {e}"))?
            .take(4)
            .collect(),
    };
    let mut last = format!("{url}: no address");
    let mut stream = None;
    for a in addrs {
        if own_listener(cfg, a.ip(), a.port()) {
            last = format!("{a} is this service's own listener");
            continue;
        }
        match TcpStream::connect_timeout(&a, timeouts.connect.min(left()?)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut s = stream.ok_or(last)?;
    s.set_write_timeout(Some(left()?))
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
        s.set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!(
                    "no answer within {} s",
                    timeouts.total.as_secs_f32()
                ))
            }
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
                imgport_policy::text::clip(line, 80)
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
        // A target the allow-list does not (or no longer) allow fails at once.
        let allowed = validate(&d.url, &st.config).map(|_| ());
        let r = allowed
            .clone()
            .and_then(|_| post(&d.url, &d.payload, d.delivery_id, &st.config));
        let attempt = d.attempts + 1;
        crate::metrics::webhook(r.is_ok());
        let outcome = match &r {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(delivery = d.delivery_id, attempt, "webhook {}: {e}", d.url);
                let retry = (attempt < MAX_ATTEMPTS && allowed.is_ok()).then(|| {
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

    fn cfg(allow: &[&str]) -> Config {
        Config {
            webhook_allow: allow.iter().map(|s| s.to_string()).collect(),
            ..Config::default()
        }
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let c = Config::default();
        assert!(c.webhook_allow.is_empty());
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/",
            "http://[::1]:9/",
        ] {
            let e = validate(url, &c).unwrap_err();
            assert!(e.contains("webhooks are disabled"), "{url}: {e}");
        }
    }

    #[test]
    fn only_allow_listed_host_and_port_are_accepted() {
        let c = cfg(&["127.0.0.1:8080", "[::1]:9", "Hooks.Example.COM.:80"]);
        for ok in [
            "http://127.0.0.1:8080/hook",
            "http://localhost:8080/",
            "http://LOCALHOST.:8080/",
            "http://[::1]:9/h",
            "http://hooks.example.com/h?x=1",
            "http://HOOKS.example.com.:80/",
            // Other spellings of 127.0.0.1 reach the same listener: same target.
            "http://0x7f000001:8080/",
            "http://2130706433:8080/",
            "http://0177.0.0.1:8080/",
            "http://127.1:8080/",
            "http://127.0.0.1.:8080/",
            "http://[::ffff:127.0.0.1]:8080/",
            "http://[::ffff:7f00:1]:8080/",
        ] {
            assert!(validate(ok, &c).is_ok(), "{ok}: {:?}", validate(ok, &c));
        }
        for bad in [
            // Other ports of allowed hosts: ssh, redis, the API itself.
            "http://127.0.0.1:22/",
            "http://127.0.0.1:6379/",
            "http://0x7f000001:22/",
            "http://[::ffff:127.0.0.1]:6379/",
            "http://localhost/",
            "http://[::1]:8080/",
            "http://127.0.0.2:8080/",
            "http://hooks.example.com:8080/",
            "http://evil.hooks.example.com/",
            // User info tricks, other schemes, unroutable addresses.
            "http://user:pw@127.0.0.1:8080/h",
            "http://127.0.0.1:8080@evil.example/",
            "http://evil.example#@127.0.0.1:8080/",
            "https://127.0.0.1:8080/h",
            "http://0.0.0.0:8080/h",
            "http://169.254.169.254/latest/meta-data",
            "file:///etc/passwd",
            "gopher://127.0.0.1:8080/",
            "not a url",
        ] {
            assert!(validate(bad, &c).is_err(), "{bad}");
        }
        let e = validate("http://127.0.0.1:22/", &c).unwrap_err();
        assert!(
            e.contains("127.0.0.1:22") && e.contains("allow-list"),
            "{e}"
        );
        let t = validate("http://localhost:8080/a/b?c=d", &c).unwrap();
        assert_eq!(t.host, HostKey::Ip(Ipv4Addr::LOCALHOST.into()));
        assert_eq!(t.port, 8080);
        assert_eq!(t.path_and_query, "/a/b?c=d");
        assert!(validate(&format!("http://127.0.0.1:8080/{}", "a".repeat(2000)), &c).is_err());
    }

    #[test]
    fn the_service_itself_is_never_a_target() {
        let mut c = cfg(&["127.0.0.1:9000", "127.0.0.1:9001", "[::1]:9000"]);
        c.listen = "127.0.0.1:9000".parse().unwrap();
        c.storage_listen = "0.0.0.0:9001".parse().unwrap();
        for bad in [
            "http://127.0.0.1:9000/",
            "http://localhost:9001/",
            "http://[::1]:9000/",
        ] {
            let e = validate(bad, &c).unwrap_err();
            assert!(e.contains("own API"), "{bad}: {e}");
        }
    }

    #[test]
    fn allow_list_entries_are_checked() {
        assert_eq!(
            parse_allow(&["0x7f000001:80".into(), "[::ffff:10.0.0.1]:8080".into()]).unwrap(),
            vec![
                Allowed {
                    host: HostKey::Ip(Ipv4Addr::LOCALHOST.into()),
                    port: 80
                },
                Allowed {
                    host: HostKey::Ip(Ipv4Addr::new(10, 0, 0, 1).into()),
                    port: 8080
                },
            ]
        );
        for bad in [
            "127.0.0.1",
            "::1:80",
            "h:0",
            "h:99999",
            ":80",
            "a@b:80",
            "http://h:80",
        ] {
            assert!(parse_allow(&[bad.into()]).is_err(), "{bad}");
        }
    }

    /// A configuration allowing `url`'s host and port.
    fn allowing(url: &str) -> Config {
        let u = url::Url::parse(url).unwrap();
        cfg(&[&format!("{}:{}", u.host_str().unwrap(), u.port().unwrap())])
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
        post(&url, "{\"x\":1}", 7, &allowing(&url)).unwrap();
        let req = h.join().unwrap();
        assert!(req.starts_with("POST /hook?k=v HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains("Content-Type: application/json") && req.contains("X-Imgport-Delivery: 7")
        );
        let (url, h) = server("HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n\r\n");
        let e = post(&url, "{\"x\":1}", 8, &allowing(&url)).unwrap_err();
        assert!(e.contains("redirects are not followed"), "{e}");
        h.join().unwrap();
        let (url, h) = server("garbage\r\n");
        assert!(post(&url, "{\"x\":1}", 9, &allowing(&url)).is_err());
        h.join().unwrap();
    }

    #[test]
    fn a_closed_port_fails_quickly() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        assert!(post(&url, "{}", 1, &allowing(&url)).is_err());
    }
}

#[cfg(test)]
mod delivery_tests {
    use super::*;
    use std::net::TcpListener;

    /// A target off the allow-list is never connected to.
    #[test]
    fn a_refused_target_is_not_contacted() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let c = Config {
            webhook_allow: vec![format!("127.0.0.1:{}", port.wrapping_add(1).max(1))],
            ..Config::default()
        };
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://0x7f000001:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let e = post(&url, "{}", 1, &c).unwrap_err();
            assert!(e.contains("allow-list"), "{e}");
        }
        assert!(matches!(l.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
    }

    /// A server that answers one byte at a time, slowly and never a whole line, is
    /// given up at the total deadline (not after 3 s per byte).
    #[test]
    fn a_trickling_answer_ends_at_the_total_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            for _ in 0..100 {
                if s.write_all(b"H").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let url = format!("http://127.0.0.1:{port}/");
        let c = Config {
            webhook_allow: vec![format!("127.0.0.1:{port}")],
            ..Config::default()
        };
        let e = post_with(
            &url,
            "{}",
            1,
            &c,
            Timeouts {
                connect: Duration::from_secs(3),
                total: Duration::from_millis(500),
            },
        )
        .unwrap_err();
        assert!(e.contains("no answer within"), "{e}");
        h.join().unwrap();
    }
}
