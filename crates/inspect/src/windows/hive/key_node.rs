//! Key node cells (`nk`, regf spec "Key node").
//!
//! | offset | field |
//! |---|---|
//! | 0 | `nk` |
//! | 2 | flags (0x0020 `KEY_COMP_NAME`: the name is Latin-1, else UTF-16LE) |
//! | 16 | parent key node |
//! | 20 | number of subkeys |
//! | 28 | subkeys list offset |
//! | 36 | number of values |
//! | 40 | values list offset |
//! | 72 | key name length (bytes) |
//! | 76 | key name |

use super::names::decode_name;
use crate::{Error, Result};
use imgport_disk::bytes::short::{le16, le32};

/// Offset of the name in an `nk` cell.
const NAME_AT: usize = 76;
/// `KEY_COMP_NAME`.
const KEY_COMP_NAME: u16 = 0x0020;

/// A parsed key node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNode {
    pub flags: u16,
    pub parent: u32,
    pub subkey_count: u32,
    pub subkeys_list: u32,
    pub value_count: u32,
    pub values_list: u32,
    pub name: String,
}

/// Parse the `nk` cell data `cell` found at file offset `file_off`.
pub fn parse(cell: &[u8], file_off: u64) -> Result<KeyNode> {
    if cell.len() < NAME_AT || cell.get(..2) != Some(b"nk".as_slice()) {
        return Err(Error::corrupt(
            "nk (key node)",
            file_off,
            "no `nk` signature or cell too small",
        ));
    }
    let flags = le16(cell, 2);
    let name_len = usize::from(le16(cell, 72));
    let name = cell.get(NAME_AT..NAME_AT + name_len).ok_or_else(|| {
        Error::corrupt(
            "nk (key node)",
            file_off,
            format!("name length {name_len} runs past the cell"),
        )
    })?;
    Ok(KeyNode {
        flags,
        parent: le32(cell, 16),
        subkey_count: le32(cell, 20),
        subkeys_list: le32(cell, 28),
        value_count: le32(cell, 36),
        values_list: le32(cell, 40),
        name: decode_name(name, flags & KEY_COMP_NAME != 0),
    })
}
