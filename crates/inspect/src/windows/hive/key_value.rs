//! Key values (`vk`, regf spec "Key value") and the values list of a key.
//!
//! | offset | field |
//! |---|---|
//! | 0 | `vk` |
//! | 2 | name length (0: the key's default value) |
//! | 4 | data size; bit 31 set: the data (≤ 4 bytes) is in the offset field |
//! | 8 | data offset (a cell, or a `db` big data record) |
//! | 12 | data type (`REG_*`) |
//! | 16 | flags (0x0001 `VALUE_COMP_NAME`: the name is Latin-1) |
//! | 20 | name |

use super::names::decode_name;
use super::{big_data, Hive};
use crate::{Error, Result};

const NAME_AT: usize = 20;
const VALUE_COMP_NAME: u16 = 0x0001;
/// Data in a cell larger than this uses a `db` record (hive format 1.4+).
pub const BIG_DATA_THRESHOLD: usize = 16344;

/// A parsed key value header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub name: String,
    pub data_type: u32,
    /// Data length in bytes.
    pub data_len: u32,
    /// The data is stored in `data_offset` itself.
    pub inline: bool,
    pub data_offset: u32,
}

/// Parse the `vk` cell data `cell` found at file offset `file_off`.
pub fn parse(cell: &[u8], file_off: u64) -> Result<KeyValue> {
    const WHAT: &str = "vk (key value)";
    if cell.len() < NAME_AT || cell.get(..2) != Some(b"vk".as_slice()) {
        return Err(Error::corrupt(
            WHAT,
            file_off,
            "no `vk` signature or cell too small",
        ));
    }
    let u16_at = |at: usize| {
        cell.get(at..at + 2)
            .map(|s| u16::from_le_bytes([s[0], s[1]]))
            .unwrap_or(0)
    };
    let u32_at = |at: usize| {
        cell.get(at..at + 4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .unwrap_or(0)
    };
    let name_len = usize::from(u16_at(2));
    let raw_size = u32_at(4);
    let flags = u16_at(16);
    let name = cell.get(NAME_AT..NAME_AT + name_len).ok_or_else(|| {
        Error::corrupt(
            WHAT,
            file_off,
            format!("name length {name_len} runs past the cell"),
        )
    })?;
    Ok(KeyValue {
        name: decode_name(name, flags & VALUE_COMP_NAME != 0),
        data_type: u32_at(12),
        data_len: raw_size & 0x7fff_ffff,
        inline: raw_size & 0x8000_0000 != 0,
        data_offset: u32_at(8),
    })
}

/// The value offsets of a values list with `count` entries at `list_off`.
pub fn list(hive: &Hive, list_off: u32, count: u32) -> Result<Vec<u32>> {
    const WHAT: &str = "values list";
    let cell = hive.cell(list_off, WHAT)?;
    let bytes = (count as usize)
        .checked_mul(4)
        .and_then(|n| cell.get(..n))
        .ok_or_else(|| {
            Error::corrupt(
                WHAT,
                hive.file_offset(list_off),
                format!("{count} values do not fit a {}-byte cell", cell.len()),
            )
        })?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// The data bytes of `vk`, at most `max` bytes ([`Error::Limit`] beyond).
pub fn data(hive: &Hive, vk: &KeyValue, vk_file_off: u64, max: usize) -> Result<Vec<u8>> {
    const WHAT: &str = "value data";
    let len = vk.data_len as usize;
    if vk.inline {
        if len > 4 {
            return Err(Error::corrupt(
                "vk (key value)",
                vk_file_off,
                format!("inline data of {len} bytes (at most 4 fit)"),
            ));
        }
        return Ok(vk
            .data_offset
            .to_le_bytes()
            .get(..len)
            .unwrap_or(&[])
            .to_vec());
    }
    if len > max {
        return Err(Error::Limit {
            what: format!("value {:?} data ({len} bytes)", vk.name),
            limit: max as u64,
        });
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    let cell = hive.cell(vk.data_offset, WHAT)?;
    if len > BIG_DATA_THRESHOLD
        && hive.base_block().minor_version > 3
        && cell.get(..2) == Some(b"db".as_slice())
    {
        return big_data::read(hive, cell, hive.file_offset(vk.data_offset), len);
    }
    cell.get(..len).map(<[u8]>::to_vec).ok_or_else(|| {
        Error::corrupt(
            WHAT,
            hive.file_offset(vk.data_offset),
            format!("{len} bytes of data do not fit a {}-byte cell", cell.len()),
        )
    })
}
