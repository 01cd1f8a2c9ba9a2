//! A push-style cpio scanner for initramfs images: fed bytes in any chunking
//! (from a decompressor or memory), it records entry names and skips file data
//! without buffering it. Formats (cpio(5)): "newc" `070701` and "crc" `070702`
//! (the only ones the kernel unpacks), portable ASCII "odc" `070707`, and old
//! binary (`0o070707` as a 16-bit word, either byte order). Between archives
//! zero padding is skipped, as the kernel's `init/initramfs.c` does.

use crate::{Error, Result};
use std::collections::BTreeSet;

/// newc/crc header length.
const NEWC_LEN: usize = 110;
/// odc header length.
const ODC_LEN: usize = 76;
/// Old binary header length.
const BIN_LEN: usize = 26;
/// Longest entry name accepted (Linux `PATH_MAX`).
const MAX_NAME: usize = 4096;
/// Most entries accepted over all archives.
pub const MAX_ENTRIES: u64 = 500_000;
/// Most module names remembered.
const MAX_MODULES: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Newc,
    Odc,
    BinLe,
    BinBe,
}

impl Format {
    fn header_len(self) -> usize {
        match self {
            Format::Newc => NEWC_LEN,
            Format::Odc => ODC_LEN,
            Format::BinLe | Format::BinBe => BIN_LEN,
        }
    }
    /// Alignment of header+name and of data.
    fn align(self) -> u64 {
        match self {
            Format::Newc => 4,
            Format::Odc => 1,
            Format::BinLe | Format::BinBe => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between archives: zeros are skipped; `0` or a binary magic starts a header.
    Between,
    /// Collecting the magic (first 6 bytes) into `buf`.
    Magic,
    /// Collecting a header of this format into `buf`.
    Header(Format),
    /// Collecting `namesize` name bytes, then `pad` bytes; `filesize` follows.
    Name {
        format: Format,
        namesize: usize,
        pad: usize,
        filesize: u64,
    },
    /// Skipping file data and padding.
    Skip(u64),
}

/// What a [`CpioScanner::feed`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// All bytes consumed.
    All,
    /// Stopped between archives at a byte that starts no cpio header; this many
    /// bytes were consumed (the caller decides: compressed data, or junk).
    NotCpio(usize),
}

/// Scanner state and what it has seen.
#[derive(Debug)]
pub struct CpioScanner {
    state: State,
    buf: Vec<u8>,
    /// Stream offset (bytes fed so far), for error messages.
    offset: u64,
    /// Entries seen (all archives).
    pub entries: u64,
    /// Archives ended with `TRAILER!!!`.
    pub trailers: u32,
    /// Kernel module names seen (basename without `.ko[.xz|.zst|.gz|.bz2]`, `-` → `_`).
    pub modules: BTreeSet<String>,
    /// Kernel versions seen under `lib/modules/` or `usr/lib/modules/`.
    pub module_versions: BTreeSet<String>,
    /// First entry names (a sample for evidence).
    pub sample: Vec<String>,
}

impl Default for CpioScanner {
    fn default() -> Self {
        Self::new()
    }
}

/// Module name of an initramfs/module-tree path, if it is a kernel module.
pub fn module_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next()?;
    let stem = [".ko", ".ko.xz", ".ko.zst", ".ko.gz", ".ko.bz2"]
        .iter()
        .find_map(|s| base.strip_suffix(s))?;
    if stem.is_empty() {
        return None;
    }
    Some(stem.replace('-', "_"))
}

fn hex_field(h: &[u8], at: usize, off: u64) -> Result<u64> {
    let f = h
        .get(at..at + 8)
        .ok_or_else(|| Error::corrupt("cpio newc header", off, "truncated"))?;
    let s = std::str::from_utf8(f)
        .map_err(|_| Error::corrupt("cpio newc header", off, "non-ASCII field"))?;
    u64::from_str_radix(s, 16).map_err(|_| {
        Error::corrupt(
            "cpio newc header",
            off,
            format!("field at {at} is not hex: {s:?}"),
        )
    })
}

