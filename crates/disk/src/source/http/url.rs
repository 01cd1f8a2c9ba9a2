//! URLs as shown and followed: [`redact_url`] hides a presigned URL's query (a
//! credential) and user info from messages; [`same_origin_target`] accepts a redirect
//! only within the same scheme, host and port (the safety rules of [`super`]).

use ureq::http::Uri;

/// `scheme://host[:port]/path` of `uri`, without user info, query or fragment: what
/// messages show (a presigned URL's query is a credential).
pub(super) fn redact_url(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("?");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    let query = if uri.query().is_some() { "?…" } else { "" };
    format!("{scheme}://{host}{}{query}", uri.path())
}

/// Scheme, lower-cased host and port (default by scheme) of an absolute URI.
fn origin(uri: &Uri) -> Option<(String, String, u16)> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = uri.host()?.to_ascii_lowercase();
    Some((scheme, host, uri.port_u16().unwrap_or(default)))
}

/// Resolve a redirect's `Location` against `current` and accept it only when it
/// stays on the same origin (scheme, host, port).
pub(super) fn same_origin_target(
    current: &Uri,
    location: &str,
) -> std::result::Result<Uri, String> {
    let location = location.split('#').next().unwrap_or("");
    let scheme = current.scheme_str().unwrap_or("http");
    let authority = current.authority().map(|a| a.as_str()).unwrap_or("");
    let absolute = if location.starts_with("//") {
        format!("{scheme}:{location}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else if location.contains("://") {
        location.to_string()
    } else {
        let path = current.path();
        let dir = &path[..path.rfind('/').map(|i| i + 1).unwrap_or(0)];
        format!("{scheme}://{authority}{dir}{location}")
    };
    let target: Uri = absolute
        .parse()
        .map_err(|e| format!("the redirect target is not a valid URL ({e})"))?;
    match (origin(current), origin(&target)) {
        (Some(a), Some(b)) if a == b => Ok(target),
        _ => Err(format!(
            "the server redirects to another origin ({}); only the URL given is read",
            redact_url(&target)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets() {
        let cur: Uri = "http://a.example:8080/dir/obj?sig=x".parse().unwrap();
        let ok = |l: &str| same_origin_target(&cur, l).map(|u| u.to_string());
        assert_eq!(ok("/other?x=1").unwrap(), "http://a.example:8080/other?x=1");
        assert_eq!(ok("next").unwrap(), "http://a.example:8080/dir/next");
        assert_eq!(
            ok("HTTP://A.example:8080/x").unwrap(),
            "http://A.example:8080/x"
        );
        assert_eq!(
            ok("//a.example:8080/y#frag").unwrap(),
            "http://a.example:8080/y"
        );
        assert!(ok("http://b.example:8080/x").is_err());
        assert!(ok("https://a.example:8080/x").is_err());
        assert!(ok("http://a.example/x").is_err());
        assert!(ok("//127.0.0.2:8080/x").is_err());
        let d: Uri = "https://h/x".parse().unwrap();
        assert!(same_origin_target(&d, "https://h:443/y").is_ok());
    }

    #[test]
    fn redaction_hides_query_and_userinfo() {
        let u: Uri = "https://user:pw@bucket.cos.example.com/a/b.qcow2?q-signature=SECRET"
            .parse()
            .unwrap();
        assert_eq!(redact_url(&u), "https://bucket.cos.example.com/a/b.qcow2?…");
    }
}
