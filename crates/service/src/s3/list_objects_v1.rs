//! ListObjects (v1, GET `/bucket`), as cos-python-sdk-v5's `list_objects` uses it:
//! `marker` / `NextMarker` paging over the engine of [`super::list_objects_v2`].

use super::errors::{esc, xml_ok, S3Error};
use super::list_objects_v2::{contents, listable, params, scan, text, Start};
use super::router::Ctx;
use axum::response::Response;

pub fn run(ctx: &Ctx<'_>, bucket: &str) -> Result<Response, S3Error> {
    let b = listable(ctx, bucket)?;
    let p = params(ctx)?;
    let marker = ctx.q("marker").unwrap_or("");
    // A marker that is a common prefix (NextMarker of a grouped page) resumes past
    // every key of that prefix, so no prefix is listed twice.
    let start = match p.delimiter {
        Some(d) if !marker.is_empty() && marker.ends_with(d) && marker.starts_with(p.prefix) => {
            Start::PastPrefix(marker.to_string())
        }
        _ => Start::After(marker.to_string()),
    };
    let l = scan(
        &ctx.st.db,
        &b.name,
        p.prefix,
        p.delimiter,
        start,
        p.max_keys,
    )?;
    let owner_name = ctx
        .st
        .db
        .account(b.app_id)
        .ok()
        .flatten()
        .map(|a| a.name)
        .unwrap_or_default();
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix><Marker>{}</Marker><MaxKeys>{}</MaxKeys>",
        esc(&b.name),
        text(&p, p.prefix),
        text(&p, marker),
        p.max_keys
    );
    if let Some(d) = p.delimiter {
        body.push_str(&format!("<Delimiter>{}</Delimiter>", text(&p, d)));
    }
    if p.url_encoding {
        body.push_str("<EncodingType>url</EncodingType>");
    }
    body.push_str(&format!("<IsTruncated>{}</IsTruncated>", l.next.is_some()));
    if let Some(n) = &l.next {
        let m = match n {
            Start::After(k) => k,
            Start::PastPrefix(pre) => pre,
        };
        body.push_str(&format!("<NextMarker>{}</NextMarker>", text(&p, m)));
    }
    for o in &l.contents {
        body.push_str(&contents(&p, o, Some((b.app_id, &owner_name))));
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
