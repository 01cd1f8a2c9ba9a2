//! The VHD hard disk footer (Microsoft "Virtual Hard Disk Image Format Specification",
//! section "Hard Disk Footer Format"), and how qemu (block/vpc.c, `vpc_open`) derives
//! the guest size from it.

use super::FMT;
use crate::bytes::{be16, be32, be64};
use crate::{Error, Result};

/// Size of the footer (and of its copy at offset 0 of dynamic disks).
pub const FOOTER_SIZE: usize = 512;
const COOKIE: &[u8; 8] = b"conectix";

/// Disk types (footer field "Disk Type").
pub const TYPE_FIXED: u32 = 2;
pub const TYPE_DYNAMIC: u32 = 3;
pub const TYPE_DIFFERENCING: u32 = 4;

/// qemu's `VHD_MAX_GEOMETRY` (65535 cylinders × 16 heads × 255 sectors): images with
/// this geometry are sized by `current_size`.
pub const MAX_GEOMETRY: u64 = 65535 * 16 * 255;
/// qemu's `VHD_MAX_SECTORS` (2040 GiB).
pub const MAX_SECTORS: u64 = 0xff00_0000;

/// The parsed footer.
#[derive(Debug, Clone)]
pub struct Footer {
    /// Where the footer was read (0 for the copy of a dynamic disk, EOF−512 for fixed).
    pub offset: u64,
    pub features: u32,
    pub version: u32,
    /// Offset of the dynamic disk header (`u64::MAX` for fixed disks).
    pub data_offset: u64,
    pub creator_app: [u8; 4],
    pub creator_version: u32,
    pub creator_os: [u8; 4],
    pub original_size: u64,
    pub current_size: u64,
    pub cylinders: u16,
    pub heads: u8,
    pub sectors_per_track: u8,
    pub disk_type: u32,
    pub checksum: u32,
}

/// One's complement of the byte sum with the checksum field (bytes 64..68) as zero
/// (spec "Checksum"; qemu `vpc_checksum`).
pub fn checksum(buf: &[u8], checksum_at: usize) -> u32 {
    let sum = buf
        .iter()
        .enumerate()
        .filter(|(i, _)| !(checksum_at..checksum_at + 4).contains(i))
        .fold(0u32, |s, (_, &b)| s.wrapping_add(u32::from(b)));
    !sum
}

impl Footer {
    /// Whether `buf` starts with the footer cookie `conectix`.
    pub fn has_cookie(buf: &[u8]) -> bool {
        buf.starts_with(COOKIE)
    }

    /// Parse a 512-byte footer read at `offset`; the checksum must match (qemu refuses
    /// "Incorrect header checksum").
    pub fn parse(buf: &[u8], offset: u64) -> Result<Footer> {
        if buf.len() < FOOTER_SIZE || !Self::has_cookie(buf) {
            return Err(Error::corrupt(
                FMT,
                "footer",
                offset,
                "no 'conectix' cookie",
            ));
        }
        let f = Footer {
            offset,
            features: be32(buf, 8),
            version: be32(buf, 12),
            data_offset: be64(buf, 16),
            creator_app: four(buf, 28),
            creator_version: be32(buf, 32),
            creator_os: four(buf, 36),
            original_size: be64(buf, 40),
            current_size: be64(buf, 48),
            cylinders: be16(buf, 56),
            heads: buf.get(58).copied().unwrap_or(0),
            sectors_per_track: buf.get(59).copied().unwrap_or(0),
            disk_type: be32(buf, 60),
            checksum: be32(buf, 64),
        };
        let want = checksum(&buf[..FOOTER_SIZE], 64);
        if want != f.checksum {
            return Err(Error::corrupt(
                FMT,
                "footer",
                offset,
                format!(
                    "checksum {:#010x} does not match the computed {want:#010x}",
                    f.checksum
                ),
            ));
        }
        Ok(f)
    }

    /// Sectors of the CHS geometry.
    pub fn chs_sectors(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors_per_track)
    }

    /// Whether qemu sizes the disk by its CHS geometry: only for Virtual PC (`vpc `)
    /// and old QEMU (`qemu`) images whose geometry is not the maximum (qemu ≥ 10.0,
    /// `vpc_ignore_current_size`, "vpc: Read images exported from Azure correctly").
    /// Every other creator (Hyper-V `win `, `qem2`, `d2v `, `tap\0`, `CTXS`, Azure
    /// `wa\0\0` …) is sized by `current_size`.
    pub fn uses_chs(&self) -> bool {
        (&self.creator_app == b"vpc " || &self.creator_app == b"qemu")
            && self.chs_sectors() != MAX_GEOMETRY
    }

    /// The guest size in bytes as `qemu-img info` reports it.
    pub fn virtual_size(&self) -> Result<u64> {
        let sectors = if self.uses_chs() {
            self.chs_sectors()
        } else {
            self.current_size / 512
        };
        if sectors > MAX_SECTORS {
            return Err(Error::limit(
                "VHD virtual size in sectors (qemu's maximum is 2040 GiB)",
                sectors,
                MAX_SECTORS,
            ));
        }
        Ok(sectors * 512)
    }

    /// The creator application as text (`qemu`, `win `, `vpc ` …).
    pub fn creator_app_str(&self) -> String {
        text4(&self.creator_app)
    }

    /// The creator host OS as text (`Wi2k`, `Mac ` …).
    pub fn creator_os_str(&self) -> String {
        text4(&self.creator_os)
    }
}

fn four(buf: &[u8], off: usize) -> [u8; 4] {
    let mut a = [0u8; 4];
    if let Some(s) = buf.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    a
}

fn text4(b: &[u8; 4]) -> String {
    b.iter()
        .flat_map(|&c| std::ascii::escape_default(c))
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(app: &[u8; 4], chs: (u16, u8, u8), current: u64) -> Footer {
        Footer {
            offset: 0,
            features: 2,
            version: 0x10000,
            data_offset: 512,
            creator_app: *app,
            creator_version: 0,
            creator_os: *b"Wi2k",
            original_size: current,
            current_size: current,
            cylinders: chs.0,
            heads: chs.1,
            sectors_per_track: chs.2,
            disk_type: TYPE_DYNAMIC,
            checksum: 0,
        }
    }

    #[test]
    fn size_follows_qemu_creator_table() {
        let chs = (964, 8, 17);
        let cur = 66_060_288;
        assert_eq!(
            footer(b"qemu", chs, cur).virtual_size().ok(),
            Some(964 * 8 * 17 * 512)
        );
        assert_eq!(
            footer(b"vpc ", chs, cur).virtual_size().ok(),
            Some(964 * 8 * 17 * 512)
        );
        for app in [
            b"win ", b"qem2", b"d2v ", b"tap\0", b"CTXS", b"wa\0\0", b"abcd",
        ] {
            assert_eq!(footer(app, chs, cur).virtual_size().ok(), Some(cur));
        }
        // Maximum geometry: current_size even for qemu.
        assert_eq!(
            footer(b"qemu", (65535, 16, 255), cur).virtual_size().ok(),
            Some(cur)
        );
    }

    #[test]
    fn checksum_skips_its_field() {
        let mut b = vec![0u8; 512];
        b[..8].copy_from_slice(COOKIE);
        let c = checksum(&b, 64);
        b[64..68].copy_from_slice(&c.to_be_bytes());
        assert!(Footer::parse(&b, 0).is_ok());
        b[100] = 1;
        assert!(Footer::parse(&b, 0).is_err());
    }
}
