//! ListObjectsV2 (GET `/bucket?list-type=2`): keys in UTF-8 byte order with `prefix`,
//! `delimiter` (common prefixes), `max-keys` (≤ 1000), `start-after`,
//! `continuation-token` and `encoding-type=url`. The scan engine is shared with
//! ListObjects v1; a common prefix is skipped in one index seek, so a listing costs
//! O(max-keys) queries however many keys share a prefix.

use super::errors::{esc, xml_ok, S3Error};
use super::router::Ctx;
use super::sigv4;
use crate::db::objects::{KeyFrom, Object};
use crate::db::Db;
use crate::timefmt::s3_time;
use axum::response::Response;

/// Most keys per response (S3's limit).
pub const MAX_KEYS: usize = 1000;
/// Rows fetched per query.
const PAGE: i64 = 1000;

/// The smallest string greater than every string that starts with `s`.
pub fn successor(s: &str) -> Option<String> {
    let mut chars: Vec<char> = s.chars().collect();
    while let Some(c) = chars.pop() {
        let mut n = c as u32 + 1;
        if (0xD800..0xE000).contains(&n) {
            n = 0xE000;
        }
        if let Some(next) = char::from_u32(n) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Where a listing starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Keys after this one.
    After(String),
    /// Keys after every key that starts with this common prefix.
    PastPrefix(String),
}

/// One page of a listing.
pub struct Listing {
    pub contents: Vec<Object>,
    pub prefixes: Vec<String>,
    /// Where the next page starts, when there is one.
    pub next: Option<Start>,
}

enum Item {
    Key(Object),
    Prefix(String),
}

/// List up to `max_keys` keys and common prefixes of `bucket` from `start`.
pub fn scan(
    db: &Db,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    start: Start,
    max_keys: usize,
) -> Result<Listing, S3Error> {
    let below = successor(prefix).filter(|_| !prefix.is_empty());
    // The lower bound: never before the prefix itself.
    let (mut from, mut inclusive, mut skip) = match start {
        Start::After(k) => (k, false, None),
        Start::PastPrefix(p) => match successor(&p) {
            Some(s) => (s, true, None),
            None => (p.clone(), false, Some(p)),
        },
    };
    if from.as_str() < prefix {
        (from, inclusive) = (prefix.to_string(), true);
    }
    let mut out = Listing {
        contents: Vec::new(),
        prefixes: Vec::new(),
        next: None,
    };
    let mut last: Option<Start> = None;
    'pages: loop {
        let key_from = if inclusive {
            KeyFrom::At(&from)
        } else {
            KeyFrom::After(&from)
        };
        let page = db.list_objects(bucket, prefix, key_from, below.as_deref(), PAGE)?;
        let full = page.len() as i64 == PAGE;
        let Some(tail) = page.last().map(|o| o.key.clone()) else {
            break;
        };
        for o in page {
            if skip.as_deref().is_some_and(|p| o.key.starts_with(p)) {
                continue;
            }
            let item = match delimiter.and_then(|d| o.key[prefix.len()..].find(d).map(|i| (d, i))) {
                Some((d, i)) => Item::Prefix(o.key[..prefix.len() + i + d.len()].to_string()),
                None => Item::Key(o),
            };
            if out.contents.len() + out.prefixes.len() >= max_keys {
                out.next = last;
                break 'pages;
            }
            match item {
                Item::Key(o) => {
                    last = Some(Start::After(o.key.clone()));
                    out.contents.push(o);
                }
                Item::Prefix(p) => {
                    last = Some(Start::PastPrefix(p.clone()));
                    out.prefixes.push(p.clone());
                    // Seek past every key of this common prefix.
                    match successor(&p) {
                        Some(s) => {
                            (from, inclusive, skip) = (s, true, None);
                            continue 'pages;
                        }
                        None => skip = Some(p),
                    }
                }
            }
        }
        if !full {
            break;
        }
        (from, inclusive) = (tail, false);
    }
    Ok(out)
}

/// A continuation token: the opaque form of a [`Start`].
pub fn token(s: &Start) -> String {
    let raw = match s {
        Start::After(k) => format!("K{k}"),
        Start::PastPrefix(p) => format!("P{p}"),
    };
    super::body::b64(raw.as_bytes())
}

