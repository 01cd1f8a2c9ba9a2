//! NTFS by boot sector and MFT (`ntfs.c`): the BPB checks, the $Volume record's
//! $VOLUME_NAME label and the 64-bit serial.

use super::super::{FsKind, FsProbe};
use super::{found, read, utf16_label};
use crate::Result;
use imgport_disk::bytes::short::{le16, le32, le64};
use imgport_disk::ReadAt;

/// NTFS (`ntfs.c`): OEM id `NTFS    `, a BPB whose FAT-only fields are zero, an MFT
/// inside the volume whose records 0 and 3 start `FILE`; the label is $Volume's
/// $VOLUME_NAME, the UUID the 64-bit serial in upper-case hex.
pub(super) fn ntfs(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
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
