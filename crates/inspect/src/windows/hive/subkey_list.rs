//! Subkeys lists (regf spec "Subkeys list"): `li` (offsets), `lf` / `lh`
//! (offset + name hint), and `ri` (index root: offsets of further lists).
//!
//! Every list is `signature(2) count(2)` then `count` elements. An `ri` element
//! must point at a leaf list (`li`/`lf`/`lh`); we also accept nested `ri` up to
//! [`MAX_INDEX_DEPTH`] levels, and refuse a list met twice (a loop).

use super::Hive;
use crate::{Error, Result};
use std::collections::HashSet;

/// Nesting of `ri` lists we follow (Windows writes one level).
pub const MAX_INDEX_DEPTH: usize = 4;

/// Append to `out` the key node offsets of the subkeys list at `list_off`,
/// stopping with [`Error::Limit`] beyond `max` subkeys.
pub fn collect(hive: &Hive, list_off: u32, max: usize, out: &mut Vec<u32>) -> Result<()> {
    let mut seen = HashSet::new();
    walk(hive, list_off, 0, max, &mut seen, out)
}

fn walk(
    hive: &Hive,
    list_off: u32,
    depth: usize,
    max: usize,
    seen: &mut HashSet<u32>,
    out: &mut Vec<u32>,
) -> Result<()> {
    const WHAT: &str = "subkeys list";
    let file_off = hive.file_offset(list_off);
    if !seen.insert(list_off) {
        return Err(Error::corrupt(
            WHAT,
            file_off,
            format!("list {list_off:#x} is reached twice (a loop in the index)"),
        ));
    }
    let cell = hive.cell(list_off, WHAT)?;
    let sig = cell.get(..2).unwrap_or(&[]);
    let count = cell
        .get(2..4)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
        .unwrap_or(0);
    let (stride, is_root) = match sig {
        b"li" => (4, false),
        b"lf" | b"lh" => (8, false),
        b"ri" => (4, true),
        _ => {
            return Err(Error::corrupt(
                WHAT,
                file_off,
                format!("unknown signature {:?}", String::from_utf8_lossy(sig)),
            ))
        }
    };
    let elements = cell.get(4..4 + count * stride).ok_or_else(|| {
        Error::corrupt(
            WHAT,
            file_off,
            format!("{count} elements do not fit a {}-byte cell", cell.len()),
        )
    })?;
    for el in elements.chunks_exact(stride) {
        let off = u32::from_le_bytes([el[0], el[1], el[2], el[3]]);
        if is_root {
            if depth + 1 >= MAX_INDEX_DEPTH {
                return Err(Error::Limit {
                    what: format!("index root nesting at file offset {file_off}"),
                    limit: MAX_INDEX_DEPTH as u64,
                });
            }
            walk(hive, off, depth + 1, max, seen, out)?;
        } else {
            if out.len() >= max {
                return Err(Error::Limit {
                    what: format!("subkeys of the list at file offset {file_off}"),
                    limit: max as u64,
                });
            }
            out.push(off);
        }
    }
    Ok(())
}