fn bad_token() -> S3Error {
    S3Error::bad(
        "InvalidArgument",
        "The continuation token provided is incorrect: pass NextContinuationToken of the previous page unchanged.",
    )
    .with("ArgumentName", "continuation-token")
}

pub fn parse_token(t: &str) -> Result<Start, S3Error> {
    if t.len() > 4096 {
        return Err(bad_token());
    }
    let raw = super::body::unb64(t).ok_or_else(bad_token)?;
    let raw = String::from_utf8(raw).map_err(|_| bad_token())?;
    match raw.split_at_checked(1) {
        Some(("K", k)) => Ok(Start::After(k.to_string())),
        Some(("P", p)) if !p.is_empty() => Ok(Start::PastPrefix(p.to_string())),
        _ => Err(bad_token()),
    }
}

/// Parameters common to both listing versions.
pub struct Params<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub max_keys: usize,
    pub url_encoding: bool,
}

pub fn params<'a>(ctx: &'a Ctx<'_>) -> Result<Params<'a>, S3Error> {
    let max_keys = match ctx.q("max-keys") {
        None => MAX_KEYS,
        Some(v) => v
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(MAX_KEYS))
            .ok_or_else(|| {
                S3Error::bad(
                    "InvalidArgument",
                    "max-keys must be a number from 0 to 1000.",
                )
                .with("ArgumentName", "max-keys")
            })?,
    };
    let url_encoding = match ctx.q("encoding-type") {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("url") => true,
        Some(_) => {
            return Err(S3Error::bad(
                "InvalidArgument",
                "Invalid Encoding Method specified in Request: only url.",
            )
            .with("ArgumentName", "encoding-type"))
        }
    };
    Ok(Params {
        prefix: ctx.q("prefix").unwrap_or(""),
        delimiter: ctx.q("delimiter").filter(|d| !d.is_empty()),
        max_keys,
        url_encoding,
    })
}

/// The caller may list the bucket: its owner, or anyone for a public-read bucket.
pub fn listable(ctx: &Ctx<'_>, bucket: &str) -> Result<crate::db::buckets::Bucket, S3Error> {
    let b = ctx.bucket(bucket)?;
    if ctx.owns(&b) || b.public_read {
        Ok(b)
    } else {
        Err(S3Error::denied("Access Denied: the bucket is private."))
    }
}

/// Text of a key or prefix in a listing: URL-encoded when asked.
pub fn text(p: &Params<'_>, s: &str) -> String {
    if p.url_encoding {
        sigv4::uri_encode(s, true)
    } else {
        esc(s)
    }
}

/// `<Contents>` of one object.
pub fn contents(p: &Params<'_>, o: &Object, owner: Option<(i64, &str)>) -> String {
    let mut s = format!(
        "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size>",
        text(p, &o.key),
        s3_time(o.created_at),
        esc(&format!("\"{}\"", o.etag)),
        o.size
    );
    if let Some((id, name)) = owner {
        s.push_str(&format!(
            "<Owner><ID>{id}</ID><DisplayName>{}</DisplayName></Owner>",
            esc(name)
        ));
    }
    s.push_str("<StorageClass>STANDARD</StorageClass></Contents>");
    s
}