fn oct_field(h: &[u8], at: usize, len: usize, off: u64) -> Result<u64> {
    let f = h
        .get(at..at + len)
        .ok_or_else(|| Error::corrupt("cpio odc header", off, "truncated"))?;
    let s = std::str::from_utf8(f)
        .map_err(|_| Error::corrupt("cpio odc header", off, "non-ASCII field"))?;
    u64::from_str_radix(s, 8).map_err(|_| {
        Error::corrupt(
            "cpio odc header",
            off,
            format!("field at {at} is not octal: {s:?}"),
        )
    })
}

fn bin_u16(h: &[u8], at: usize, be: bool) -> u64 {
    let a = h.get(at).copied().unwrap_or(0);
    let b = h.get(at + 1).copied().unwrap_or(0);
    u64::from(if be {
        u16::from_be_bytes([a, b])
    } else {
        u16::from_le_bytes([a, b])
    })
}

fn pad_to(len: u64, align: u64) -> u64 {
    (align - len % align) % align
}

/// The archive format a header magic names (`off`: where it starts, for the error).
fn magic_format(magic: &[u8], off: u64) -> Result<Format> {
    match magic {
        b"070701" | b"070702" => Ok(Format::Newc),
        b"070707" => Ok(Format::Odc),
        [0xc7, 0x71] => Ok(Format::BinLe),
        [0x71, 0xc7] => Ok(Format::BinBe),
        m => Err(Error::corrupt(
            "cpio header",
            off,
            format!("bad magic {:?}", String::from_utf8_lossy(m)),
        )),
    }
}

/// (name size, file size) from header `h` at `off`; a name size of zero or over
/// [`MAX_NAME`] is corrupt.
fn entry_sizes(format: Format, h: &[u8], off: u64) -> Result<(u64, u64)> {
    let (namesize, filesize) = match format {
        Format::Newc => (hex_field(h, 94, off)?, hex_field(h, 54, off)?),
        Format::Odc => (oct_field(h, 59, 6, off)?, oct_field(h, 65, 11, off)?),
        Format::BinLe | Format::BinBe => {
            let be = format == Format::BinBe;
            (
                bin_u16(h, 20, be),
                (bin_u16(h, 22, be) << 16) | bin_u16(h, 24, be),
            )
        }
    };
    if namesize == 0 || namesize as usize > MAX_NAME {
        return Err(Error::corrupt(
            "cpio header",
            off,
            format!("name size {namesize}"),
        ));
    }
    Ok((namesize, filesize))
}

impl CpioScanner {
    pub fn new() -> Self {
        CpioScanner {
            state: State::Between,
            buf: Vec::new(),
            offset: 0,
            entries: 0,
            trailers: 0,
            modules: BTreeSet::new(),
            module_versions: BTreeSet::new(),
            sample: Vec::new(),
        }
    }

    /// Whether the scanner is between archives (nothing half-read).
    pub fn is_between(&self) -> bool {
        self.state == State::Between
    }

    /// Feed the next bytes of the stream.
    pub fn feed(&mut self, data: &[u8]) -> Result<Fed> {
        let mut i = 0usize;
        while i < data.len() {
            let rest = data.get(i..).unwrap_or(&[]);
            match self.state {
                State::Between => {
                    let zeros = rest.iter().take_while(|b| **b == 0).count();
                    i += zeros;
                    self.offset += zeros as u64;
                    match data.get(i) {
                        None => break,
                        Some(b'0') | Some(0xc7) | Some(0x71) => {
                            self.buf.clear();
                            self.state = State::Magic;
                        }
                        Some(_) => return Ok(Fed::NotCpio(i)),
                    }
                }
                State::Magic => {
                    let first = self.buf.first().copied().or_else(|| rest.first().copied());
                    let need = if matches!(first, Some(0xc7) | Some(0x71)) {
                        2
                    } else {
                        6
                    };
                    i += self.collect(rest, need);
                    if self.buf.len() < need {
                        continue;
                    }
                    let format = magic_format(&self.buf, self.offset - need as u64)?;
                    self.state = State::Header(format);
                }
                State::Header(format) => {
                    let need = format.header_len();
                    i += self.collect(rest, need);
                    if self.buf.len() < need {
                        continue;
                    }
                    let off = self.offset - need as u64;
                    let h = std::mem::take(&mut self.buf);
                    let (namesize, filesize) = entry_sizes(format, &h, off)?;
                    let pad = pad_to(need as u64 + namesize, format.align()) as usize;
                    self.state = State::Name {
                        format,
                        namesize: namesize as usize,
                        pad,
                        filesize,
                    };
                }
                State::Name {
                    format,
                    namesize,
                    pad,
                    filesize,
                } => {
                    i += self.collect(rest, namesize + pad);
                    if self.buf.len() < namesize + pad {
                        continue;
                    }
                    let raw = self.buf.get(..namesize.saturating_sub(1)).unwrap_or(&[]);
                    let name = String::from_utf8_lossy(raw).into_owned();
                    self.buf.clear();
                    self.state = self.after_name(&name, format, filesize)?;
                }
                State::Skip(n) => {
                    let take = (rest.len() as u64).min(n);
                    i += take as usize;
                    self.offset += take;
                    self.state = if take == n {
                        State::Between.next_entry()
                    } else {
                        State::Skip(n - take)
                    };
                }
            }
        }
        Ok(Fed::All)
    }

