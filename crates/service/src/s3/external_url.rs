//! Which ImageUrl an import may use when objects live in the operator's S3 store
//! (issue 13 item 2; SPEC R-ERR `InvalidUrl`, R-REGION). The same rules as for the
//! embedded store ([`super::import_url`]), against the configured store:
//!
//! - the link's scheme, host and port are the store's `endpoint` or `public_endpoint`,
//!   path style (`/BUCKET/KEY`) or virtual-host style (`BUCKET.HOST/KEY`); no other
//!   host is ever contacted;
//! - the bucket is one the operator lists (`[s3.buckets]`), in the request's region
//!   (the finance-region wording of [`UrlError::WrongRegion`] is shared);
//! - the link is presigned (SigV4 or SigV2 query) or the object is public-read. The
//!   store is the authority on its own keys, ACLs and policies: the link itself is
//!   asked for its first byte, and anything but 200/206 refuses it. An expired
//!   signature is recognised locally first, for a precise message;
//! - a signed link imports once, across all servers (the database's used signatures);
//! - the object's size and ETag are read with the service's own credentials, and the
//!   job reads exactly that version.

use super::import_url::{parse_link, shown, use_once, ImportSource, UrlError};
use super::router::split_host_port;
use super::sigv4;
use crate::objects::s3::{S3Error, S3Store};
use crate::objects::SourceRef;
use crate::AppState;

/// The parts of a link that name an object of the external store.
#[derive(Debug, PartialEq, Eq)]
struct Named {
    bucket: String,
    key: String,
}

/// `(scheme, host, port)` of an endpoint URL.
fn origin(endpoint: &str) -> Option<(String, String, u16)> {
    let u = url::Url::parse(endpoint).ok()?;
    let (h, _) = split_host_port(u.host_str()?);
    Some((u.scheme().to_string(), h, u.port_or_known_default()?))
}

/// The bucket and key `u` names, if it is a link of one of `endpoints`.
fn name_object(u: &url::Url, endpoints: &[&str]) -> Result<Named, UrlError> {
    let shown = shown(u);
    let (host, _) = split_host_port(u.host_str().unwrap_or(""));
    let port = u.port_or_known_default().unwrap_or(0);
    let path = sigv4::decode(u.path());
    for e in endpoints {
        let Some((s, h, p)) = origin(e) else { continue };
        if s != u.scheme() || p != port {
            continue;
        }
        if host == h {
            // Path style: /BUCKET/KEY.
            let rest = path.trim_start_matches('/');
            if let Some((bucket, key)) = rest.split_once('/') {
                if !bucket.is_empty() && !key.is_empty() {
                    return Ok(Named {
                        bucket: bucket.into(),
                        key: key.into(),
                    });
                }
            }
            return Err(UrlError::NoSuchObject(format!(
                "{shown}: the link names no object (BUCKET/KEY)"
            )));
        }
        if let Some(bucket) = host.strip_suffix(&format!(".{h}")) {
            let key = path.trim_start_matches('/');
            if !bucket.is_empty() && !bucket.contains('.') && !key.is_empty() {
                return Ok(Named {
                    bucket: bucket.into(),
                    key: key.into(),
                });
            }
        }
    }
    Err(UrlError::NotOurStore(format!(
        "{shown}; this cloud's object storage is {}",
        endpoints.first().copied().unwrap_or("")
    )))
}

/// The signature a link carries (its single-use key) and when it expires (Unix s;
/// 0: unknown), or `None` for an unsigned link.
fn signature(raw_query: &str) -> Option<(String, i64)> {
    let query = sigv4::parse_query(raw_query);
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(sig) = q("X-Amz-Signature") {
        let expires_at = q("X-Amz-Date")
            .and_then(sigv4::parse_amz_date)
            .zip(q("X-Amz-Expires").and_then(|e| e.parse::<i64>().ok()))
            .map_or(0, |(t, e)| t.saturating_add(e));
        return Some((format!("sigv4:{}", sig.to_ascii_lowercase()), expires_at));
    }
    if let Some(sig) = q("Signature") {
        let expires_at = q("Expires").and_then(|e| e.parse().ok()).unwrap_or(0);
        return Some((format!("sigv2:{sig}"), expires_at));
    }
    None
}

