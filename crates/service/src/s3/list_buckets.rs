//! ListBuckets (GET `/`): the caller's own buckets only — a tenant never sees
//! another's.

use super::errors::{esc, xml_ok, S3Error};
use super::router::Ctx;
use axum::response::Response;

pub fn run(ctx: &Ctx<'_>) -> Result<Response, S3Error> {
    let a = ctx.account()?;
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>{}</ID><DisplayName>{}</DisplayName></Owner><Buckets>",
        a.app_id,
        esc(&a.name)
    );
    for b in ctx.st.db.buckets(a.app_id)? {
        body.push_str(&format!(
            "<Bucket><Name>{}</Name><CreationDate>{}</CreationDate><Location>{r}</Location><BucketRegion>{r}</BucketRegion></Bucket>",
            esc(&b.name),
            iso8601(b.created_at),
            r = esc(&b.region)
        ));
    }
    body.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml_ok(body))
}

/// `2026-11-25T07:00:00.000Z`.
pub fn iso8601(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// `Wed, 25 Nov 2026 07:00:00 GMT` (HTTP dates: Last-Modified).
pub fn http_date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// Parse an HTTP date (IMF-fixdate) to Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s.trim(), f)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(http_date(1369353600), "Fri, 24 May 2013 00:00:00 GMT");
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
            Some(1369353600)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
