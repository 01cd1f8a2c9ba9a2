//! The service's time formats, in one place (issue 14 item 5): the cloud API's
//! `CreatedTime` (ISO 8601 to the second), S3's XML times (ISO 8601 with milliseconds)
//! and HTTP dates (IMF-fixdate: `Last-Modified`, `If-Modified-Since`, SigV2's `Date`).

use time::format_description::FormatItem;
use time::macros::format_description;

const API: &[FormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const S3: &[FormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
const HTTP: &[FormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

fn format(t: i64, f: &[FormatItem<'_>]) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(f).ok())
        .unwrap_or_default()
}

/// `2019-02-25T16:44:25Z`: the cloud API's times (`CreatedTime`, `StartedTime`).
pub fn api_time(t: i64) -> String {
    format(t, API)
}

/// `2026-11-25T07:00:00.000Z`: S3's XML times (`CreationDate`, `LastModified`).
pub fn s3_time(t: i64) -> String {
    format(t, S3)
}

/// `Wed, 25 Nov 2026 07:00:00 GMT`.
pub fn http_date(t: i64) -> String {
    format(t, HTTP)
}

/// An HTTP date (IMF-fixdate) as Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    time::PrimitiveDateTime::parse(s.trim(), HTTP)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(api_time(1551113065), "2019-02-25T16:44:25Z");
        assert_eq!(s3_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(http_date(1369353600), "Fri, 24 May 2013 00:00:00 GMT");
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
            Some(1369353600)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