pub fn run(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let b = listable(ctx, bucket)?;
    let p = params(ctx)?;
    let token_in = ctx.q("continuation-token");
    let start_after = ctx.q("start-after");
    let start = match token_in {
        Some(t) => parse_token(t)?,
        None => Start::After(start_after.unwrap_or("").to_string()),
    };
    let l = scan(
        &ctx.st.db,
        &b.name,
        p.prefix,
        p.delimiter,
        start,
        p.max_keys,
    )?;
    let owner = ctx.q("fetch-owner").is_some_and(|v| v == "true").then(|| {
        let name = ctx
            .st
            .db
            .account(b.app_id)
            .ok()
            .flatten()
            .map(|a| a.name)
            .unwrap_or_default();
        (b.app_id, name)
    });
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix>",
        esc(&b.name),
        text(&p, p.prefix)
    );
    if let Some(d) = p.delimiter {
        body.push_str(&format!("<Delimiter>{}</Delimiter>", text(&p, d)));
    }
    body.push_str(&format!(
        "<MaxKeys>{}</MaxKeys><KeyCount>{}</KeyCount><IsTruncated>{}</IsTruncated>",
        p.max_keys,
        l.contents.len() + l.prefixes.len(),
        l.next.is_some()
    ));
    if p.url_encoding {
        body.push_str("<EncodingType>url</EncodingType>");
    }
    if let Some(t) = token_in {
        body.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            esc(t)
        ));
    }
    if let Some(n) = &l.next {
        body.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            esc(&token(n))
        ));
    }
    if let Some(s) = start_after {
        body.push_str(&format!("<StartAfter>{}</StartAfter>", text(&p, s)));
    }
    for o in &l.contents {
        body.push_str(&contents(
            &p,
            o,
            owner.as_ref().map(|(i, n)| (*i, n.as_str())),
        ));
    }
    for pre in &l.prefixes {
        body.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            text(&p, pre)
        ));
    }
    body.push_str("</ListBucketResult>");
    Ok(xml_ok(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::objects::ACL_DEFAULT;

    fn db_with(keys: &[&str]) -> Db {
        let db = Db::open_in_memory().unwrap();
        let a = db.create_account("t", false).unwrap();
        assert!(db
            .create_bucket("b", a.app_id, "ap-guangzhou", false)
            .unwrap());
        for k in keys {
            db.put_object(&Object {
                bucket: "b".into(),
                key: k.to_string(),
                blob: format!("blob{k}"),
                size: 1,
                etag: "e".into(),
                acl: ACL_DEFAULT.into(),
                headers: vec![],
                created_at: 0,
            })
            .unwrap();
        }
        db
    }

    /// Page through a whole listing; returns keys and prefixes in order.
    fn all(db: &Db, prefix: &str, delim: Option<&str>, page: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut start = Start::After(String::new());
        for _ in 0..100 {
            let l = scan(db, "b", prefix, delim, start.clone(), page).unwrap();
            assert!(l.contents.len() + l.prefixes.len() <= page);
            out.extend(l.contents.iter().map(|o| o.key.clone()));
            out.extend(l.prefixes.iter().map(|p| format!("{p}*")));
            match l.next {
                Some(n) => start = parse_token(&token(&n)).unwrap(),
                None => return out,
            }
        }
        panic!("listing does not end");
    }

    #[test]
    fn listings_page_without_repeats() {
        let keys = ["a", "b/1", "b/2", "b/3/x", "c", "d/1", "e", "é/1", "f"];
        let db = db_with(&keys);
        for page in [1, 2, 3, 1000] {
            // Without a delimiter: every key once, in UTF-8 byte order.
            let mut sorted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            sorted.sort();
            assert_eq!(all(&db, "", None, page), sorted);
            let mut grouped = all(&db, "", Some("/"), page);
            grouped.sort();
            assert_eq!(grouped, vec!["a", "b/*", "c", "d/*", "e", "f", "é/*"]);
            let mut sub = all(&db, "b/", Some("/"), page);
            sub.sort();
            assert_eq!(sub, vec!["b/1", "b/2", "b/3/*"]);
        }
        let l = scan(&db, "b", "", None, Start::After(String::new()), 0).unwrap();
        assert!(l.contents.is_empty() && l.next.is_none());
        // start-after inside a prefix range.
        let l = scan(&db, "b", "b/", None, Start::After("b/1".into()), 10).unwrap();
        assert_eq!(
            l.contents
                .iter()
                .map(|o| o.key.as_str())
                .collect::<Vec<_>>(),
            vec!["b/2", "b/3/x"]
        );
    }

    #[test]
    fn successors_and_tokens() {
        assert_eq!(successor("a/").as_deref(), Some("a0"));
        assert_eq!(successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(successor("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(successor(""), None);
        for s in [Start::After("x y".into()), Start::PastPrefix("p/".into())] {
            assert_eq!(parse_token(&token(&s)).unwrap(), s);
        }
        assert!(parse_token("!!").is_err());
        assert!(parse_token(&super::super::body::b64(b"Zq")).is_err());
    }
}
