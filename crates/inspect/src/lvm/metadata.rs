//! The LVM2 text metadata format (libdevmapper's config syntax, `libdm-config.c`):
//! `name { … }` sections and `key = value` settings, where a value is an integer,
//! a float, a `"string"` (backslash escapes) or an `[ array ]` of those (commas
//! optional, no nesting); `#` starts a comment outside strings.
//!
//! Bounds: text at most [`MAX_TEXT`] bytes, sections nested at most [`MAX_DEPTH`]
//! deep; every error names the byte offset in the text.

use crate::{Error, Result};

/// Largest metadata text parsed.
pub const MAX_TEXT: usize = 1 << 20;
/// Deepest section nesting (a VG's segments are at depth 4).
pub const MAX_DEPTH: usize = 16;

/// A value in the metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Section(Section),
}

/// A section: settings and subsections in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub entries: Vec<(String, Value)>,
}

impl Section {
    /// The first value named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key)? {
            Value::Section(s) => Some(s),
            _ => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The string items of array `key` (other items skipped).
    pub fn strings(&self, key: &str) -> Vec<&str> {
        match self.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Subsections in order, with their names.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.entries.iter().filter_map(|(k, v)| match v {
            Value::Section(s) => Some((k.as_str(), s)),
            _ => None,
        })
    }
}

/// Parse a metadata text into its top-level section.
pub fn parse(text: &str) -> Result<Section> {
    if text.len() > MAX_TEXT {
        return Err(Error::Limit {
            what: format!("LVM metadata text of {} bytes", text.len()),
            limit: MAX_TEXT as u64,
        });
    }
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    let root = p.section_body(0)?;
    p.skip_ws();
    if p.pos < p.s.len() {
        return Err(p.err("unexpected '}'"));
    }
    Ok(root)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, detail: impl Into<String>) -> Error {
        Error::corrupt("LVM metadata text", self.pos as u64, detail)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skip whitespace and comments.
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() {
                self.pos += 1;
            } else if c == b'#' {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Settings and sections up to a `}` or the end of the text (not consumed).
    fn section_body(&mut self, depth: usize) -> Result<Section> {
        if depth > MAX_DEPTH {
            return Err(Error::Limit {
                what: format!("LVM metadata section nesting at offset {}", self.pos),
                limit: MAX_DEPTH as u64,
            });
        }
        let mut sec = Section::default();
        loop {
            self.skip_ws();
            match self.peek() {
                None | Some(b'}') => return Ok(sec),
                _ => {}
            }
            let key = self.identifier()?;
            self.skip_ws();
            match self.peek() {
                Some(b'{') => {
                    self.pos += 1;
                    let sub = self.section_body(depth + 1)?;
                    if self.peek() != Some(b'}') {
                        return Err(self.err(format!("section {key:?} is not closed")));
                    }
                    self.pos += 1;
                    sec.entries.push((key, Value::Section(sub)));
                }
                Some(b'=') => {
                    self.pos += 1;
                    self.skip_ws();
                    let v = if self.peek() == Some(b'[') {
                        self.array()?
                    } else {
                        self.scalar()?
                    };
                    sec.entries.push((key, v));
                }
                _ => return Err(self.err(format!("expected '=' or '{{' after {key:?}"))),
            }
        }
    }

    fn identifier(&mut self) -> Result<String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || b"#={}[],\"'".contains(&c) {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a name"));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn array(&mut self) -> Result<Value> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                Some(b',') => {
                    self.pos += 1;
                }
                None => return Err(self.err("array is not closed")),
                Some(b'[') => return Err(self.err("nested arrays are not allowed")),
                _ => items.push(self.scalar()?),
            }
        }
    }

    fn scalar(&mut self) -> Result<Value> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => self.string(q),
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => self.number(),
            _ => Err(self.err("expected a value")),
        }
    }

    fn string(&mut self, quote: u8) -> Result<Value> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    self.pos = start;
                    return Err(self.err("string is not closed"));
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(Value::Str(String::from_utf8_lossy(&out).into_owned()));
                }
                Some(b'\\') if quote == b'"' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => out.push(c),
                        None => return Err(self.err("string ends in a backslash")),
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<Value> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        {
            self.pos += 1;
        }
        let tok = String::from_utf8_lossy(&self.s[start..self.pos]);
        if let Ok(i) = tok.parse::<i64>() {
            return Ok(Value::Int(i));
        }
        match tok.parse::<f64>() {
            Ok(f) if tok.contains('.') && f.is_finite() => Ok(Value::Float(f)),
            _ => {
                self.pos = start;
                Err(self.err(format!("{tok:?} is not a number")))
            }
        }
    }
}
