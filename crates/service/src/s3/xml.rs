//! The small XML documents clients send (CreateBucketConfiguration,
//! CompleteMultipartUpload, AccessControlPolicy, Delete): element text by tag name.
//! Bodies are size-capped before they get here; scanning is linear.

pub use super::errors::{esc, xml_ok as ok};

/// The raw inner text of every `<tag>…</tag>` (attributes on the start tag allowed),
/// in document order; nested elements of the same name are not expected.
pub fn all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(a) = rest.find(&open) {
        let after_name = &rest[a + open.len()..];
        // `<tagX` is another element; `<tag>` or `<tag attr…>` is ours.
        match after_name.chars().next() {
            Some('>') | Some(' ') | Some('\t') | Some('\r') | Some('\n') => {}
            Some('/') if after_name.starts_with("/>") => {
                out.push("");
                rest = &after_name[2..];
                continue;
            }
            _ => {
                rest = after_name;
                continue;
            }
        }
        let Some(gt) = after_name.find('>') else {
            break;
        };
        if after_name[..gt].ends_with('/') {
            out.push("");
            rest = &after_name[gt + 1..];
            continue;
        }
        let body = &after_name[gt + 1..];
        let Some(b) = body.find(&close) else { break };
        out.push(body[..b].trim());
        rest = &body[b + close.len()..];
    }
    out
}

/// The unescaped text of the first `<tag>`.
pub fn first(xml: &str, tag: &str) -> Option<String> {
    all(xml, tag).first().map(|s| unescape(s))
}

/// Undo XML escaping (the five entities and numeric references).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(semi) = tail.find(';').filter(|n| *n <= 12) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let ent = &tail[1..semi];
        let c = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_with_attributes_and_entities() {
        let x = r#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>&quot;abc&quot;</ETag><PartNumber>1</PartNumber></Part><Part ><PartNumber>2</PartNumber><ETag>"d&#x41;&#66;"</ETag></Part><PartNumberX>9</PartNumberX><Empty/></CompleteMultipartUpload>"#;
        let parts = all(x, "Part");
        assert_eq!(parts.len(), 2);
        assert_eq!(first(parts[0], "ETag").unwrap(), "\"abc\"");
        assert_eq!(first(parts[1], "ETag").unwrap(), "\"dAB\"");
        assert_eq!(all(x, "PartNumber"), vec!["1", "2"]);
        assert_eq!(all(x, "Empty"), vec![""]);
        assert_eq!(unescape("a&bogus;b&"), "a&bogus;b&");
    }
}
