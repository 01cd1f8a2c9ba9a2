//! Typed value data (`REG_*` types, winnt.h): strings are UTF-16LE, cut at the
//! first NUL as `RegGetValue` and hivex do; numbers are little-endian unless the
//! type says otherwise.

use serde::Serialize;

pub const REG_NONE: u32 = 0;
pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
pub const REG_LINK: u32 = 6;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_QWORD: u32 = 11;

/// Decoded value data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum RegData {
    None(Vec<u8>),
    Sz(String),
    ExpandSz(String),
    Binary(Vec<u8>),
    Dword(u32),
    DwordBigEndian(u32),
    Link(String),
    MultiSz(Vec<String>),
    Qword(u64),
    /// Any other type (resource lists …), or a number of the wrong length.
    Other {
        data_type: u32,
        bytes: Vec<u8>,
    },
}

fn utf16_units(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
}

/// UTF-16LE up to the first NUL (lossy).
pub fn utf16_string(bytes: &[u8]) -> String {
    let units: Vec<u16> = utf16_units(bytes).take_while(|&u| u != 0).collect();
    String::from_utf16_lossy(&units)
}

/// NUL-separated UTF-16LE strings, ending at an empty string (the double NUL).
pub fn utf16_multi(bytes: &[u8]) -> Vec<String> {
    let units: Vec<u16> = utf16_units(bytes).collect();
    units
        .split(|&u| u == 0)
        .take_while(|s| !s.is_empty())
        .map(String::from_utf16_lossy)
        .collect()
}

/// Decode `bytes` of type `data_type`.
pub fn decode(data_type: u32, bytes: Vec<u8>) -> RegData {
    match data_type {
        REG_NONE => RegData::None(bytes),
        REG_SZ => RegData::Sz(utf16_string(&bytes)),
        REG_EXPAND_SZ => RegData::ExpandSz(utf16_string(&bytes)),
        REG_LINK => RegData::Link(String::from_utf16_lossy(
            &utf16_units(&bytes).collect::<Vec<_>>(),
        )),
        REG_BINARY => RegData::Binary(bytes),
        REG_MULTI_SZ => RegData::MultiSz(utf16_multi(&bytes)),
        REG_DWORD | REG_DWORD_BIG_ENDIAN if bytes.len() == 4 => {
            let b = [bytes[0], bytes[1], bytes[2], bytes[3]];
            if data_type == REG_DWORD {
                RegData::Dword(u32::from_le_bytes(b))
            } else {
                RegData::DwordBigEndian(u32::from_be_bytes(b))
            }
        }
        REG_QWORD if bytes.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes);
            RegData::Qword(u64::from_le_bytes(b))
        }
        _ => RegData::Other { data_type, bytes },
    }
}

impl RegData {
    /// The string of a `REG_SZ` / `REG_EXPAND_SZ` / `REG_LINK` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            RegData::Sz(s) | RegData::ExpandSz(s) | RegData::Link(s) => Some(s),
            _ => None,
        }
    }

    /// The number of a `REG_DWORD` (either byte order) value.
    pub fn as_dword(&self) -> Option<u32> {
        match self {
            RegData::Dword(v) | RegData::DwordBigEndian(v) => Some(*v),
            _ => None,
        }
    }

    /// The number of a `REG_QWORD` or `REG_DWORD` value.
    pub fn as_qword(&self) -> Option<u64> {
        match self {
            RegData::Qword(v) => Some(*v),
            other => other.as_dword().map(u64::from),
        }
    }
}
