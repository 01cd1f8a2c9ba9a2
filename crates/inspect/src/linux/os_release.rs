//! `os-release(5)` and the shell-variable files like it (`/etc/lsb-release`,
//! SUSE `/etc/SuSE-release` key lines, ifcfg files): `KEY=value` lines with shell
//! quoting. Per the os-release spec: values may be in double quotes (where `\"`,
//! `\\`, `` \` `` and `\$` are escapes) or single quotes (literal); `#` starts a
//! comment line; other lines are ignored.

use std::collections::BTreeMap;

/// Most lines looked at (the files are tiny; this bounds hostile ones).
const MAX_LINES: usize = 4096;
/// Longest key kept.
const MAX_KEY_LEN: usize = 128;

/// Parse `KEY=value` lines. Later assignments override earlier ones.
pub fn parse_shell_vars(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().take(MAX_LINES) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || key.len() > MAX_KEY_LEN
            || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || key.as_bytes().first().is_some_and(u8::is_ascii_digit)
        {
            continue;
        }
        out.insert(key.to_string(), unquote(value.trim()));
    }
    out
}

/// Parse os-release text.
pub fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    parse_shell_vars(text)
}

/// Shell-unquote one value: concatenated quoted/unquoted words; stops at unquoted
/// whitespace or `#` starting a comment.
fn unquote(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some(&n @ ('"' | '\\' | '`' | '$')) => {
                                out.push(n);
                                chars.next();
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => out.push('\\'),
                        },
                        c => out.push(c),
                    }
                }
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c if c.is_whitespace() => break,
            '#' if out.is_empty() => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let m = parse_os_release(
            "# c\nNAME=\"Debian GNU/Linux\"\nID=debian\nX='a \"b\"'\nY=\"q\\\"x\\\\y\\$z\\n\"\nZ=a\\ b\nbad line\n9X=1\n",
        );
        assert_eq!(m["NAME"], "Debian GNU/Linux");
        assert_eq!(m["ID"], "debian");
        assert_eq!(m["X"], "a \"b\"");
        assert_eq!(m["Y"], "q\"x\\y$z\\n");
        assert_eq!(m["Z"], "a b");
        assert!(!m.contains_key("9X"));
    }
}
