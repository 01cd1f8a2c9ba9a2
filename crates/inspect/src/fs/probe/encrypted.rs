//! Encrypted volumes: LUKS1/LUKS2 (`luks.c`) and BitLocker (`bitlocker.c`), identified
//! as libblkid does so that the inspector can say a volume is encrypted rather than unknown.

use super::super::{FsKind, FsProbe};
use super::{bytes_at, found, label, read};
use crate::Result;
use imgport_disk::bytes::short::{be16, be64, le32, le64};
use imgport_disk::ReadAt;

/// LUKS1/LUKS2 (`luks.c`): the primary header at 0, else a LUKS2 secondary header
/// (`SKUL\xba\xbe`) at one of its fixed offsets.
pub(super) fn luks(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
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
    // Over a remote source each offset is a round trip: ask for the primary and every
    // secondary header at once (the same blocks the reads below take; issue 16).
    let within: Vec<(u64, u64)> = std::iter::once(0)
        .chain(SECONDARY)
        .filter(|&at| at + 512 <= dev.size())
        .map(|at| (at, 512))
        .collect();
    dev.prefetch(&within)?;
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

/// BitLocker (`bitlocker.c`): Vista, Windows 7+ and To Go boot sectors; the latter
/// two must point at FVE metadata starting `-FVE-FS-`.
pub(super) fn bitlocker(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
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
