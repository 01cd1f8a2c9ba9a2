//! Linux filesystems by superblock: XFS (`xfs.c`), ext2/3/4 (`ext.c`, with blkid's
//! ext generation rules) and btrfs (`btrfs.c`).

use super::super::{FsKind, FsProbe};
use super::{bytes_at, dce_uuid, found, label, read};
use crate::Result;
use imgport_disk::bytes::short::{be16, be32, be64, le16, le32};
use imgport_disk::ReadAt;

/// XFS (`xfs.c`): `XFSB` at 0 and a sane geometry.
pub(super) fn xfs(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
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
fn ext_kind(compat: u32, incompat: u32, ro_compat: u32) -> Option<FsKind> {
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
pub(super) fn ext(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
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

/// btrfs (`btrfs.c`): `_BHRfS_M` in the superblock at 64 KiB.
pub(super) fn btrfs(dev: &dyn ReadAt) -> Result<Option<FsProbe>> {
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
}