    /// What follows the name of an entry: the trailer ends an archive; any other
    /// entry is counted (at most [`MAX_ENTRIES`]), noted, and its data skipped.
    fn after_name(&mut self, name: &str, format: Format, filesize: u64) -> Result<State> {
        if name == "TRAILER!!!" {
            self.trailers += 1;
            return Ok(State::Between);
        }
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(Error::Limit {
                what: "cpio entries in the initramfs".into(),
                limit: MAX_ENTRIES,
            });
        }
        self.note(name);
        let skip = filesize + pad_to(filesize, format.align());
        Ok(if skip == 0 {
            State::Between.next_entry()
        } else {
            State::Skip(skip)
        })
    }

    /// Append up to `need - buf.len()` bytes of `rest` to the buffer; bytes taken.
    fn collect(&mut self, rest: &[u8], need: usize) -> usize {
        let take = need.saturating_sub(self.buf.len()).min(rest.len());
        self.buf.extend_from_slice(rest.get(..take).unwrap_or(&[]));
        self.offset += take as u64;
        take
    }

    fn note(&mut self, name: &str) {
        if self.sample.len() < 16 {
            self.sample.push(name.to_string());
        }
        let trimmed = name.trim_start_matches("./").trim_start_matches('/');
        if let Some(rest) = trimmed
            .strip_prefix("usr/lib/modules/")
            .or_else(|| trimmed.strip_prefix("lib/modules/"))
        {
            if let Some(v) = rest.split('/').next().filter(|v| !v.is_empty()) {
                if self.module_versions.len() < 64 {
                    self.module_versions.insert(v.to_string());
                }
            }
        }
        if self.modules.len() < MAX_MODULES {
            if let Some(m) = module_name(trimmed) {
                self.modules.insert(m);
            }
        }
    }
}

impl State {
    /// After an entry the next header follows directly: a header magic, no zeros
    /// skipped (zeros appear only after a trailer). Modelled as `Magic`.
    fn next_entry(self) -> State {
        State::Magic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newc(name: &str, data: &[u8]) -> Vec<u8> {
        let mut v = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            1,
            0o100644,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        )
        .into_bytes();
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(data);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn byte_by_byte() {
        let mut a = newc(
            "lib/modules/6.1.0-18-amd64/kernel/drivers/block/virtio_blk.ko.xz",
            b"xyz",
        );
        a.extend(newc("TRAILER!!!", b""));
        a.extend([0u8; 8]);
        a.extend(newc("usr/lib/modules/6.1/virtio-pci.ko", b"12345"));
        a.extend(newc("TRAILER!!!", b""));
        let mut s = CpioScanner::new();
        for b in &a {
            assert_eq!(s.feed(std::slice::from_ref(b)).unwrap(), Fed::All);
        }
        assert!(s.is_between());
        assert_eq!(s.trailers, 2);
        assert!(s.modules.contains("virtio_blk") && s.modules.contains("virtio_pci"));
        assert!(s.module_versions.contains("6.1.0-18-amd64"));
        let mut s = CpioScanner::new();
        let mut b = a.clone();
        b.extend(b"\x1f\x8b");
        assert_eq!(s.feed(&b).unwrap(), Fed::NotCpio(a.len()));
    }
}
