//! Filesystem identification by superblock magic, as util-linux's libblkid does it
//! (`libblkid/src/superblocks/*.c`): the same signatures, the same sanity checks and
//! the same textual UUID and LABEL forms, so that our answer agrees with
//! `blkid -p -o export` (the oracle in `tests/fs_readers.rs`).
//!
//! Every read is a fixed, small size at a fixed or bounded offset; a device too
//! short for a structure simply does not match it. Loops (FAT/exFAT root-directory
//! label searches, NTFS attributes) have explicit bounds.

use super::{FsKind, FsProbe};
use crate::Result;
use imgport_disk::bytes::short::{be16, be32, be64, le16, le32, le64};
use imgport_disk::ReadAt;

/// Identify what `dev` holds. The first kind whose checks pass wins, in the order
/// below (encryption and volume-manager labels first, then filesystems, then swap
/// and ISO 9660).
pub fn probe(dev: &dyn ReadAt) -> Result<FsProbe> {
    type Prober = fn(&dyn ReadAt) -> Result<Option<FsProbe>>;
    const PROBERS: &[Prober] = &[
        luks,
        lvm2,
        bitlocker,
        xfs,
        ext,
        btrfs,
        ntfs,
        exfat,
        fat,
        swap,
        iso9660,
        md_raid,
        storage_spaces,
    ];
    for p in PROBERS {
        if let Some(found) = p(dev)? {
            return Ok(found);
        }
    }
    Ok(FsProbe {
        kind: FsKind::Unknown,
        uuid: None,
        label: None,
    })
}

// ------------------------------------------------------------------ helpers

/// `len` bytes at `off`, or `None` when the device is shorter.
fn read(dev: &dyn ReadAt, off: u64, len: usize) -> Result<Option<Vec<u8>>> {
    match off.checked_add(len as u64) {
        Some(end) if end <= dev.size() => {
            let mut buf = vec![0u8; len];
            dev.read_exact_at(&mut buf, off)?;
            Ok(Some(buf))
        }
        _ => Ok(None),
    }
}

fn bytes_at(b: &[u8], off: usize, len: usize) -> &[u8] {
    b.get(off..off + len).unwrap_or_default()
}

fn found(kind: FsKind, uuid: Option<String>, label: Option<String>) -> Option<FsProbe> {
    Some(FsProbe { kind, uuid, label })
}

