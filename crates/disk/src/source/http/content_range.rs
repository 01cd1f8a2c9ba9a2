//! The `Content-Range` header (RFC 9110 §14.4): parsed strictly, `bytes` unit only.

/// A parsed `Content-Range` header value (RFC 9110 §14.4), `bytes` unit only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentRange {
    /// `bytes FIRST-LAST/TOTAL`; `total` is `None` for `/*` (size unknown).
    Bytes {
        first: u64,
        last: u64,
        total: Option<u64>,
    },
    /// `bytes */TOTAL`, the answer to an unsatisfiable range (416).
    Unsatisfied { total: u64 },
}

/// Parse a `Content-Range` value strictly: unit `bytes`, decimal numbers without
/// signs (at most 20 digits, no overflow), `FIRST <= LAST < TOTAL`.
pub fn parse_content_range(value: &str) -> std::result::Result<ContentRange, String> {
    fn number(s: &str, what: &str) -> std::result::Result<u64, String> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{what} {s:?} is not a decimal number"));
        }
        s.parse::<u64>()
            .map_err(|_| format!("{what} {s} does not fit in 64 bits"))
    }
    let v = value.trim();
    let rest = match v.split_once(' ') {
        Some((unit, rest)) if unit.eq_ignore_ascii_case("bytes") => rest.trim_start(),
        _ => return Err(format!("{value:?} does not start with the unit \"bytes\"")),
    };
    let (range, total) = rest
        .split_once('/')
        .ok_or_else(|| format!("{value:?} has no \"/\" before the total size"))?;
    let total = match total {
        "*" => None,
        t => Some(number(t, "total size")?),
    };
    if range == "*" {
        return match total {
            Some(total) => Ok(ContentRange::Unsatisfied { total }),
            None => Err(format!("{value:?} states neither a range nor a size")),
        };
    }
    let (first, last) = range
        .split_once('-')
        .ok_or_else(|| format!("{value:?} has no \"FIRST-LAST\" range"))?;
    let first = number(first, "first byte")?;
    let last = number(last, "last byte")?;
    if first > last {
        return Err(format!(
            "{value:?}: first byte {first} is after last byte {last}"
        ));
    }
    if let Some(t) = total {
        if last >= t {
            return Err(format!(
                "{value:?}: last byte {last} is not inside the total size {t}"
            ));
        }
    }
    Ok(ContentRange::Bytes { first, last, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_valid() {
        assert_eq!(
            parse_content_range("bytes 0-0/1234"),
            Ok(ContentRange::Bytes {
                first: 0,
                last: 0,
                total: Some(1234)
            })
        );
        assert_eq!(
            parse_content_range("Bytes  10-19/*"),
            Ok(ContentRange::Bytes {
                first: 10,
                last: 19,
                total: None
            })
        );
        assert_eq!(
            parse_content_range("bytes */0"),
            Ok(ContentRange::Unsatisfied { total: 0 })
        );
        assert_eq!(
            parse_content_range("bytes 0-18446744073709551614/18446744073709551615"),
            Ok(ContentRange::Bytes {
                first: 0,
                last: u64::MAX - 1,
                total: Some(u64::MAX)
            })
        );
    }

    #[test]
    fn content_range_invalid() {
        for bad in [
            "",
            "bytes",
            "bytes 0-0",
            "items 0-0/10",
            "bytes0-0/10",
            "bytes 5-4/10",
            "bytes 0-10/10",
            "bytes +1-2/10",
            "bytes -1-2/10",
            "bytes 1-/10",
            "bytes 1-2/",
            "bytes 1-2/x",
            "bytes */*",
            "bytes 0-0/18446744073709551616",
            "bytes 0-0/000000000000000000001",
            "bytes 1 -2/10",
        ] {
            assert!(parse_content_range(bad).is_err(), "{bad:?} accepted");
        }
    }
}
