//! Text from images and requests, made fit for a message (issue 14 item 5: one `clip`
//! for the policy's findings, the service's messages and its error texts).

/// `s` cut to `max` bytes at a character boundary (then `…`), control characters
/// (newlines, escapes from hostile guest files) shown as spaces so a quoted value stays
/// one line and cannot forge lines of its own.
pub fn clip(s: impl AsRef<str>, max: usize) -> String {
    let s: String = s
        .as_ref()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s.get(..end).unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_char_boundaries_and_flattens_controls() {
        let c = clip("é".repeat(100), 11);
        assert_eq!(c, format!("{}…", "é".repeat(5)));
        assert_eq!(clip("a\nb\x1b[0m", 64), "a b [0m");
        assert_eq!(clip("short", 64), "short");
    }
}