/// blkid's `blkid_probe_set_uuid`: dashed lower-case, nothing for an all-zero UUID.
fn dce_uuid(b: &[u8]) -> Option<String> {
    if b.len() != 16 || b.iter().all(|&x| x == 0) {
        return None;
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// blkid's `blkid_probe_set_label`: the bytes up to the first NUL, trailing
/// whitespace trimmed; nothing when empty.
fn label(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    let s = String::from_utf8_lossy(b.get(..end).unwrap_or_default());
    let t = s.trim_end_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    (!t.is_empty()).then(|| t.to_string())
}

/// blkid's `blkid_probe_set_utf8label` for UTF-16 (stops at a NUL code unit).
fn utf16_label(b: &[u8], big_endian: bool) -> Option<String> {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| {
            if big_endian {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_le_bytes([c[0], c[1]])
            }
        })
        .take_while(|&u| u != 0)
        .collect();
    label(String::from_utf16_lossy(&units).as_bytes())
}

// ------------------------------------------------------------------ LUKS

/// LUKS1/LUKS2 (`luks.c`): the primary header at 0, else a LUKS2 secondary header
/// (`SKUL\xba\xbe`) at one of its fixed offsets.
fn luks(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    const SECONDARY: [u64; 9] = [
        0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000,
    ];
    let valid = |h: &[u8], magic: &[u8], at: u64| {
        h.get(..6) == Some(magic) && (be16(h, 6) != 2 || be64(h, 256) == at)
    };
    let attributes = |h: &[u8]| {
        let uuid = label(bytes_at(h, 168, 40));
        let lbl = if be16(h, 6) == 2 {
            label(bytes_at(h, 24, 48))
        } else {
            None
        };
        found(FsKind::Luks, uuid, lbl)
    };
    let Some(h) = read(dev, 0, 512)? else {
        return Ok(None);
    };
    if valid(&h, b"LUKS\xba\xbe", 0) {
        return Ok(attributes(&h));
    }
    for at in SECONDARY {
        let Some(h) = read(dev, at, 512)? else {
            break;
        };
        if valid(&h, b"SKUL\xba\xbe", at) {
            return Ok(attributes(&h));
        }
    }
    Ok(None)
}

// ------------------------------------------------------------------ LVM2

/// LVM2 PV label (`lvm.c`): `LABELONE` at the start of one of sectors 0–3, naming
/// its own sector, with a valid CRC and type `LVM2 001`.
fn lvm2(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    for sector in 0..4u64 {
        let Some(b) = read(dev, sector * 512, 512)? else {
            break;
        };
        if b.get(..8) != Some(b"LABELONE") || b.get(24..32) != Some(b"LVM2 001") {
            continue;
        }
        if le64(&b, 8) != sector
            || crate::lvm::label::lvm_crc(&[b.get(20..).unwrap_or_default()]) != le32(&b, 16)
        {
            continue;
        }
        let raw = bytes_at(&b, 32, 32);
        let uuid = (!raw.iter().all(|&c| c == 0))
            .then(|| crate::lvm::label::dashed_uuid(&String::from_utf8_lossy(raw)));
        return Ok(found(FsKind::LvmPv, uuid, None));
    }
    Ok(None)
}

// ------------------------------------------------------------------ containers

/// A Linux md RAID member (`linux_raid.c`, [`crate::container::md`]). Probed after
/// the filesystems, unlike blkid: a 0.90/1.0 mirror member starts with its filesystem,
/// which the inspector then reads (and names the RAID as what holds it).
fn md_raid(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    Ok(crate::container::md::find(dev)?.map(|sb| FsProbe {
        kind: FsKind::LinuxRaidMember,
        uuid: None,
        label: sb.name,
    }))
}

/// A Windows Storage Spaces pool member ([`crate::container::spaces`]).
fn storage_spaces(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    Ok(crate::container::spaces::find(dev)?.and_then(|_| found(FsKind::StorageSpaces, None, None)))
}

// ------------------------------------------------------------------ BitLocker

/// BitLocker (`bitlocker.c`): Vista, Windows 7+ and To Go boot sectors; the latter
/// two must point at FVE metadata starting `-FVE-FS-`.
fn bitlocker(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(b) = read(dev, 0, 512)? else {
        return Ok(None);
    };
    let head = b.get(..11).unwrap_or_default();
    let fve_at = if head == b"\xeb\x52\x90-FVE-FS-" {
        return Ok(found(FsKind::Bitlocker, None, None));
    } else if head == b"\xeb\x58\x90-FVE-FS-" {
        le64(&b, 176)
    } else if head == b"\xeb\x58\x90MSWIN4.1" {
        le64(&b, 440)
    } else {
        return Ok(None);
    };
    if fve_at == 0 {
        return Ok(None);
    }
    match read(dev, fve_at, 8)? {
        Some(sig) if sig == b"-FVE-FS-" => {}
        _ => return Ok(None),
    }
    let serial = le32(&b, 67);
    let uuid = (head.get(3..) == Some(b"-FVE-FS-") && serial != 0).then(|| format!("{serial:016}"));
    Ok(found(FsKind::Bitlocker, uuid, None))
}

// ------------------------------------------------------------------ XFS

/// XFS (`xfs.c`): `XFSB` at 0 and a sane geometry.
fn xfs(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(b) = read(dev, 0, 512)? else {
        return Ok(None);
    };
    if b.get(..4) != Some(b"XFSB") {
        return Ok(None);
    }
    let blocksize = be32(&b, 4);
    let sectsize = be16(&b, 102);
    let agcount = be32(&b, 88);
    let dblocks = be64(&b, 8);
    let sane = blocksize.is_power_of_two()
        && (512..=65536).contains(&blocksize)
        && sectsize.is_power_of_two()
        && (512..=32768).contains(&sectsize)
        && agcount > 0
        && dblocks > 0;
    if !sane {
        return Ok(None);
    }
    Ok(found(
        FsKind::Xfs,
        dce_uuid(bytes_at(&b, 32, 16)),
        label(bytes_at(&b, 108, 12)),
    ))
}

// ------------------------------------------------------------------ ext2/3/4

const EXT3_FEATURE_COMPAT_HAS_JOURNAL: u32 = 0x0004;
const EXT3_FEATURE_INCOMPAT_JOURNAL_DEV: u32 = 0x0008;
/// Features ext2 and ext3 understand (`ext.c`); anything else makes it ext4.
const EXT2_RO_COMPAT_SUPP: u32 = 0x0001 | 0x0002 | 0x0004;
const EXT2_INCOMPAT_SUPP: u32 = 0x0002 | 0x0010;
const EXT3_RO_COMPAT_SUPP: u32 = EXT2_RO_COMPAT_SUPP;
const EXT3_INCOMPAT_SUPP: u32 = 0x0002 | 0x0004 | 0x0010;

/// The ext generation blkid reports for these feature sets (`ext.c`): a journal
/// device is none of them; no journal and only ext2 features is ext2; a journal and
/// only ext3 features is ext3; any feature ext3 does not know (extents, 64bit,
/// flex_bg, huge_file, metadata_csum …) is ext4.
pub(crate) fn ext_kind(compat: u32, incompat: u32, ro_compat: u32) -> Option<FsKind> {
    if incompat & EXT3_FEATURE_INCOMPAT_JOURNAL_DEV != 0 {
        return None;
    }
    let journal = compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL != 0;
    if ro_compat & !EXT3_RO_COMPAT_SUPP != 0 || incompat & !EXT3_INCOMPAT_SUPP != 0 {
        return Some(FsKind::Ext4);
    }
    if journal {
        return Some(FsKind::Ext3);
    }
    if ro_compat & !EXT2_RO_COMPAT_SUPP == 0 && incompat & !EXT2_INCOMPAT_SUPP == 0 {
        return Some(FsKind::Ext2);
    }
    None
}

/// ext2/3/4: magic 0xEF53 in the superblock at 1024.
fn ext(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(sb) = read(dev, 1024, 1024)? else {
        return Ok(None);
    };
    if le16(&sb, 0x38) != 0xEF53 {
        return Ok(None);
    }
    let Some(kind) = ext_kind(le32(&sb, 0x5c), le32(&sb, 0x60), le32(&sb, 0x64)) else {
        return Ok(None);
    };
    Ok(found(
        kind,
        dce_uuid(bytes_at(&sb, 0x68, 16)),
        label(bytes_at(&sb, 0x78, 16)),
    ))
}

// ------------------------------------------------------------------ btrfs

/// btrfs (`btrfs.c`): `_BHRfS_M` in the superblock at 64 KiB.
fn btrfs(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(sb) = read(dev, 0x10000, 0x1000)? else {
        return Ok(None);
    };
    if sb.get(0x40..0x48) != Some(b"_BHRfS_M") {
        return Ok(None);
    }
    Ok(found(
        FsKind::Btrfs,
        dce_uuid(bytes_at(&sb, 0x20, 16)),
        label(bytes_at(&sb, 0x12b, 256)),
    ))
}

// ------------------------------------------------------------------ NTFS

/// NTFS (`ntfs.c`): OEM id `NTFS    `, a BPB whose FAT-only fields are zero, an MFT
/// inside the volume whose records 0 and 3 start `FILE`; the label is $Volume's
/// $VOLUME_NAME, the UUID the 64-bit serial in upper-case hex.
fn ntfs(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(b) = read(dev, 0, 512)? else {
        return Ok(None);
    };
    if b.get(3..11) != Some(b"NTFS    ") {
        return Ok(None);
    }
    let sector_size = u32::from(le16(&b, 0x0b));
    let spc = u32::from(b.get(0x0d).copied().unwrap_or(0));
    if !(256..=4096).contains(&sector_size)
        || !spc.is_power_of_two()
        || spc > 128
        || sector_size * spc > 64 * 1024
    {
        return Ok(None);
    }
    // reserved sectors, FATs, root entries, sectors, sectors per FAT, large sectors
    if le16(&b, 0x0e) != 0
        || b.get(0x10) != Some(&0)
        || le16(&b, 0x11) != 0
        || le16(&b, 0x13) != 0
        || le16(&b, 0x16) != 0
        || le32(&b, 0x20) != 0
    {
        return Ok(None);
    }
    let cpmr = b.get(0x40).copied().unwrap_or(0);
    let record_size: u64 = if (0xe1..=0xf7).contains(&cpmr) {
        1u64 << (256 - u32::from(cpmr))
    } else if matches!(cpmr, 1 | 2 | 4 | 8 | 16 | 32 | 64) {
        u64::from(cpmr) * u64::from(spc) * u64::from(sector_size)
    } else {
        return Ok(None);
    };
    let nr_clusters = le64(&b, 0x28) / u64::from(spc);
    let (mft, mirr) = (le64(&b, 0x30), le64(&b, 0x38));
    if mft > nr_clusters || mirr > nr_clusters {
        return Ok(None);
    }
    let Some(mft_off) = mft.checked_mul(u64::from(sector_size * spc)) else {
        return Ok(None);
    };
    let rec_len = record_size as usize;
    match read(dev, mft_off, rec_len)? {
        Some(r) if r.get(..4) == Some(b"FILE") => {}
        _ => return Ok(None),
    }
    let Some(vol) = mft_off
        .checked_add(3 * record_size)
        .map(|o| read(dev, o, rec_len))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    if vol.get(..4) != Some(b"FILE") {
        return Ok(None);
    }
    let mut lbl = None;
    let mut at = usize::from(le16(&vol, 0x14));
    let allocated = le32(&vol, 0x1c) as usize;
    for _ in 0..64 {
        if at >= rec_len || at > allocated {
            break;
        }
        let ty = le32(&vol, at);
        let len = le32(&vol, at + 4) as usize;
        if len == 0 || ty == 0xffff_ffff {
            break;
        }
        if ty == 0x60 {
            let val_len = le32(&vol, at + 0x10) as usize;
            let val_off = usize::from(le16(&vol, at + 0x14));
            let start = at.saturating_add(val_off);
            let end = start.saturating_add(val_len).min(vol.len());
            lbl = utf16_label(vol.get(start..end).unwrap_or_default(), false);
            break;
        }
        at = at.saturating_add(len);
    }
    let serial = le64(&b, 0x48);
    let uuid = (serial != 0).then(|| format!("{serial:016X}"));
    Ok(found(FsKind::Ntfs, uuid, lbl))
}

// ------------------------------------------------------------------ exFAT

/// Largest number of root-directory entries searched for the exFAT label.
const EXFAT_LABEL_SEARCH: usize = 16 * 1024;

/// exFAT (`exfat.c`): name `EXFAT   `, jump `EB 76 90`, zero legacy BPB, boot
/// signature and the boot-region checksum; the label is the root directory's
/// volume-label entry.
fn exfat(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(b) = read(dev, 0, 512)? else {
        return Ok(None);
    };
    if b.get(3..11) != Some(b"EXFAT   ") {
        return Ok(None);
    }
    let bps_shift = u32::from(b.get(108).copied().unwrap_or(0));
    let spc_shift = u32::from(b.get(109).copied().unwrap_or(0));
    if le16(&b, 510) != 0xAA55
        || b.get(..3) != Some(b"\xeb\x76\x90")
        || b.get(11..64).is_none_or(|z| z.iter().any(|&x| x != 0))
        || !(9..=12).contains(&bps_shift)
        || bps_shift + spc_shift > 25
    {
        return Ok(None);
    }
    let sector = 1usize << bps_shift;
    let Some(boot) = read(dev, 0, sector * 12)? else {
        return Ok(None);
    };
    let mut sum: u32 = 0;
    for (i, &x) in boot.iter().take(sector * 11).enumerate() {
        if matches!(i, 106 | 107 | 112) {
            continue;
        }
        sum = sum.rotate_right(1).wrapping_add(u32::from(x));
    }
    let stored = boot.get(sector * 11..).unwrap_or_default();
    if stored.chunks_exact(4).any(|c| le32(c, 0) != sum) {
        return Ok(None);
    }
    // Root directory label search, following the FAT chain.
    let cluster_size = 1u64 << (bps_shift + spc_shift);
    let heap = u64::from(le32(&b, 88)) << bps_shift;
    let fat = u64::from(le32(&b, 80)) << bps_shift;
    let to_off = |c: u32| heap + (u64::from(c).saturating_sub(2) << (bps_shift + spc_shift));
    let mut cluster = le32(&b, 96);
    let mut off = to_off(cluster);
    let mut lbl = None;
    for _ in 0..EXFAT_LABEL_SEARCH {
        let Some(e) = read(dev, off, 32)? else { break };
        match e.first() {
            Some(0) | None => break,
            Some(0x83) => {
                let n = (usize::from(e.get(1).copied().unwrap_or(0)) * 2).min(22);
                lbl = utf16_label(bytes_at(&e, 2, n), false);
                break;
            }
            _ => {}
        }
        off += 32;
        if off % cluster_size == 0 {
            let Some(next) = read(dev, fat + u64::from(cluster) * 4, 4)? else {
                break;
            };
            cluster = le32(&next, 0);
            if !(2..=0x0fff_fff6).contains(&cluster) {
                break;
            }
            off = to_off(cluster);
        }
    }
    let s = bytes_at(&b, 100, 4);
    let uuid = (s.len() == 4 && s.iter().any(|&x| x != 0))
        .then(|| format!("{:02X}{:02X}-{:02X}{:02X}", s[3], s[2], s[1], s[0]));
    Ok(found(FsKind::Exfat, uuid, lbl))
}

// ------------------------------------------------------------------ FAT

const FAT12_MAX: u32 = 0xFF4;
const FAT16_MAX: u32 = 0xFFF4;
const FAT32_MAX: u32 = 0x0FFF_FFF6;
const NO_NAME: &[u8] = b"NO NAME    ";

/// FAT12/16/32 (`vfat.c`): one of blkid's FAT magics, then its BPB checks; the
/// FAT type is blkid's VERSION (by cluster count for FAT12/16). The label is the
/// root directory's volume-label entry, else the BPB's, unless `NO NAME`.
fn fat(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(b) = read(dev, 0, 512)? else {
        return Ok(None);
    };
    let strong = b.get(0x52..0x57) == Some(b"MSWIN")
        || b.get(0x52..0x5a) == Some(b"FAT32   ")
        || b.get(0x36..0x3b) == Some(b"MSDOS")
        || [&b"FAT16   "[..], b"FAT12   ", b"FAT     "]
            .iter()
            .any(|m| b.get(0x36..0x3e) == Some(m));
    let weak = matches!(b.first(), Some(0xEB | 0xE9)) || le16(&b, 0x1fe) == 0xAA55;
    if !strong {
        if !weak || le16(&b, 0x1fe) != 0xAA55 {
            return Ok(None);
        }
        let m = b.get(0x36..0x3e).unwrap_or_default();
        if m == b"JFS     " || m == b"HPFS    " {
            return Ok(None);
        }
    }
    let fats = u32::from(b.get(0x10).copied().unwrap_or(0));
    let reserved = u32::from(le16(&b, 0x0e));
    let media = b.get(0x15).copied().unwrap_or(0);
    let spc = u32::from(b.get(0x0d).copied().unwrap_or(0));
    let sector_size = u32::from(le16(&b, 0x0b));
    if fats == 0
        || reserved == 0
        || !(media >= 0xf8 || media == 0xf0)
        || !spc.is_power_of_two()
        || !sector_size.is_power_of_two()
        || !(512..=4096).contains(&sector_size)
    {
        return Ok(None);
    }
    let dir_entries = u32::from(le16(&b, 0x11));
    let mut sect_count = u32::from(le16(&b, 0x13));
    if sect_count == 0 {
        sect_count = le32(&b, 0x20);
    }
    let fat16_length = u32::from(le16(&b, 0x16));
    let fat32_length = le32(&b, 0x24);
    let fat_length = if fat16_length == 0 {
        fat32_length
    } else {
        fat16_length
    };
    let fat_size = u64::from(fat_length) * u64::from(fats);
    let dir_size = (u64::from(dir_entries) * 32).div_ceil(u64::from(sector_size));
    let Some(data) = u64::from(sect_count).checked_sub(u64::from(reserved) + fat_size + dir_size)
    else {
        return Ok(None);
    };
    let clusters = data / u64::from(spc);
    let max = if fat16_length == 0 && fat32_length != 0 {
        FAT32_MAX
    } else if clusters > u64::from(FAT12_MAX) {
        FAT16_MAX
    } else {
        FAT12_MAX
    };
    if clusters > u64::from(max) {
        return Ok(None);
    }
    let clusters = clusters as u32;
    let ss = u64::from(sector_size);
    let (kind, root_label, bpb_label, serial) = if fat16_length != 0 {
        let root = (u64::from(reserved) + fat_size) * ss;
        let root_label = fat_root_label(dev, root, dir_entries as usize)?;
        let kind = if clusters < FAT12_MAX {
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
    } else if fat32_length != 0 {
        let cluster_bytes = u64::from(spc) * ss;
        let data_start = u64::from(reserved) + fat_size;
        let entries = u64::from(fat32_length) * ss / 4;
        let mut next = le32(&b, 0x2c);
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
        let fsinfo = u64::from(le16(&b, 0x30));
        if fsinfo != 0 {
            let Some(fi) = read(dev, fsinfo * ss, 512)? else {
                return Ok(None);
            };
            let s1 = fi.get(..4).unwrap_or_default();
            let s2 = fi.get(484..488).unwrap_or_default();
            if !(s1 == b"RRaA" || s1 == b"RRdA" || s1 == [0; 4]) || !(s2 == b"rrAa" || s2 == [0; 4])
            {
                return Ok(None);
            }
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

// ------------------------------------------------------------------ swap

/// Offsets of the swap signature: page size − 10 for 4 KiB … 64 KiB pages.
const SWAP_MAGIC_AT: [u64; 5] = [0xff6, 0x1ff6, 0x3ff6, 0x7ff6, 0xfff6];
const TOI_MAGIC: &[u8] = b"\xed\xc3\x02\xe9\x98\x56\xe5\x0c";

/// Linux swap (`swap.c`): `SWAP-SPACE`/`SWAPSPACE2` at the end of the first page,
/// and hibernation images (`S1SUSPEND`, `S2SUSPEND`, `ULSUSPEND`, `LINHIB0001`,
/// TuxOnIce), all reported as swap.
fn swap(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    if dev.size() < 10 * 4096 {
        return Ok(None);
    }
    let Some(head) = read(dev, 0, 8)? else {
        return Ok(None);
    };
    let toi = head == TOI_MAGIC;
    for at in SWAP_MAGIC_AT {
        let Some(m) = read(dev, at, 10)? else {
            break;
        };
        if m == b"SWAP-SPACE" && !toi {
            return Ok(found(FsKind::Swap, None, None));
        }
        if m == b"SWAPSPACE2" && !toi {
            return swap_info(dev, true);
        }
        if m.get(..9) == Some(b"S1SUSPEND")
            || m.get(..9) == Some(b"S2SUSPEND")
            || m.get(..9) == Some(b"ULSUSPEND")
            || m == b"LINHIB0001"
        {
            return swap_info(dev, false);
        }
    }
    if toi {
        return swap_info(dev, false);
    }
    Ok(None)
}

/// The v1 swap header at 1024 (`swap_set_info`).
fn swap_info(dev: &dyn ReadAt, check_version: bool) -> Result<Option<FsProbe>> {
    let Some(h) = read(dev, 1024, 512)? else {
        return Ok(None);
    };
    if check_version {
        let v = le32(&h, 0);
        if (v != 1 && v.swap_bytes() != 1) || le32(&h, 4) == 0 {
            return Ok(None);
        }
    }
    let (mut uuid, mut lbl) = (None, None);
    // padding[32] and padding[33]: "is there any garbage down there?"
    if le32(&h, 44 + 128) == 0 && le32(&h, 44 + 132) == 0 {
        if h.get(28) != Some(&0) {
            lbl = label(bytes_at(&h, 28, 16));
        }
        uuid = dce_uuid(bytes_at(&h, 12, 16));
    }
    Ok(found(FsKind::Swap, uuid, lbl))
}

// ------------------------------------------------------------------ ISO 9660

/// ISO 9660 (`iso9660.c`): `CD001` at 0x8001 (or High Sierra's `CDROM` at 0x8009).
/// The UUID is the modification (else creation) date as blkid formats it; the label
/// the Joliet volume id when it differs from the primary one, else the primary.
fn iso9660(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    let Some(pvd) = read(dev, 0x8000, 2048)? else {
        return Ok(None);
    };
    if pvd.get(9..14) == Some(b"CDROM") {
        return Ok(found(FsKind::Iso9660, None, label(bytes_at(&pvd, 48, 32))));
    }
    if pvd.get(1..6) != Some(b"CD001") {
        return Ok(None);
    }
    let pvd_label = bytes_at(&pvd, 40, 32);
    let uuid =
        iso_date_uuid(bytes_at(&pvd, 830, 17)).or_else(|| iso_date_uuid(bytes_at(&pvd, 813, 17)));
    for i in 1..=16u64 {
        let Some(vd) = read(dev, 0x8000 + i * 2048, 2048)? else {
            break;
        };
        match vd.first() {
            Some(0xff) | None => break,
            Some(2) => {}
            _ => continue,
        }
        let esc = bytes_at(&vd, 88, 3);
        if esc == b"%/@" || esc == b"%/C" || esc == b"%/E" {
            let joliet = bytes_at(&vd, 40, 32);
            let same = joliet
                .chunks_exact(2)
                .zip(pvd_label)
                .all(|(u, &a)| u[0] == 0 && u[1] == a);
            if same {
                break;
            }
            return Ok(found(FsKind::Iso9660, uuid, utf16_label(joliet, true)));
        }
    }
    Ok(found(FsKind::Iso9660, uuid, label(pvd_label)))
}

/// `YYYY-MM-DD-HH-MM-SS-cc` from a 17-byte ISO date; nothing when unset.
fn iso_date_uuid(d: &[u8]) -> Option<String> {
    let digits = d.get(..16)?;
    if digits.iter().all(|&c| c == b'0') && d.get(16) == Some(&0) {
        return None;
    }
    if digits.iter().all(|&c| c == 0) {
        return None;
    }
    let s: String = digits.iter().map(|&c| c as char).collect();
    Some(format!(
        "{}-{}-{}-{}-{}-{}-{}",
        s.get(0..4)?,
        s.get(4..6)?,
        s.get(6..8)?,
        s.get(8..10)?,
        s.get(10..12)?,
        s.get(12..14)?,
        s.get(14..16)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_generations_follow_blkid() {
        // mke2fs defaults: ext2 (ext_attr, resize_inode, dir_index, filetype,
        // sparse_super, large_file), ext3 adds has_journal, ext4 adds extents …
        assert_eq!(ext_kind(0x38, 0x2, 0x3), Some(FsKind::Ext2));
        assert_eq!(ext_kind(0x3c, 0x2, 0x3), Some(FsKind::Ext3));
        assert_eq!(ext_kind(0x3c, 0x2 | 0x40, 0x3), Some(FsKind::Ext4));
        assert_eq!(ext_kind(0x3c, 0x2 | 0x80, 0x3), Some(FsKind::Ext4));
        assert_eq!(ext_kind(0x3c, 0x2 | 0x200, 0x3), Some(FsKind::Ext4));
        // No journal but ext4 features (e.g. mkfs.ext4 -O ^has_journal).
        assert_eq!(ext_kind(0x38, 0x2 | 0x40, 0x3), Some(FsKind::Ext4));
        // huge_file (ro_compat) alone is enough for ext4.
        assert_eq!(ext_kind(0x3c, 0x2, 0x3 | 0x8), Some(FsKind::Ext4));
        // An external journal device.
        assert_eq!(ext_kind(0, 0x8, 0), None);
    }

    #[test]
    fn labels_and_uuids_as_blkid_prints_them() {
        assert_eq!(label(b"abc  \0zz"), Some("abc".into()));
        assert_eq!(label(b"   "), None);
        assert_eq!(
            dce_uuid(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8]),
            Some("12345678-9abc-def0-0102-030405060708".into())
        );
        assert_eq!(dce_uuid(&[0; 16]), None);
        assert_eq!(
            iso_date_uuid(b"2024010212345678\0"),
            Some("2024-01-02-12-34-56-78".into())
        );
        assert_eq!(iso_date_uuid(b"0000000000000000\0"), None);
        assert_eq!(utf16_label(b"a\0b\0\0\0c\0", false), Some("ab".into()));
    }

    #[test]
    fn garbage_is_unknown() {
        let dev = imgport_disk::MemSource::new(vec![0xA5; 1 << 20]);
        assert_eq!(probe(&dev).unwrap().kind, FsKind::Unknown);
        let dev = imgport_disk::MemSource::new(vec![]);
        assert_eq!(probe(&dev).unwrap().kind, FsKind::Unknown);
    }
}
