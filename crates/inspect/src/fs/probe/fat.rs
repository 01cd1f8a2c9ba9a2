//! FAT12/16/32 (`vfat.c`): blkid's magics and BPB checks, the FAT type by cluster count,
//! and the label from the root directory's volume-label entry or the BPB.

use super::super::{FsKind, FsProbe};
use super::{bytes_at, found, label, read};
use crate::Result;
use imgport_disk::bytes::short::{le16, le32};
use imgport_disk::ReadAt;

const FAT12_MAX: u32 = 0xFF4;
const FAT16_MAX: u32 = 0xFFF4;
const FAT32_MAX: u32 = 0x0FFF_FFF6;
const NO_NAME: &[u8] = b"NO NAME    ";

/// FAT12/16/32 (`vfat.c`): one of blkid's FAT magics, then its BPB checks; the
/// FAT type is blkid's VERSION (by cluster count for FAT12/16). The label is the
/// root directory's volume-label entry, else the BPB's, unless `NO NAME`.
pub(super) fn fat(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(b) = read(dev, 0, 512)? else {
        return Ok(None);
    };
    if !has_fat_magic(&b) {
        return Ok(None);
    }
    let Some(g) = Geometry::from_bpb(&b) else {
        return Ok(None);
    };
    let ss = u64::from(g.sector_size);
    let (kind, root_label, bpb_label, serial) = if g.fat16_length != 0 {
        let root = (u64::from(g.reserved) + g.fat_size) * ss;
        let root_label = fat_root_label(dev, root, g.dir_entries as usize)?;
        let kind = if g.clusters < FAT12_MAX {
            FsKind::Fat12
        } else {
            FsKind::Fat16
        };
        (
            kind,
            root_label,
            bytes_at(&b, 0x2b, 11),
            bytes_at(&b, 0x27, 4),
        )
    } else if g.fat32_length != 0 {
        let root_label = fat32_root_label(dev, &b, &g)?;
        if !fat32_fsinfo_valid(dev, &b, ss)? {
            return Ok(None);
        }
        (
            FsKind::Fat32,
            root_label,
            bytes_at(&b, 0x47, 11),
            bytes_at(&b, 0x43, 4),
        )
    } else {
        return Ok(None);
    };
    let raw = match root_label {
        Some(l) if l != NO_NAME => l,
        _ => bpb_label.to_vec(),
    };
    let lbl = if raw == NO_NAME { None } else { label(&raw) };
    let uuid = (serial.len() == 4 && serial.iter().any(|&x| x != 0)).then(|| {
        format!(
            "{:02X}{:02X}-{:02X}{:02X}",
            serial[3], serial[2], serial[1], serial[0]
        )
    });
    Ok(found(kind, uuid, lbl))
}

/// Whether boot sector `b` carries one of blkid's FAT magics, or else only the weak
/// signs (a jump or the 0xAA55 boot signature) and is not JFS or HPFS.
fn has_fat_magic(b: &[u8]) -> bool {
    let strong = b.get(0x52..0x57) == Some(b"MSWIN")
        || b.get(0x52..0x5a) == Some(b"FAT32   ")
        || b.get(0x36..0x3b) == Some(b"MSDOS")
        || [&b"FAT16   "[..], b"FAT12   ", b"FAT     "]
            .iter()
            .any(|m| b.get(0x36..0x3e) == Some(m));
    let weak = matches!(b.first(), Some(0xEB | 0xE9)) || le16(b, 0x1fe) == 0xAA55;
    if !strong {
        if !weak || le16(b, 0x1fe) != 0xAA55 {
            return false;
        }
        let m = b.get(0x36..0x3e).unwrap_or_default();
        if m == b"JFS     " || m == b"HPFS    " {
            return false;
        }
    }
    true
}

/// The volume geometry a FAT BPB describes, once it passed blkid's sanity checks.
struct Geometry {
    reserved: u32,
    spc: u32,
    sector_size: u32,
    dir_entries: u32,
    fat16_length: u32,
    fat32_length: u32,
    /// Sectors taken by all FATs.
    fat_size: u64,
    /// Data clusters, within the FAT type's maximum.
    clusters: u32,
}

