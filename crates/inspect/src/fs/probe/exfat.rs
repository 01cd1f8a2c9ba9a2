//! exFAT (`exfat.c`): boot-region checksum and the root directory's volume-label entry,
//! searched along the FAT chain within [`EXFAT_LABEL_SEARCH`] entries.

use super::super::{FsKind, FsProbe};
use super::{bytes_at, found, read, utf16_label};
use crate::Result;
use imgport_disk::bytes::short::{le16, le32};
use imgport_disk::ReadAt;

/// Largest number of root-directory entries searched for the exFAT label.
const EXFAT_LABEL_SEARCH: usize = 16 * 1024;

/// exFAT (`exfat.c`): name `EXFAT   `, jump `EB 76 90`, zero legacy BPB, boot
/// signature and the boot-region checksum; the label is the root directory's
/// volume-label entry.
pub(super) fn exfat(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
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