/// R-ERR InvalidUrl, R-REGION against the external store (see the module doc).
pub fn resolve(
    st: &AppState,
    store: &S3Store,
    url: &str,
    request_region: &str,
    consume: bool,
) -> Result<ImportSource, UrlError> {
    let (u, shown) = parse_link(url)?;
    let cfg = store.config();
    let mut endpoints = vec![cfg.endpoint.as_str()];
    if let Some(p) = &cfg.public_endpoint {
        endpoints.insert(0, p.as_str());
    }
    let named = name_object(&u, &endpoints)?;
    let Some(bucket_region) = cfg.buckets.get(&named.bucket) else {
        return Err(UrlError::NoSuchObject(format!(
            "{shown}: the bucket {} is not one this service imports from",
            named.bucket
        )));
    };
    let signed = signature(u.query().unwrap_or(""));
    let now = crate::db::now();
    if let Some((_, expires_at)) = &signed {
        if *expires_at > 0 && *expires_at < now {
            return Err(UrlError::Expired(shown));
        }
    }
    // The store's answer to the link as given: the signature, the key's rights and
    // the object's ACL are the store's to judge.
    match store.probe_link(u.as_str()) {
        Ok(200 | 206) => {}
        Ok(404) => {
            return Err(UrlError::NoSuchObject(format!(
                "{shown}: there is no object {} in {}",
                named.key, named.bucket
            )))
        }
        Ok(status) => {
            return Err(UrlError::NotAuthorized(format!(
                "{shown}: the object storage refused the link (HTTP {status}){}",
                if signed.is_some() {
                    ": its signature is not valid for this object"
                } else {
                    ": the object is not public-read"
                }
            )))
        }
        Err(e) => {
            return Err(UrlError::NoSuchObject(format!(
                "{shown}: the object storage did not answer ({e})"
            )))
        }
    }
    if bucket_region != request_region {
        return Err(UrlError::WrongRegion {
            bucket_region: bucket_region.clone(),
            request_region: request_region.to_string(),
        });
    }
    let head = store.head(&named.bucket, &named.key).map_err(|e| match e {
        S3Error::NotFound { .. } => UrlError::NoSuchObject(format!("{shown}: {e}")),
        e => UrlError::NoSuchObject(format!("{shown}: the object could not be read ({e})")),
    })?;
    if let Some((k, expires_at)) = signed {
        use_once(st, &k, expires_at, consume, &shown)?;
    }
    let blob = SourceRef::External {
        bucket: named.bucket.clone(),
        key: named.key.clone(),
        etag: head.etag.clone(),
        size: head.size,
    }
    .encode();
    Ok(ImportSource {
        bucket: named.bucket,
        key: named.key,
        blob,
        size: head.size,
        region: bucket_region.clone(),
        owner_app_id: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(url: &str) -> Result<Named, String> {
        let u = url::Url::parse(url).unwrap();
        name_object(&u, &["https://s3.example.net", "http://127.0.0.1:3900"])
            .map_err(|e| e.to_string())
    }

    #[test]
    fn links_name_objects_of_the_configured_endpoints_only() {
        let n = |b: &str, k: &str| {
            Ok(Named {
                bucket: b.into(),
                key: k.into(),
            })
        };
        assert_eq!(
            named("http://127.0.0.1:3900/gz/a/b.qcow2"),
            n("gz", "a/b.qcow2")
        );
        assert_eq!(
            named("https://s3.example.net/gz/d%20e.raw"),
            n("gz", "d e.raw")
        );
        assert_eq!(
            named("https://gz.s3.example.net/x.vhd?a=1"),
            n("gz", "x.vhd")
        );
        for bad in [
            "http://127.0.0.1:3901/gz/a",
            "https://127.0.0.1:3900/gz/a",
            "http://s3.example.net/gz/a",
            "https://evil.net/gz/a",
            "https://s3.example.net.evil.net/gz/a",
            "https://a.b.s3.example.net/x",
        ] {
            assert!(
                named(bad).unwrap_err().contains("not a link"),
                "{bad}: {:?}",
                named(bad)
            );
        }
        assert!(named("http://127.0.0.1:3900/gz")
            .unwrap_err()
            .contains("no object"));
    }

    #[test]
    fn signatures_and_their_expiry() {
        assert_eq!(
            signature("X-Amz-Date=20261206T100000Z&X-Amz-Expires=60&X-Amz-Signature=AB"),
            Some(("sigv4:ab".into(), 1_796_551_200 + 60))
        );
        assert_eq!(
            signature("AWSAccessKeyId=k&Expires=100&Signature=x%2By"),
            Some(("sigv2:x+y".into(), 100))
        );
        assert_eq!(signature("a=1"), None);
    }
}
