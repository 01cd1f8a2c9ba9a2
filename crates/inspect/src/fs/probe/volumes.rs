//! Volume-manager and container members: the LVM2 PV label (`lvm.c`), Linux md RAID
//! superblocks ([`crate::container::md`]) and Storage Spaces pool members
//! ([`crate::container::spaces`]).

use super::super::{FsKind, FsProbe};
use super::{bytes_at, found, read};
use crate::Result;
use imgport_disk::bytes::short::{le32, le64};
use imgport_disk::ReadAt;

/// LVM2 PV label (`lvm.c`): `LABELONE` at the start of one of sectors 0–3, naming
/// its own sector, with a valid CRC and type `LVM2 001`.
pub(super) fn lvm2(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
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

/// A Linux md RAID member (`linux_raid.c`, [`crate::container::md`]). Probed after
/// the filesystems, unlike blkid: a 0.90/1.0 mirror member starts with its filesystem,
/// which the inspector then reads (and names the RAID as what holds it).
pub(super) fn md_raid(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    Ok(crate::container::md::find(dev)?.map(|sb| FsProbe {
        kind: FsKind::LinuxRaidMember,
        uuid: None,
        label: sb.name,
    }))
}

/// A Windows Storage Spaces pool member ([`crate::container::spaces`]).
pub(super) fn storage_spaces(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
    Ok(crate::container::spaces::find(dev)?.and_then(|_| found(FsKind::StorageSpaces, None, None)))
}
