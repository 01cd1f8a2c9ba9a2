//! Linux md software RAID superblocks (kernel `include/uapi/linux/raid/md_p.h`, as
//! libblkid's `superblocks/linux_raid.c` finds them): magic `0xa92b4efc` in
//! - metadata 0.90 at the last 64 KiB-aligned 64 KiB of the device (either byte order),
//! - metadata 1.0 at 8 KiB from the end (4 KiB-aligned), 1.1 at 0, 1.2 at 4 KiB,
//!   little-endian, with `super_offset` naming the sector it was found at.
//!
//! Only recognised (what holds the volume, R-PART): the array is not assembled.

use crate::Result;
use imgport_disk::ReadAt;
use serde::Serialize;

/// The md superblock magic.
pub const MD_MAGIC: u32 = 0xa92b_4efc;
/// Bytes read of a superblock (the fields used all lie in the first 256).
const SB_LEN: usize = 256;
/// 0.90: `MD_RESERVED_BYTES`.
const RESERVED_090: u64 = 64 * 1024;

/// One md superblock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MdSuperblock {
    /// `0.90`, `1.0`, `1.1` or `1.2`.
    pub version: &'static str,
    /// Byte offset of the superblock on the member.
    pub offset: u64,
    /// RAID level (`raid1`, `raid5`, `linear` …).
    pub level: String,
    /// Array name (1.x `set_name`), when set.
    pub name: Option<String>,
    /// 1.x: byte offset of the array's data on the member (0.90, 1.0: 0).
    pub data_offset: u64,
}

impl MdSuperblock {
    /// `Linux md RAID member (metadata 1.2, raid1, array "host:0") at byte 4096`.
    pub fn describe(&self) -> String {
        format!(
            "Linux md software RAID member (metadata {}, {}{}): superblock magic a92b4efc at byte {}",
            self.version,
            self.level,
            self.name
                .as_deref()
                .map(|n| format!(", array \"{n}\""))
                .unwrap_or_default(),
            self.offset
        )
    }
}

fn read(dev: &dyn ReadAt, off: u64) -> Result<Option<Vec<u8>>> {
    match off.checked_add(SB_LEN as u64) {
        Some(end) if end <= dev.size() => {
            let mut b = vec![0u8; SB_LEN];
            dev.read_exact_at(&mut b, off)?;
            Ok(Some(b))
        }
        _ => Ok(None),
    }
}

fn u32_at(b: &[u8], off: usize, big: bool) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        a.copy_from_slice(s);
    }
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn u64_le(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(off..off + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

fn level_name(level: i32) -> String {
    match level {
        -4 => "multipath".into(),
        -1 => "linear".into(),
        -5 => "faulty".into(),
        l => format!("raid{l}"),
    }
}

/// The md superblock of `dev`, if it has one (1.x first: 1.2, 1.1, 1.0; then 0.90).
pub fn find(dev: &dyn ReadAt) -> Result<Option<MdSuperblock>> {
    let size = dev.size();
    let sectors = size / 512;
    let mut v1 = vec![("1.2", 8u64), ("1.1", 0u64)];
    if sectors >= 16 {
        v1.push(("1.0", (sectors - 16) & !7));
    }
    for (version, sector) in v1 {
        let Some(b) = read(dev, sector * 512)? else {
            continue;
        };
        if u32_at(&b, 0, false) != MD_MAGIC
            || u32_at(&b, 4, false) != 1
            || u64_le(&b, 144) != sector
        {
            continue;
        }
        let raw_name = b.get(32..64).unwrap_or_default();
        let end = raw_name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(raw_name.len());
        let name = String::from_utf8_lossy(raw_name.get(..end).unwrap_or_default())
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>();
        return Ok(Some(MdSuperblock {
            version,
            offset: sector * 512,
            level: level_name(u32_at(&b, 72, false) as i32),
            name: (!name.trim().is_empty()).then(|| name.trim().to_string()),
            data_offset: u64_le(&b, 128).saturating_mul(512),
        }));
    }
    if size >= 2 * RESERVED_090 {
        let off = (size & !(RESERVED_090 - 1)) - RESERVED_090;
        if let Some(b) = read(dev, off)? {
            for big in [false, true] {
                if u32_at(&b, 0, big) == MD_MAGIC && u32_at(&b, 4, big) == 0 {
                    return Ok(Some(MdSuperblock {
                        version: "0.90",
                        offset: off,
                        level: level_name(u32_at(&b, 28, big) as i32),
                        name: None,
                        data_offset: 0,
                    }));
                }
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgport_disk::MemSource;

    fn sb1(dev: &mut [u8], sector: u64, level: i32, name: &[u8]) {
        let o = (sector * 512) as usize;
        dev[o..o + 4].copy_from_slice(&MD_MAGIC.to_le_bytes());
        dev[o + 4..o + 8].copy_from_slice(&1u32.to_le_bytes());
        dev[o + 32..o + 32 + name.len()].copy_from_slice(name);
        dev[o + 72..o + 76].copy_from_slice(&level.to_le_bytes());
        dev[o + 128..o + 136].copy_from_slice(&2048u64.to_le_bytes());
        dev[o + 144..o + 152].copy_from_slice(&sector.to_le_bytes());
    }

    #[test]
    fn every_metadata_version_at_its_offset() {
        let size = 1 << 20;
        // 1.2 at 4 KiB.
        let mut d = vec![0u8; size];
        sb1(&mut d, 8, 1, b"host:0");
        let s = find(&MemSource::new(d)).unwrap().unwrap();
        assert_eq!(
            (s.version, s.offset, s.level.as_str()),
            ("1.2", 4096, "raid1")
        );
        assert_eq!(s.name.as_deref(), Some("host:0"));
        assert_eq!(s.data_offset, 2048 * 512);
        assert!(s.describe().contains("metadata 1.2"));
        // 1.1 at 0.
        let mut d = vec![0u8; size];
        sb1(&mut d, 0, 5, b"");
        let s = find(&MemSource::new(d)).unwrap().unwrap();
        assert_eq!(
            (s.version, s.level.as_str(), s.name),
            ("1.1", "raid5", None)
        );
        // 1.0 at the end: (sectors - 16) & !7.
        let mut d = vec![0u8; size];
        let sector = ((size as u64 / 512) - 16) & !7;
        sb1(&mut d, sector, 1, b"r");
        assert_eq!(find(&MemSource::new(d)).unwrap().unwrap().version, "1.0");
        // 0.90, big-endian too.
        for big in [false, true] {
            let mut d = vec![0u8; size];
            let o = size - 64 * 1024;
            let m = if big {
                MD_MAGIC.to_be_bytes()
            } else {
                MD_MAGIC.to_le_bytes()
            };
            d[o..o + 4].copy_from_slice(&m);
            d[o + 28..o + 32].copy_from_slice(&if big {
                1i32.to_be_bytes()
            } else {
                1i32.to_le_bytes()
            });
            let s = find(&MemSource::new(d)).unwrap().unwrap();
            assert_eq!(
                (s.version, s.offset, s.level.as_str()),
                ("0.90", o as u64, "raid1")
            );
        }
    }

    #[test]
    fn wrong_super_offset_or_short_device_is_none() {
        let mut d = vec![0u8; 1 << 20];
        sb1(&mut d, 8, 1, b"x");
        d[4096 + 144] = 9; // super_offset no longer names sector 8
        assert_eq!(find(&MemSource::new(d)).unwrap(), None);
        assert_eq!(find(&MemSource::new(vec![])).unwrap(), None);
        assert_eq!(find(&MemSource::new(vec![0xff; 5000])).unwrap(), None);
    }
}