impl Geometry {
    /// The BPB's geometry (`valid_fat`), or nothing when a field is out of range or
    /// the cluster count exceeds what the FAT type can address.
    fn from_bpb(b: &[u8]) -> Option<Geometry> {
        let fats = u32::from(b.get(0x10).copied().unwrap_or(0));
        let reserved = u32::from(le16(b, 0x0e));
        let media = b.get(0x15).copied().unwrap_or(0);
        let spc = u32::from(b.get(0x0d).copied().unwrap_or(0));
        let sector_size = u32::from(le16(b, 0x0b));
        if fats == 0
            || reserved == 0
            || !(media >= 0xf8 || media == 0xf0)
            || !spc.is_power_of_two()
            || !sector_size.is_power_of_two()
            || !(512..=4096).contains(&sector_size)
        {
            return None;
        }
        let dir_entries = u32::from(le16(b, 0x11));
        let mut sect_count = u32::from(le16(b, 0x13));
        if sect_count == 0 {
            sect_count = le32(b, 0x20);
        }
        let fat16_length = u32::from(le16(b, 0x16));
        let fat32_length = le32(b, 0x24);
        let fat_length = if fat16_length == 0 {
            fat32_length
        } else {
            fat16_length
        };
        let fat_size = u64::from(fat_length) * u64::from(fats);
        let dir_size = (u64::from(dir_entries) * 32).div_ceil(u64::from(sector_size));
        let data = u64::from(sect_count).checked_sub(u64::from(reserved) + fat_size + dir_size)?;
        let clusters = data / u64::from(spc);
        let max = if fat16_length == 0 && fat32_length != 0 {
            FAT32_MAX
        } else if clusters > u64::from(FAT12_MAX) {
            FAT16_MAX
        } else {
            FAT12_MAX
        };
        if clusters > u64::from(max) {
            return None;
        }
        Some(Geometry {
            reserved,
            spc,
            sector_size,
            dir_entries,
            fat16_length,
            fat32_length,
            fat_size,
            clusters: clusters as u32,
        })
    }
}

/// FAT32's root-directory label: the label entry of the first of at most 99 root
/// clusters (following the FAT chain from the BPB's root cluster) that has one.
fn fat32_root_label(dev: &dyn ReadAt, b: &[u8], g: &Geometry) -> Result<Option<Vec<u8>>> {
    let ss = u64::from(g.sector_size);
    let spc = g.spc;
    let reserved = g.reserved;
    let cluster_bytes = u64::from(spc) * ss;
    let data_start = u64::from(reserved) + g.fat_size;
    let entries = u64::from(g.fat32_length) * ss / 4;
    let mut next = le32(b, 0x2c);
    let mut root_label = None;
    for _ in 0..99 {
        if next < 2 || u64::from(next) >= entries {
            break;
        }
        let off = (data_start + u64::from(next - 2) * u64::from(spc)) * ss;
        root_label = fat_root_label(dev, off, (cluster_bytes / 32) as usize)?;
        if root_label.is_some() {
            break;
        }
        let Some(e) = read(dev, u64::from(reserved) * ss + u64::from(next) * 4, 4)? else {
            break;
        };
        next = le32(&e, 0) & 0x0fff_ffff;
    }
    Ok(root_label)
}

/// Whether FAT32's FSInfo sector, when the BPB names one, is present and carries
/// its signatures (or zeros) where blkid looks; `ss` is the sector size.
fn fat32_fsinfo_valid(dev: &dyn ReadAt, b: &[u8], ss: u64) -> Result<bool> {
    let fsinfo = u64::from(le16(b, 0x30));
    if fsinfo != 0 {
        let Some(fi) = read(dev, fsinfo * ss, 512)? else {
            return Ok(false);
        };
        let s1 = fi.get(..4).unwrap_or_default();
        let s2 = fi.get(484..488).unwrap_or_default();
        if !(s1 == b"RRaA" || s1 == b"RRdA" || s1 == [0; 4]) || !(s2 == b"rrAa" || s2 == [0; 4]) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The 11 name bytes of the volume-label entry among `entries` directory entries at
/// `off` (`search_fat_label`).
fn fat_root_label(dev: &dyn ReadAt, off: u64, entries: usize) -> Result<Option<Vec<u8>>> {
    let entries = entries.min(65536);
    let avail = dev.size().saturating_sub(off) / 32;
    let entries = entries.min(avail as usize);
    let Some(dir) = read(dev, off, entries * 32)? else {
        return Ok(None);
    };
    for e in dir.chunks_exact(32) {
        let attr = e.get(11).copied().unwrap_or(0);
        match e.first() {
            Some(0) | None => break,
            Some(0xE5) => continue,
            _ => {}
        }
        if le16(e, 20) != 0 || le16(e, 26) != 0 || attr & 0x3f == 0x0f {
            continue;
        }
        if attr & (0x08 | 0x10) == 0x08 {
            return Ok(Some(bytes_at(e, 0, 11).to_vec()));
        }
    }
    Ok(None)
}
